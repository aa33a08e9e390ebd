package agent

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"flotilla.io/flotilla/internal/wire"
)

// fuzzState is a state directory with objects kept and manifests signed by
// the hub key an identity trusts.
type fuzzState struct {
	id   *identity
	key  ed25519.PrivateKey
	s    store
	objs map[string][]byte
	// signed are the manifests the hub signed, by signature.
	signed map[string]wire.SignedManifest
}

func newFuzzState(f *testing.F) *fuzzState {
	f.Helper()
	// A fixed hub key, so that the manifests in testdata/fuzz verify.
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	pub := key.Public().(ed25519.PublicKey)
	st := &fuzzState{id: &identity{ClusterID: "c1", pub: pub}, key: key, s: store{dir: f.TempDir()}, objs: map[string][]byte{}, signed: map[string]wire.SignedManifest{}}
	for _, o := range []map[string]any{configMap("a", "1"), configMap("a", "2"), configMap("b", "<&>")} {
		data, err := wire.Canonical(o)
		if err != nil {
			f.Fatal(err)
		}
		st.objs[wire.Hash(data)] = data
	}
	var hashes []string
	for h := range st.objs {
		hashes = append(hashes, h)
	}
	if err := st.s.putObjects(st.objs, hashes); err != nil {
		f.Fatal(err)
	}
	return st
}

// sign signs a manifest for the state's hub key and remembers it.
func (st *fuzzState) sign(f *testing.F, m wire.Manifest) []byte {
	f.Helper()
	sm, err := wire.SignManifest(st.key, m)
	if err != nil {
		f.Fatal(err)
	}
	st.signed[string(sm.Signature)] = sm
	data, err := json.Marshal(sm)
	if err != nil {
		f.Fatal(err)
	}
	return data
}

// hashes lists the kept objects' hashes in a fixed order.
func (st *fuzzState) hashes() []string {
	return slices.Sorted(maps.Keys(st.objs))
}

