package bindelta

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
)

func roundTrip(t testing.TB, old, new []byte) []byte {
	t.Helper()
	patch, err := Diff(old, new)
	if err != nil {
		t.Fatalf("Diff: %v", err)
	}
	var out bytes.Buffer
	n, err := Apply(&out, bytes.NewReader(old), int64(len(old)), bytes.NewReader(patch), int64(len(patch)), int64(len(new)))
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if n != int64(len(new)) || !bytes.Equal(out.Bytes(), new) {
		t.Fatalf("Apply made %d bytes that differ from the %d wanted", n, len(new))
	}
	for i, c := range controlsOf(t, patch) {
		if i > 0 && c.add == 0 && c.cp == 0 {
			t.Fatalf("control %d of the patch writes nothing: %+v", i, c)
		}
	}
	return patch
}

// controlsOf decodes the control stream of a patch.
func controlsOf(t testing.TB, patch []byte) []control {
	t.Helper()
	h, err := ReadHeader(bytes.NewReader(patch), int64(len(patch)))
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(patch[headerSize : headerSize+int(h.sections[0])]))
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(zr)
	var out []control
	for {
		add, err := binary.ReadUvarint(br)
		if err == io.EOF {
			return out
		}
		cp, err2 := binary.ReadUvarint(br)
		seek, err3 := binary.ReadVarint(br)
		if err := errors.Join(err, err2, err3); err != nil {
			t.Fatal(err)
		}
		out = append(out, control{int(add), int(cp), int(seek)})
	}
}

// makePatch builds a patch from its streams as they are, for the
// patches Diff never makes.
func makePatch(t testing.TB, newSize int, ctrl []control, diff, extra []byte) []byte {
	t.Helper()
	var c []byte
	for _, x := range ctrl {
		c = binary.AppendUvarint(c, uint64(x.add))
		c = binary.AppendUvarint(c, uint64(x.cp))
		c = binary.AppendVarint(c, int64(x.seek))
	}
	var sections [3]bytes.Buffer
	for i, raw := range [][]byte{c, diff, extra} {
		zw := gzip.NewWriter(&sections[i])
		if _, err := zw.Write(raw); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	out := []byte(magic)
	out = binary.LittleEndian.AppendUint64(out, uint64(newSize))
	for i := range sections {
		out = binary.LittleEndian.AppendUint64(out, uint64(sections[i].Len()))
	}
	for i := range sections {
		out = append(out, sections[i].Bytes()...)
	}
	return out
}

// TestApplyControlsThatWriteNothing: the first control may only seek (a
// new program that begins with a stretch from the middle of the old one);
// any later control must write: a stream of ones that do not would keep
// the agent's CPU busy long after the download.
func TestApplyControlsThatWriteNothing(t *testing.T) {
	old := []byte("0123456789")
	seekFirst := makePatch(t, 3, []control{{0, 0, 5}, {3, 0, 0}}, []byte{0, 0, 0}, nil)
	var out bytes.Buffer
	if _, err := Apply(&out, bytes.NewReader(old), int64(len(old)), bytes.NewReader(seekFirst), int64(len(seekFirst)), 100); err != nil || out.String() != "567" {
		t.Errorf("a first control that only seeks: Apply made %q, %v; want \"567\"", out.String(), err)
	}

	spin := make([]control, 10_000)
	spin = append(spin, control{0, 1, 0})
	for _, tc := range []struct {
		name  string
		patch []byte
	}{
		{"many", makePatch(t, 1, spin, nil, []byte("x"))},
		{"one, after a write", makePatch(t, 2, []control{{0, 1, 0}, {0, 0, 3}, {0, 1, 0}}, nil, []byte("xy"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			_, err := Apply(&out, bytes.NewReader(old), int64(len(old)), bytes.NewReader(tc.patch), int64(len(tc.patch)), 100)
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("Apply = %v, want ErrCorrupt", err)
			}
		})
	}
}

// program makes n bytes that look like code: repeated instruction-like
// words with addresses in them.
func program(r *rand.Rand, n int) []byte {
	b := make([]byte, 0, n)
	for len(b) < n {
		op := byte(r.IntN(16))
		addr := r.Uint32N(1 << 20)
		b = append(b, 0x48, 0x8b, op, byte(addr), byte(addr>>8), byte(addr>>16), 0)
	}
	return b[:n]
}

func TestRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	base := program(r, 200_000)
	shifted := append(append(append([]byte{}, base[:50_000]...), program(r, 300)...), base[50_000:]...)
	edited := bytes.Clone(base)
	for i := 0; i < len(edited); i += 997 {
		edited[i]++ // addresses that moved by one
	}
	tests := []struct {
		name     string
		old, new []byte
		maxRatio float64 // patch size over new size, at most
	}{
		{"empty to empty", nil, nil, 0},
		{"empty old", nil, []byte("hello, world"), 0},
		{"empty new", base[:1000], nil, 0},
		{"identical", base, base, 0.01},
		{"insertion", base, shifted, 0.05},
		{"scattered edits", base, edited, 0.05},
		{"unrelated", program(r, 5000), program(r, 5000), 0},
		{"zeros", make([]byte, 100_000), append(make([]byte, 50_000), 1), 0.01},
		{"begins in the middle of old", base, base[120_000:], 0.01},
		{"the halves swapped", base, append(bytes.Clone(base[100_000:]), base[:100_000]...), 0.01},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := roundTrip(t, tc.old, tc.new)
			if tc.maxRatio > 0 && float64(len(p)) > tc.maxRatio*float64(len(tc.new)) {
				t.Errorf("patch of %d bytes for %d: want at most %.0f%%", len(p), len(tc.new), tc.maxRatio*100)
			}
		})
	}
}

