package token

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const caHash = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestRoundTrip(t *testing.T) {
	tok, err := New("https://127.0.0.1:8443", caHash)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(tok.String())
	if err != nil {
		t.Fatalf("Parse(%q): %v", tok.String(), err)
	}
	if diff := cmp.Diff(tok, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if !SecretMatches(got.Secret, HashSecret(tok.Secret)) {
		t.Error("secret does not match its own hash")
	}
	if SecretMatches(got.Secret+"x", HashSecret(tok.Secret)) {
		t.Error("a different secret matches")
	}
}

func TestParseRejects(t *testing.T) {
	good, err := New("https://hub.example:8443", caHash)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good.String(), ".")
	with := func(i int, v string) string {
		p := append([]string(nil), parts...)
		p[i] = v
		return strings.Join(p, ".")
	}
	tests := []struct {
		name, in string
	}{
		{"empty", ""},
		{"kubeadm style", "abcdef.0123456789abcdef"},
		{"wrong prefix", with(0, "flt9")},
		{"url not base64", with(1, "***")},
		{"http url", with(1, "aHR0cDovL2h1Yg")},
		{"short hash", with(2, "abcd")},
		{"hash not hex", with(2, strings.Repeat("z", 64))},
		{"short id", with(3, "abc")},
		{"upper secret", with(4, strings.Repeat("A", 32))},
		{"extra part", good.String() + ".x"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.in)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse(%q) = %v, want ErrMalformed", tc.in, err)
			}
			if strings.Contains(err.Error(), good.Secret) {
				t.Error("error message leaks the secret")
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	tok, _ := New("https://127.0.0.1:1", caHash)
	f.Add(tok.String())
	f.Add("flt1....")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := Parse(s)
		if err != nil {
			return
		}
		again, err := Parse(got.String())
		if err != nil || again != got {
			t.Fatalf("re-parse of %q: %v %+v", got.String(), err, again)
		}
	})
}
