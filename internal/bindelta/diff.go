package bindelta

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Diff returns the patch that turns old into new.
func Diff(old, new []byte) ([]byte, error) {
	if len(old) >= math.MaxInt32 || len(new) >= math.MaxInt32 {
		return nil, errors.New("making delta: inputs must be under 2 GiB")
	}
	sa := suffixArray(old)
	var ctrl, diff, extra streamWriter
	for _, err := range []error{ctrl.open(), diff.open(), extra.open()} {
		if err != nil {
			return nil, err
		}
	}
	var varint [3 * binary.MaxVarintLen64]byte
	var last control // the control not yet written, when pending
	pending := false
	flush := func() error {
		if !pending {
			return nil
		}
		n := binary.PutUvarint(varint[:], uint64(last.add))
		n += binary.PutUvarint(varint[n:], uint64(last.cp))
		n += binary.PutVarint(varint[n:], int64(last.seek))
		_, err := ctrl.w.Write(varint[:n])
		return err
	}
	// Apply refuses a control that writes nothing, but for the first (a
	// seek before anything is written): such a control's seek is added
	// to the one before.
	emit := func(add, cp, seek int) error {
		if add == 0 && cp == 0 && pending {
			last.seek += seek
			return nil
		}
		if err := flush(); err != nil {
			return err
		}
		last, pending = control{add, cp, seek}, true
		return nil
	}
	if err := scan(old, new, sa, emit, diff.w, extra.w); err != nil {
		return nil, fmt.Errorf("making delta: %w", err)
	}
	if err := flush(); err != nil {
		return nil, fmt.Errorf("making delta: %w", err)
	}
	var out bytes.Buffer
	out.WriteString(magic)
	sections := []*streamWriter{&ctrl, &diff, &extra}
	var hdr [32]byte
	binary.LittleEndian.PutUint64(hdr[0:], uint64(len(new)))
	for i, s := range sections {
		if err := s.w.Close(); err != nil {
			return nil, fmt.Errorf("making delta: compressing: %w", err)
		}
		binary.LittleEndian.PutUint64(hdr[8+8*i:], uint64(s.buf.Len()))
	}
	out.Write(hdr[:])
	for _, s := range sections {
		out.Write(s.buf.Bytes())
	}
	return out.Bytes(), nil
}

// control is one triple of the control stream: add bytes of diff added
// to old, then cp bytes of extra, then a seek in old.
type control struct{ add, cp, seek int }

// streamWriter is one compressed section of a patch.
type streamWriter struct {
	buf bytes.Buffer
	w   *gzip.Writer
}

func (s *streamWriter) open() error {
	w, err := gzip.NewWriterLevel(&s.buf, gzip.BestCompression)
	s.w = w
	return err
}

// scan is bsdiff's main loop: it finds, for each stretch of new, the
// stretch of old it matches best allowing mismatches, and emits each as
// (add: bytes of new minus old, copy: bytes of new alone, seek in old).
func scan(old, new []byte, sa []int32, emit func(add, cp, seek int) error, diffW, extraW *gzip.Writer) error {
	oldSize, newSize := len(old), len(new)
	var scanAt, length, pos, lastScan, lastPos, lastOffset int
	db := make([]byte, 0, 64<<10)
	for scanAt < newSize {
		oldScore := 0
		scanAt += length
		scsc := scanAt
		for ; scanAt < newSize; scanAt++ {
			length, pos = search(sa, old, new[scanAt:], 0, oldSize)
			for ; scsc < scanAt+length; scsc++ {
				if scsc+lastOffset < oldSize && old[scsc+lastOffset] == new[scsc] {
					oldScore++
				}
			}
			if (length == oldScore && length != 0) || length > oldScore+8 {
				break
			}
			if scanAt+lastOffset < oldSize && old[scanAt+lastOffset] == new[scanAt] {
				oldScore--
			}
		}
		if length == oldScore && scanAt != newSize {
			continue
		}
		// Extend the previous match forwards and this one backwards
		// while more than half the bytes agree.
		s, sf, lenf := 0, 0, 0
		for i := 0; lastScan+i < scanAt && lastPos+i < oldSize; {
			if old[lastPos+i] == new[lastScan+i] {
				s++
			}
			i++
			if s*2-i > sf*2-lenf {
				sf, lenf = s, i
			}
		}
		lenb := 0
		if scanAt < newSize {
			s, sb := 0, 0
			for i := 1; scanAt >= lastScan+i && pos >= i; i++ {
				if old[pos-i] == new[scanAt-i] {
					s++
				}
				if s*2-i > sb*2-lenb {
					sb, lenb = s, i
				}
			}
		}
		if lastScan+lenf > scanAt-lenb {
			overlap := (lastScan + lenf) - (scanAt - lenb)
			s, ss, lens := 0, 0, 0
			for i := 0; i < overlap; i++ {
				if new[lastScan+lenf-overlap+i] == old[lastPos+lenf-overlap+i] {
					s++
				}
				if new[scanAt-lenb+i] == old[pos-lenb+i] {
					s--
				}
				if s > ss {
					ss, lens = s, i+1
				}
			}
			lenf += lens - overlap
			lenb -= lens
		}
		db = db[:0]
		for i := 0; i < lenf; i++ {
			db = append(db, new[lastScan+i]-old[lastPos+i])
		}
		if _, err := diffW.Write(db); err != nil {
			return err
		}
		cp := (scanAt - lenb) - (lastScan + lenf)
		if _, err := extraW.Write(new[lastScan+lenf : lastScan+lenf+cp]); err != nil {
			return err
		}
		if err := emit(lenf, cp, (pos-lenb)-(lastPos+lenf)); err != nil {
			return err
		}
		lastScan, lastPos, lastOffset = scanAt-lenb, pos-lenb, pos-scanAt
	}
	return nil
}