func (st *fuzzState) write(t *testing.T, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(st.s.dir, name), data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// checkLoaded checks what the agent would enforce: a manifest that passes
// the agent's own verification, with every object it names, and that the
// same state kept again loads equal.
func (st *fuzzState) checkLoaded(t *testing.T, d *desired) {
	t.Helper()
	m, err := wire.VerifyManifest(st.id.pub, d.signed, st.id.ClusterID, 0)
	if err != nil {
		t.Fatalf("loaded a state that fails verification: %v", err)
	}
	if diff := cmp.Diff(m, d.manifest); diff != "" {
		t.Fatalf("loaded manifest differs from the verified one (-verified +loaded):\n%s", diff)
	}
	if d.signed.Delta != nil || d.signed.Objects != nil {
		t.Fatal("loaded state carries a delta or shipped objects")
	}
	for _, b := range m.Bundles {
		for _, h := range b.Objects {
			if data, ok := d.objects[h]; !ok || wire.Hash(data) != h {
				t.Fatalf("loaded state lacks object %.12s or holds a wrong one", h)
			}
		}
	}
	if err := os.Remove(filepath.Join(st.s.dir, prevManifestFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(st.s.dir, manifestFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	keepManifest(t, st.s, d.signed)
	again := st.s.load(st.id)
	if again.problem != nil || again.desired == nil {
		t.Fatalf("a loaded state, kept again, is refused: %v", again.problem)
	}
	if diff := cmp.Diff(d, again.desired, cmp.AllowUnexported(desired{})); diff != "" {
		t.Fatalf("a loaded state, kept again, loads different (-first +again):\n%s", diff)
	}
}

// The state fuzz targets keep files as the agent does, fsync included: run
// them with TMPDIR on a tmpfs (TMPDIR=/dev/shm) or they crawl.

// FuzzLoadState: whatever bytes manifest.json and manifest.prev.json hold,
// the agent loads a state that passes its own verification (and then one
// the hub signed), or refuses them with a problem it reports; never both
// files present and neither a state nor a problem. A loaded state kept
// again loads equal.
func FuzzLoadState(f *testing.F) {
	st := newFuzzState(f)
	h := st.hashes()
	gen1 := st.sign(f, wire.Manifest{ClusterID: "c1", Generation: 1, Bundles: []wire.BundleRef{{Name: "b", Source: "s", Commit: "c", Objects: h[:1]}}})
	gen2 := st.sign(f, wire.Manifest{ClusterID: "c1", Generation: 2, Bundles: []wire.BundleRef{
		{Name: "a", Source: "s", Commit: "c2", Objects: h, DependsOn: []string{"b"}, Drift: &wire.DriftPolicy{Ignore: []wire.IgnoreFields{{Kind: "ConfigMap", JSONPointers: []string{"/data"}}}}},
		{Name: "b", Source: "s", Commit: "c2", Objects: []string{}, Error: "render failed", Paused: true},
	}})
	other := st.sign(f, wire.Manifest{ClusterID: "c2", Generation: 3, Bundles: []wire.BundleRef{}})
	missing := st.sign(f, wire.Manifest{ClusterID: "c1", Generation: 4, Bundles: []wire.BundleRef{{Name: "x", Objects: []string{strings.Repeat("0", 64)}}}})
	delta := bytes.Replace(gen2, []byte(`"content"`), []byte(`"delta":{"base":"x","bundles":[]},"content"`), 1)
	for _, seed := range [][2][]byte{
		{gen2, gen1}, {gen2[:len(gen2)/2], gen1}, {gen1, []byte("garbage")}, {other, gen1}, {missing, gen2},
		{delta, gen1}, {[]byte("null"), []byte("{}")}, {[]byte(`{"payload":"","signature":""}`), gen1},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, cur, prev []byte) {
		st.write(t, manifestFile, cur)
		st.write(t, prevManifestFile, prev)
		got := st.s.load(st.id)
		if got.desired == nil {
			if got.problem == nil {
				t.Fatal("neither file loaded and no problem reported")
			}
			return
		}
		if _, ok := st.signed[string(got.desired.signed.Signature)]; !ok {
			t.Fatal("loaded a manifest the hub did not sign")
		}
		st.checkLoaded(t, got.desired)
	})
}

// FuzzLoadSignedContent: whatever content a hub signs, the agent keeps and
// loads it only when it is for this cluster, names well-formed hashes of
// objects it holds and decodes; and then always. A refusal names the file.
func FuzzLoadSignedContent(f *testing.F) {
	st := newFuzzState(f)
	h := st.hashes()
	good, err := wire.ManifestContent([]wire.BundleRef{{Name: "a", Source: "s", Commit: "c", Objects: h}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good, int64(1), "c1")
	f.Add(good, int64(-1), "c1")
	f.Add(good, int64(1), "c2")
	f.Add([]byte(`[]`), int64(0), "c1")
	f.Add([]byte(`null`), int64(0), "c1")
	f.Add([]byte(`[{"name":"a","objects":["../../identity"]}]`), int64(1), "c1")
	f.Add([]byte(`[{"name":"a","objects":["`+strings.ToUpper(h[0])+`"]}]`), int64(1), "c1")
	f.Add([]byte(`[ {"name":"a","objects":[]} ]`), int64(1), "c1")
	f.Add([]byte(`[{"name":"<a>","objects":[]}]`), int64(1), "c1")
	f.Fuzz(func(t *testing.T, content []byte, gen int64, cluster string) {
		sm, err := wire.SignContent(st.key, cluster, gen, content)
		if err != nil {
			return // the envelope cannot be encoded: nothing a hub could send
		}
		data, err := json.Marshal(sm)
		if err != nil {
			return // content is not JSON: no hub could send it either
		}
		if err := os.Remove(filepath.Join(st.s.dir, prevManifestFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		st.write(t, manifestFile, data)
		got := st.s.load(st.id)
		if got.desired == nil {
			if got.problem == nil || !strings.Contains(got.problem.Error(), manifestFile) {
				t.Fatalf("refused without naming %s: %v", manifestFile, got.problem)
			}
			if usable(st, content, gen, cluster) {
				t.Fatalf("refused a usable manifest: %v", got.problem)
			}
			return
		}
		if !usable(st, content, gen, cluster) {
			t.Fatalf("loaded content %q for %q at %d", content, cluster, gen)
		}
		st.checkLoaded(t, got.desired)
	})
}

// usable says, apart from the code under test, whether a signed manifest
// is one the agent should keep: for this cluster, a generation it can
// hold, content that decodes and is in the form the hub writes, every
// object held.
func usable(st *fuzzState, content []byte, gen int64, cluster string) bool {
	var refs []wire.BundleRef
	if cluster != st.id.ClusterID || gen < 0 || json.Unmarshal(content, &refs) != nil {
		return false
	}
	// Kept content is compact, HTML escaped JSON, as the hub writes it.
	var compact, escaped bytes.Buffer
	if json.Compact(&compact, content) != nil {
		return false
	}
	json.HTMLEscape(&escaped, compact.Bytes())
	if !bytes.Equal(escaped.Bytes(), content) {
		return false
	}
	for _, b := range refs {
		for _, h := range b.Objects {
			if _, ok := st.objs[h]; !ok {
				return false
			}
		}
	}
	return true
}
