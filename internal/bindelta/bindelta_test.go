package bindelta

import (
	"bytes"
	"errors"
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
	return patch
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
