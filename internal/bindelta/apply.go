package bindelta

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// magic opens every patch.
const magic = "FLTDLT01"

const headerSize = len(magic) + 32

// ErrCorrupt is returned for a patch that does not parse or does not fit
// the program it is applied to.
var ErrCorrupt = errors.New("delta is corrupt")

// Header is what a patch says of itself.
type Header struct {
	// NewSize is the size of the program the patch makes.
	NewSize int64
	// sections are the compressed lengths of ctrl, diff and extra.
	sections [3]int64
}

// ReadHeader reads and checks the header of a patch of patchSize bytes.
func ReadHeader(patch io.ReaderAt, patchSize int64) (Header, error) {
	var b [headerSize]byte
	if patchSize < int64(headerSize) {
		return Header{}, fmt.Errorf("%w: %d bytes is shorter than its header", ErrCorrupt, patchSize)
	}
	if _, err := patch.ReadAt(b[:], 0); err != nil {
		return Header{}, fmt.Errorf("reading delta header: %w", err)
	}
	if string(b[:len(magic)]) != magic {
		return Header{}, fmt.Errorf("%w: not a delta (bad magic)", ErrCorrupt)
	}
	h := Header{NewSize: int64(binary.LittleEndian.Uint64(b[8:]))}
	total := uint64(headerSize)
	for i := range h.sections {
		n := binary.LittleEndian.Uint64(b[16+8*i:])
		total += n
		if n > uint64(patchSize) || total > uint64(patchSize) {
			return Header{}, fmt.Errorf("%w: sections overrun its %d bytes", ErrCorrupt, patchSize)
		}
		h.sections[i] = int64(n)
	}
	if total != uint64(patchSize) {
		return Header{}, fmt.Errorf("%w: %d bytes after its sections", ErrCorrupt, uint64(patchSize)-total)
	}
	if h.NewSize < 0 || h.NewSize > 1<<40 {
		return Header{}, fmt.Errorf("%w: new size %d", ErrCorrupt, h.NewSize)
	}
	return h, nil
}

// Apply writes to out the program the patch makes from old (oldSize
// bytes), refusing a patch that would make more than maxNew bytes. It
// returns the number of bytes written. The caller checks the digest of
// what was written: a patch that parses may still be for another program.
func Apply(out io.Writer, old io.ReaderAt, oldSize int64, patch io.ReaderAt, patchSize, maxNew int64) (int64, error) {
	h, err := ReadHeader(patch, patchSize)
	if err != nil {
		return 0, err
	}
	if h.NewSize > maxNew {
		return 0, fmt.Errorf("%w: it makes %d bytes, more than the %d allowed", ErrCorrupt, h.NewSize, maxNew)
	}
	off := int64(headerSize)
	var streams [3]*bufio.Reader
	for i, n := range h.sections {
		zr, err := gzip.NewReader(io.NewSectionReader(patch, off, n))
		if err != nil {
			return 0, fmt.Errorf("%w: section %d: %v", ErrCorrupt, i, err)
		}
		defer zr.Close()
		streams[i] = bufio.NewReaderSize(zr, 32<<10)
		off += n
	}
	ctrl, diff, extra := streams[0], streams[1], streams[2]
	a := applier{out: out, old: old, oldSize: oldSize, left: h.NewSize, buf: make([]byte, 32<<10), obuf: make([]byte, 32<<10)}
	var oldPos int64
	for first := true; a.left > 0; first = false {
		add, err1 := binary.ReadUvarint(ctrl)
		cp, err2 := binary.ReadUvarint(ctrl)
		seek, err3 := binary.ReadVarint(ctrl)
		if err := errors.Join(err1, err2, err3); err != nil {
			return a.written, fmt.Errorf("%w: control stream: %v", ErrCorrupt, err)
		}
		if add == 0 && cp == 0 && !first {
			// Only the first control may merely seek: a stream of
			// controls that write nothing would keep the CPU busy
			// for as long as its gzip expands, bounded by nothing.
			return a.written, fmt.Errorf("%w: a control writes nothing", ErrCorrupt)
		}
		if add > uint64(a.left) || cp > uint64(a.left)-add {
			return a.written, fmt.Errorf("%w: a control makes more than the %d bytes announced", ErrCorrupt, h.NewSize)
		}
		if err := a.add(diff, oldPos, int64(add)); err != nil {
			return a.written, err
		}
		if err := a.copy(extra, int64(cp)); err != nil {
			return a.written, err
		}
		oldPos += int64(add) + seek
		if oldPos < 0 || oldPos > oldSize {
			return a.written, fmt.Errorf("%w: it seeks to %d, outside the %d bytes of the old program", ErrCorrupt, oldPos, oldSize)
		}
	}
	return a.written, nil
}

// applier writes the new program.
type applier struct {
	out       io.Writer
	old       io.ReaderAt
	oldSize   int64
	left      int64 // bytes still to write
	written   int64
	buf, obuf []byte
}

// add writes n bytes of diff added to old from pos.
func (a *applier) add(diff io.Reader, pos, n int64) error {
	if pos+n > a.oldSize {
		return fmt.Errorf("%w: it reads past the %d bytes of the old program", ErrCorrupt, a.oldSize)
	}
	for n > 0 {
		c := min(n, int64(len(a.buf)))
		if _, err := io.ReadFull(diff, a.buf[:c]); err != nil {
			return fmt.Errorf("%w: diff stream: %v", ErrCorrupt, err)
		}
		if _, err := a.old.ReadAt(a.obuf[:c], pos); err != nil {
			return fmt.Errorf("reading the old program: %w", err)
		}
		for i := range c {
			a.buf[i] += a.obuf[i]
		}
		if err := a.write(a.buf[:c]); err != nil {
			return err
		}
		pos += c
		n -= c
	}
	return nil
}

// copy writes n bytes of extra as they are.
func (a *applier) copy(extra io.Reader, n int64) error {
	for n > 0 {
		c := min(n, int64(len(a.buf)))
		if _, err := io.ReadFull(extra, a.buf[:c]); err != nil {
			return fmt.Errorf("%w: extra stream: %v", ErrCorrupt, err)
		}
		if err := a.write(a.buf[:c]); err != nil {
			return err
		}
		n -= c
	}
	return nil
}

func (a *applier) write(b []byte) error {
	if _, err := a.out.Write(b); err != nil {
		return fmt.Errorf("writing the new program: %w", err)
	}
	a.written += int64(len(b))
	a.left -= int64(len(b))
	return nil
}
