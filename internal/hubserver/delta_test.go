package hubserver

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"flotilla.io/flotilla/internal/hubclient"
	"flotilla.io/flotilla/internal/testenv/gitserver"
	"flotilla.io/flotilla/internal/wire"
)

func configMap(name, value string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\ndata:\n  a: %q\n  b: unchanged text that a patch leaves alone\n", name, value)
}

// TestDeltaAndShippedObjects: an agent that names the content it holds
// gets the next manifest as a delta and the one changed object as a merge
// patch, both of which rebuild and verify; anything else gets it whole.
func TestDeltaAndShippedObjects(t *testing.T) {
	h := startHub(t)
	ctx := context.Background()
	root := t.TempDir()
	bare := filepath.Join(root, "fleet.git")
	gitserver.InitBare(t, bare)
	w := gitserver.NewWork(t, bare)
	for i := range 3 {
		w.WriteFile(t, fmt.Sprintf("app/cm%d.yaml", i), configMap(fmt.Sprintf("cm%d", i), "v1"))
	}
	w.CommitAndPush(t, "three objects")
	spec := wire.SourceSpec{Name: "s", Repo: bare, Paths: []string{"app"}, Targets: []string{"env=dev"}}
	if _, err := h.op.AddSource(ctx, spec); err != nil {
		t.Fatal(err)
	}

	a, resp := enroll(t, h, "edge", map[string]string{"env": "dev"})
	rawPub, _ := base64.StdEncoding.DecodeString(resp.SigningKey)
	pub := ed25519.PublicKey(rawPub)

	// The first manifest comes whole, with every object shipped whole.
	sm1 := pollUntil(t, a, 0, "", func(m wire.Manifest) bool { return len(m.Bundles) == 1 && len(m.Bundles[0].Objects) == 3 })
	if sm1.Delta != nil || len(sm1.Objects) != 3 {
		t.Fatalf("first manifest: delta %v, %d objects shipped; want content and 3 objects", sm1.Delta != nil, len(sm1.Objects))
	}
	m1, err := wire.VerifyManifest(pub, withoutObjects(sm1), resp.ClusterID, 0)
	if err != nil {
		t.Fatal(err)
	}
	held := map[string][]byte{}
	for _, so := range sm1.Objects {
		data, err := so.Resolve(func(string) ([]byte, bool) { return nil, false })
		if err != nil || so.Patch != nil {
			t.Fatalf("first object %+v: %v", so, err)
		}
		held[so.Hash] = data
	}

	w.WriteFile(t, "app/cm1.yaml", configMap("cm1", "v2"))
	w.CommitAndPush(t, "one value changes")
	if _, err := h.op.AddSource(ctx, spec); err != nil { // as a webhook would
		t.Fatal(err)
	}
	base := wire.Hash(sm1.Content)
	sm2 := pollUntil(t, a, m1.Generation, base, func(wire.Manifest) bool { return true })
	if sm2.Delta == nil || sm2.Content != nil {
		t.Fatalf("second manifest came whole; want a delta against %.12s", base)
	}
	if len(sm2.Objects) != 1 || sm2.Objects[0].Patch == nil {
		t.Fatalf("shipped %+v; want one patch", sm2.Objects)
	}
	if p := string(sm2.Objects[0].Patch); strings.Contains(p, "unchanged") || !strings.Contains(p, "v2") {
		t.Errorf("patch %s: want only the changed value", p)
	}
	resolved, err := wire.ResolveDelta(sm2, sm1.Content)
	if err != nil {
		t.Fatal(err)
	}
	m2, err := wire.VerifyManifest(pub, withoutObjects(resolved), resp.ClusterID, m1.Generation)
	if err != nil {
		t.Fatalf("rebuilt manifest does not verify: %v", err)
	}
	data, err := sm2.Objects[0].Resolve(func(h string) ([]byte, bool) { d, ok := held[h]; return d, ok })
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte(`"v2"`)) || !containsHash(m2, sm2.Objects[0].Hash) {
		t.Errorf("patched object %s is not the manifest's new object", data)
	}

	// Content the hub does not know, or none: the answer is whole.
	for _, b := range []string{wire.Hash([]byte("never issued")), ""} {
		sm, err := a.Manifest(ctx, 0, b)
		if err != nil || sm == nil || sm.Delta != nil || sm.Content == nil || len(sm.Objects) != 3 {
			t.Errorf("base %q: got delta=%v content=%d objects=%d err=%v; want it whole", b, sm != nil && sm.Delta != nil, len(sm.Content), len(sm.Objects), err)
		}
	}

	// A status report large enough to be compressed is accepted.
	rep := wire.StatusReport{AppliedGeneration: m2.Generation, Time: time.Now()}
	for i := range 40 {
		rep.Bundles = append(rep.Bundles, wire.BundleStatus{Name: fmt.Sprintf("bundle-%02d", i), State: wire.StateReady, Generation: m2.Generation})
	}
	if _, enc := wire.CompressRequest(mustJSON(t, rep)); enc != "gzip" {
		t.Fatalf("a %d-bundle report is not compressed", len(rep.Bundles))
	}
	if err := a.Status(ctx, rep); err != nil {
		t.Errorf("compressed status: %v", err)
	}
}

func TestRequestEncodings(t *testing.T) {
	h := startHub(t)
	c := h.rawClient(t)
	var bomb bytes.Buffer // small on the wire, too large once inflated
	zw := gzip.NewWriter(&bomb)
	_, _ = zw.Write(append([]byte(`{"labels":{}`), bytes.Repeat([]byte(" "), 1<<20)...))
	_ = zw.Close()
	var small bytes.Buffer
	zw = gzip.NewWriter(&small)
	_, _ = zw.Write([]byte(`{"labels":{"env":"dev"}}`))
	_ = zw.Close()
	tests := []struct {
		name, encoding string
		body           []byte
		want           int
	}{
		{"gzip", "gzip", small.Bytes(), http.StatusOK},
		{"gzip bomb", "gzip", bomb.Bytes(), http.StatusRequestEntityTooLarge},
		{"not gzip", "gzip", []byte("{}"), http.StatusBadRequest},
		{"unknown encoding", "br", []byte("{}"), http.StatusUnsupportedMediaType},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest("POST", h.srv.URL+"/v1/tokens", bytes.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+h.cfg.Token)
			req.Header.Set("Content-Encoding", tc.encoding)
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("POST /v1/tokens (%s) = %d, want %d", tc.name, resp.StatusCode, tc.want)
			}
		})
	}
}

// pollUntil long-polls until a manifest above have satisfies ok.
func pollUntil(t *testing.T, a *hubclient.Agent, have int64, base string, ok func(wire.Manifest) bool) wire.SignedManifest {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		sm, err := a.Manifest(context.Background(), have, base)
		if err != nil {
			t.Fatal(err)
		}
		if sm == nil {
			continue // the long-poll ended unchanged
		}
		c := *sm
		if c.Delta == nil {
			if m, err := wire.DecodeManifest(c); err == nil && ok(m) {
				return *sm
			}
			continue
		}
		return *sm
	}
	t.Fatal("no matching manifest before the deadline")
	return wire.SignedManifest{}
}

func withoutObjects(sm wire.SignedManifest) wire.SignedManifest {
	sm.Objects = nil
	return sm
}

func containsHash(m wire.Manifest, h string) bool {
	for _, b := range m.Bundles {
		for _, o := range b.Objects {
			if o == h {
				return true
			}
		}
	}
	return false
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
