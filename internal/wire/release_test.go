package wire

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestReleaseSignVerify(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(nil)
	otherPub, _, _ := ed25519.GenerateKey(nil)
	good := AgentRelease{Version: "v1.5.0", Arch: "arm64", Digest: Hash([]byte("build")), Size: 5}
	sr, err := SignRelease(key, good)
	if err != nil {
		t.Fatal(err)
	}
	tampered := sr
	tampered.Payload = []byte(strings.Replace(string(sr.Payload), "arm64", "amd64", 1))
	tests := []struct {
		name    string
		pub     ed25519.PublicKey
		sr      SignedRelease
		arch    string
		wantErr error
	}{
		{"good", pub, sr, "arm64", nil},
		{"other key", otherPub, sr, "arm64", ErrReleaseSignature},
		{"tampered payload", pub, tampered, "amd64", ErrReleaseSignature},
		{"other arch", pub, sr, "amd64", ErrReleaseArch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := VerifyRelease(tc.pub, tc.sr, tc.arch)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("VerifyRelease = %v, want %v", err, tc.wantErr)
			}
			if err == nil && got != good {
				t.Errorf("release = %+v, want %+v", got, good)
			}
		})
	}
	// A manifest signature never verifies as a release signature.
	if ed25519.Verify(pub, SigningInput(sr.Payload), sr.Signature) {
		t.Error("a release signature verifies as a manifest signature")
	}
}

func TestReleaseCheck(t *testing.T) {
	d := Hash([]byte("x"))
	tests := []struct {
		name string
		r    AgentRelease
		ok   bool
	}{
		{"good", AgentRelease{"v1.2.3-rc.1+build", "amd64", d, 1}, true},
		{"git describe", AgentRelease{"v0.4.0-12-gabc1234-dirty", "arm64", d, 1}, true},
		{"empty version", AgentRelease{"", "amd64", d, 1}, false},
		{"space", AgentRelease{"v 1", "amd64", d, 1}, false},
		{"slash", AgentRelease{"v1/../x", "amd64", d, 1}, false},
		{"long", AgentRelease{strings.Repeat("v", 65), "amd64", d, 1}, false},
		{"arch", AgentRelease{"v1", "386", d, 1}, false},
		{"digest", AgentRelease{"v1", "amd64", "abc", 1}, false},
		{"empty", AgentRelease{"v1", "amd64", d, 0}, false},
		{"huge", AgentRelease{"v1", "amd64", d, MaxReleaseSize + 1}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.r.Check(); (err == nil) != tc.ok {
				t.Errorf("Check = %v, want ok %t", err, tc.ok)
			}
		})
	}
}

// FuzzDecodeRelease feeds release metadata arbitrary bytes: it is
// refused or decodes to a release whose canonical encoding (what the hub
// signs) decodes back to the same release; it never panics.
func FuzzDecodeRelease(f *testing.F) {
	good, _ := json.Marshal(AgentRelease{Version: "v1", Arch: "arm64", Digest: Hash(nil), Size: 1})
	f.Add(good)
	f.Add([]byte(`{"version":"v1","arch":"arm64","digest":"zz","size":-1}`))
	f.Add([]byte(`{"Version":"v1","ARCH":"arm64","digest":"` + Hash(nil) + `","size":1,"size":2,"extra":[]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		r, err := DecodeRelease(SignedRelease{Payload: payload})
		if err != nil {
			return
		}
		canonical, err := Canonical(r)
		if err != nil {
			t.Fatalf("encoding a decoded release: %v", err)
		}
		back, err := DecodeRelease(SignedRelease{Payload: canonical})
		if err != nil {
			t.Fatalf("the canonical encoding of %+v does not decode: %v", r, err)
		}
		if back != r {
			t.Fatalf("round trip = %+v, want %+v", back, r)
		}
	})
}
