package gitsource

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzCheckout checks out trees made from fuzzed tree specs (seeded with
// the hostile corpus). Invariant: the checkout is refused with a
// *TreeError and nothing on disk changed, or everything written is
// inside the checkout, no symlink in it leads outside, and a walk through
// its symlinks meets no more entries than the limit (checkoutSpec fails
// the test otherwise).
func FuzzCheckout(f *testing.F) {
	specs, err := filepath.Glob(filepath.Join("testdata", "hostile", "*.tree"))
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range specs {
		text, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(text))
	}
	f.Fuzz(func(t *testing.T, text string) {
		if _, err := checkoutSpec(t, text); err != nil {
			t.Skip(err) // not a spec: nothing was checked out
		}
	})
}

// FuzzParseTree decodes fuzzed tree objects. Invariant: entries that
// decode encode back (canonical modes) to bytes that decode to the same
// entries, never more than the maximum asked for; a too-long name is
// refused, not cut.
func FuzzParseTree(f *testing.F) {
	f.Add([]byte("100644 a\x00" + string(make([]byte, 20)) + "40000 b\x00" + string(make([]byte, 20))))
	f.Add([]byte("120000 e\x0012345678901234567890040000 e\x0012345678901234567890"))
	f.Add([]byte("100644 \x00short"))
	f.Add([]byte("abc"))
	f.Fuzz(func(t *testing.T, data []byte) {
		const max = 50
		entries, err := parseTree(bufio.NewReader(bytes.NewReader(data)), max)
		if err != nil {
			var te *TreeError
			if !errors.As(err, &te) && !errors.Is(err, errTooManyEntries) {
				t.Fatalf("error %v is neither a refusal nor the entry limit", err)
			}
			return
		}
		if len(entries) > max {
			t.Fatalf("%d entries, more than %d", len(entries), max)
		}
		var again bytes.Buffer
		for _, e := range entries {
			if len(e.name) > maxNameBytes {
				t.Fatalf("name of %d bytes accepted", len(e.name))
			}
			fmt.Fprintf(&again, "%o %s\x00", uint32(e.mode), e.name)
			again.Write(e.hash[:])
		}
		back, err := parseTree(bufio.NewReader(&again), max)
		if err != nil {
			t.Fatalf("re-encoded entries do not decode: %v", err)
		}
		if diff := cmp.Diff(entries, back, cmp.AllowUnexported(rawEntry{})); diff != "" {
			t.Fatalf("round trip (-first +again):\n%s", diff)
		}
	})
}
