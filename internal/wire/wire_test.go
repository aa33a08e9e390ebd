package wire

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestCanonical(t *testing.T) {
	tests := []struct {
		name string
		in   string // JSON
		want string
	}{
		{"sorted keys", `{"b":1,"a":{"d":true,"c":null}}`, `{"a":{"c":null,"d":true},"b":1}`},
		{"whitespace dropped", "{ \"a\" : [ 1 , 2 ] }\n", `{"a":[1,2]}`},
		{"html escaped stably", `{"a":"<b>&"}`, `{"a":"\u003cb\u003e\u0026"}`},
		{"numbers kept", `{"i":10,"f":1.5}`, `{"f":1.5,"i":10}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var v map[string]any
			if err := json.Unmarshal([]byte(tc.in), &v); err != nil {
				t.Fatal(err)
			}
			got, err := Canonical(v)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("Canonical = %s, want %s", got, tc.want)
			}
			// Canonical bytes are a fixed point: decoding and encoding again changes nothing.
			var again map[string]any
			if err := json.Unmarshal(got, &again); err != nil {
				t.Fatal(err)
			}
			got2, _ := Canonical(again)
			if string(got2) != string(got) {
				t.Errorf("not a fixed point: %s then %s", got, got2)
			}
		})
	}
}

func TestHash(t *testing.T) {
	h := Hash([]byte(`{}`))
	if h != "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a" {
		t.Errorf("Hash({}) = %s", h)
	}
	if !ValidHash(h) {
		t.Error("ValidHash rejects a hash")
	}
	for _, bad := range []string{"", "abc", h[:63] + "G", h + "0", "44136FA355B3678A1146AD16F7E8649E94FB4FC21FE77E8310C060F61CAAFF8A"} {
		if ValidHash(bad) {
			t.Errorf("ValidHash(%q) = true", bad)
		}
	}
}

func testManifest() Manifest {
	return Manifest{ClusterID: "c1", Generation: 3, Bundles: []BundleRef{{
		Name: "apps-web", Source: "apps", Commit: "0123abcd",
		Objects: []string{Hash([]byte("a")), Hash([]byte("b"))},
	}}}
}

func TestSignVerify(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	otherPub, _, _ := ed25519.GenerateKey(rand.Reader)
	sm, err := SignManifest(priv, testManifest())
	if err != nil {
		t.Fatal(err)
	}
	tampered := sm
	tampered.Payload = []byte(string(sm.Payload[:len(sm.Payload)-1]) + " }")
	swapped := sm
	other := testManifest()
	other.Bundles[0].Commit = "evil"
	swapped.Content, _ = ManifestContent(other.Bundles)
	badHash := testManifest()
	badHash.Bundles[0].Objects[0] = "../../etc/passwd"
	smBadHash, _ := SignManifest(priv, badHash)

	tests := []struct {
		name    string
		key     ed25519.PublicKey
		sm      SignedManifest
		cluster string
		have    int64
		wantErr error
	}{
		{"valid", pub, sm, "c1", 2, nil},
		{"same generation again", pub, sm, "c1", 3, nil},
		{"other key", otherPub, sm, "c1", 0, ErrBadSignature},
		{"tampered payload", pub, tampered, "c1", 0, ErrBadSignature},
		{"content swapped under a valid envelope", pub, swapped, "c1", 0, ErrBadContent},
		{"other cluster", pub, sm, "c2", 0, ErrWrongCluster},
		{"older generation", pub, sm, "c1", 4, ErrOlderGeneration},
		{"malformed hash", pub, smBadHash, "c1", 0, errors.New("malformed")},
		{"short key", pub[:5], sm, "c1", 0, errors.New("key")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := VerifyManifest(tc.key, tc.sm, tc.cluster, tc.have)
			switch {
			case tc.wantErr == nil && err != nil:
				t.Fatalf("VerifyManifest: %v", err)
			case tc.wantErr == nil:
				if diff := cmp.Diff(testManifest(), m); diff != "" {
					t.Errorf("manifest (-want +got):\n%s", diff)
				}
			case err == nil:
				t.Fatalf("VerifyManifest succeeded, want %v", tc.wantErr)
			case errors.Is(tc.wantErr, ErrBadSignature) || errors.Is(tc.wantErr, ErrWrongCluster) || errors.Is(tc.wantErr, ErrOlderGeneration) || errors.Is(tc.wantErr, ErrBadContent):
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("error %v, want %v", err, tc.wantErr)
				}
			}
		})
	}
}

// TestManifestGolden pins the canonical encoding of a manifest: a change
// here breaks every deployed agent's signature checks.
func TestManifestGolden(t *testing.T) {
	content, err := ManifestContent(testManifest().Bundles)
	if err != nil {
		t.Fatal(err)
	}
	env, err := Canonical(Envelope{ClusterID: "c1", Generation: 3, Content: Hash(content)})
	if err != nil {
		t.Fatal(err)
	}
	got := append(append(env, '\n'), content...)
	path := filepath.Join("testdata", "manifest.golden.json")
	if *update {
		if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(got)+"\n"); diff != "" {
		t.Errorf("canonical manifest changed (-want +got):\n%s", diff)
	}
}

// FuzzVerifyManifest: whatever bytes arrive as a signed manifest, what
// verifies is exactly what the hub signed for this cluster: the same
// manifest and the same content bytes, never a variant of them.
func FuzzVerifyManifest(f *testing.F) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	signed := testManifest()
	sm, _ := SignManifest(priv, signed)
	body, _ := json.Marshal(sm)
	f.Add(body)
	theirs := testManifest()
	theirs.ClusterID = "c2"
	sm2, _ := SignManifest(priv, theirs)
	body, _ = json.Marshal(sm2)
	f.Add(body)
	f.Add([]byte(`{"payload":"e30=","signature":"","content":"W10="}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var in SignedManifest
		if json.Unmarshal(data, &in) != nil {
			return
		}
		m, err := VerifyManifest(pub, in, "c1", 0)
		if err != nil {
			return
		}
		if diff := cmp.Diff(signed, m); diff != "" {
			t.Fatalf("verified a manifest that was not signed (-signed +verified):\n%s", diff)
		}
		if !bytes.Equal(in.Content, sm.Content) || !bytes.Equal(in.Payload, sm.Payload) {
			t.Fatal("verified content or payload bytes other than the signed ones")
		}
	})
}

func BenchmarkCanonicalHash(b *testing.B) {
	obj := map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "x", "namespace": "y", "labels": map[string]any{"a": "b"}}, "data": map[string]any{"k": string(make([]byte, 1024))}}
	b.ReportAllocs()
	for b.Loop() {
		data, _ := Canonical(obj)
		_ = Hash(data)
	}
}

func BenchmarkVerifyManifest(b *testing.B) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	sm, _ := SignManifest(priv, testManifest())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := VerifyManifest(pub, sm, "c1", 0); err != nil {
			b.Fatal(err)
		}
	}
}