func TestApplyRefuses(t *testing.T) {
	old := []byte("the old program, the old program")
	new := []byte("the new program, the old program!")
	patch, err := Diff(old, new)
	if err != nil {
		t.Fatal(err)
	}
	truncated := patch[:len(patch)-3]
	badMagic := append([]byte("XXXXXXXX"), patch[8:]...)
	trailing := append(bytes.Clone(patch), 0)
	tests := []struct {
		name   string
		patch  []byte
		old    []byte
		maxNew int64
	}{
		{"truncated", truncated, old, 100},
		{"bad magic", badMagic, old, 100},
		{"trailing bytes", trailing, old, 100},
		{"too large", patch, old, int64(len(new)) - 1},
		{"old too short", patch, old[:5], 100},
		{"empty", nil, old, 100},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			_, err := Apply(&out, bytes.NewReader(tc.old), int64(len(tc.old)), bytes.NewReader(tc.patch), int64(len(tc.patch)), tc.maxNew)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Apply = %v, want ErrCorrupt", err)
			}
		})
	}
}

func TestSuffixArraySorted(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, buf := range [][]byte{nil, []byte("banana"), make([]byte, 100), program(r, 3000)} {
		sa := suffixArray(buf)
		for i := 1; i < len(sa); i++ {
			if bytes.Compare(buf[sa[i-1]:], buf[sa[i]:]) >= 0 {
				t.Fatalf("suffixes %d and %d out of order", sa[i-1], sa[i])
			}
		}
	}
}

// FuzzApply feeds Apply arbitrary patches: it must return an error or
// bytes, never panic, and never write more than it may.
func FuzzApply(f *testing.F) {
	old := []byte("the old program, the old program, the old program")
	for _, n := range [][]byte{[]byte("the new program"), old, nil} {
		p, err := Diff(old, n)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, patch []byte) {
		var out bytes.Buffer
		const maxNew = 1 << 16
		n, err := Apply(&out, bytes.NewReader(old), int64(len(old)), bytes.NewReader(patch), int64(len(patch)), maxNew)
		if n > maxNew || int64(out.Len()) != n {
			t.Fatalf("wrote %d (said %d), bound %d", out.Len(), n, maxNew)
		}
		_ = err
	})
}

func BenchmarkDiff(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 6))
	old := program(r, 4<<20)
	new := bytes.Clone(old)
	for i := 0; i < len(new); i += 4093 {
		new[i]++
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Diff(old, new); err != nil {
			b.Fatal(err)
		}
	}
}