// search finds the suffix of old, among sa[st..en], sharing the longest
// prefix with new, by bisection.
func search(sa []int32, old, new []byte, st, en int) (length, pos int) {
	for en-st >= 2 {
		x := st + (en-st)/2
		o := old[sa[x]:]
		if bytes.Compare(o[:min(len(o), len(new))], new[:min(len(o), len(new))]) < 0 {
			st = x
		} else {
			en = x
		}
	}
	x := matchLen(old[sa[st]:], new)
	y := matchLen(old[sa[en]:], new)
	if x > y {
		return x, int(sa[st])
	}
	return y, int(sa[en])
}

func matchLen(a, b []byte) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

// suffixArray sorts the suffixes of buf (and the empty one) with
// Larsson and Sadakane's qsufsort, as bsdiff does.
func suffixArray(buf []byte) []int32 {
	n := len(buf)
	I := make([]int32, n+1)
	V := make([]int32, n+1)
	var buckets [256]int32
	for _, c := range buf {
		buckets[c]++
	}
	for i := 1; i < 256; i++ {
		buckets[i] += buckets[i-1]
	}
	for i := 255; i > 0; i-- {
		buckets[i] = buckets[i-1]
	}
	buckets[0] = 0
	for i, c := range buf {
		buckets[c]++
		I[buckets[c]] = int32(i)
	}
	I[0] = int32(n)
	for i, c := range buf {
		V[i] = buckets[c]
	}
	V[n] = 0
	for i := 1; i < 256; i++ {
		if buckets[i] == buckets[i-1]+1 {
			I[buckets[i]] = -1
		}
	}
	I[0] = -1
	for h := int32(1); I[0] != -int32(n+1); h += h {
		length := int32(0)
		i := int32(0)
		for i < int32(n+1) {
			if I[i] < 0 {
				length -= I[i]
				i -= I[i]
				continue
			}
			if length != 0 {
				I[i-length] = -length
			}
			length = V[I[i]] + 1 - i
			split(I, V, i, length, h)
			i += length
			length = 0
		}
		if length != 0 {
			I[i-length] = -length
		}
	}
	for i := 0; i < n+1; i++ {
		I[V[i]] = int32(i)
	}
	return I
}

func split(I, V []int32, start, length, h int32) {
	if length < 16 {
		for k := start; k < start+length; {
			j := int32(1)
			x := V[I[k]+h]
			for i := int32(1); k+i < start+length; i++ {
				if v := V[I[k+i]+h]; v < x {
					x, j = v, 0
				}
				if V[I[k+i]+h] == x {
					I[k+j], I[k+i] = I[k+i], I[k+j]
					j++
				}
			}
			for i := int32(0); i < j; i++ {
				V[I[k+i]] = k + j - 1
			}
			if j == 1 {
				I[k] = -1
			}
			k += j
		}
		return
	}
	x := V[I[start+length/2]+h]
	var jj, kk int32
	for i := start; i < start+length; i++ {
		if v := V[I[i]+h]; v < x {
			jj++
		} else if v == x {
			kk++
		}
	}
	jj += start
	kk += jj
	i, j, k := start, int32(0), int32(0)
	for i < jj {
		switch v := V[I[i]+h]; {
		case v < x:
			i++
		case v == x:
			I[i], I[jj+j] = I[jj+j], I[i]
			j++
		default:
			I[i], I[kk+k] = I[kk+k], I[i]
			k++
		}
	}
	for jj+j < kk {
		if V[I[jj+j]+h] == x {
			j++
		} else {
			I[jj+j], I[kk+k] = I[kk+k], I[jj+j]
			k++
		}
	}
	if jj > start {
		split(I, V, start, jj-start, h)
	}
	for i := int32(0); i < kk-jj; i++ {
		V[I[jj+i]] = kk - 1
	}
	if jj == kk-1 {
		I[jj] = -1
	}
	if start+length > kk {
		split(I, V, kk, start+length-kk, h)
	}
}
