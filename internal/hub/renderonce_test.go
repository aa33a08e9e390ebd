package hub

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"flotilla.io/flotilla/internal/gitsource"
	"flotilla.io/flotilla/internal/pki"
	"flotilla.io/flotilla/internal/store"
	"flotilla.io/flotilla/internal/store/sqlstore"
	"flotilla.io/flotilla/internal/wire"
)

// dirFetcher serves checkouts from directories the test writes, one per commit.
type dirFetcher struct {
	mu  sync.Mutex // guards rev
	rev gitsource.Revision
}

func (f *dirFetcher) Fetch(context.Context, string, string, string) (gitsource.Revision, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rev, nil
}

func (f *dirFetcher) Cached(string, string, string, string) (gitsource.Revision, error) {
	return gitsource.Revision{}, fmt.Errorf("no cache")
}

func (f *dirFetcher) commit(t testing.TB, sha string, files map[string]string) {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f.mu.Lock()
	f.rev = gitsource.Revision{Commit: sha, Dir: dir}
	f.mu.Unlock()
}

const perEnvFleet = `defaultNamespace: app
targetCustomizations:
  - name: dev
    clusterSelector: {matchLabels: {env: dev}}
    namespace: app-dev
  - name: test
    clusterSelector: {matchLabels: {env: test}}
    namespace: app-test
  - name: prod
    clusterSelector: {matchLabels: {env: prod}}
    namespace: app-prod
`

// newTestHub returns a hub on a fresh SQLite store, fetching with fetcher.
func newTestHub(t testing.TB, fetcher Fetcher) (*Hub, *sqlstore.DB) {
	t.Helper()
	return newTestHubWith(t, fetcher, func(*Options) {})
}

// newTestHubWith is newTestHub with options changed by edit.
func newTestHubWith(t testing.TB, fetcher Fetcher, edit func(*Options)) (*Hub, *sqlstore.DB) {
	t.Helper()
	db, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "hub.db"), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ca, _, err := pki.NewCA("test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	opts := Options{Store: db, CA: ca, SigningKey: key, Fetcher: fetcher}
	edit(&opts)
	h, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return h, db
}

// settle computes what the hub queued, as its worker would.
func settle(t testing.TB, h *Hub) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := h.Settle(ctx); err != nil {
		t.Fatal(err)
	}
}

func configMapYAML(name, value string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\ndata:\n  v: %q\n", name, value)
}

// TestRenderOncePerGroup enrolls 1,000 clusters in three label groups: each
// commit renders every bundle at most three times, and clusters of a group
// share object hashes.
func TestRenderOncePerGroup(t *testing.T) {
	ctx := context.Background()
	fetcher := &dirFetcher{}
	h, db := newTestHub(t, fetcher)
	envs := []string{"dev", "test", "prod"}
	const clusters = 1000
	for i := range clusters {
		c := store.Cluster{ID: fmt.Sprintf("c%04d", i), Name: fmt.Sprintf("edge-%04d", i), Labels: map[string]string{"env": envs[i%3]}, CreatedAt: time.Now()}
		if err := db.CreateCluster(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.AddSource(ctx, wire.SourceSpec{Name: "fleet", Repo: "unused", Targets: []string{"env"}}); err != nil {
		t.Fatal(err)
	}
	files := func(v string) map[string]string {
		return map[string]string{
			"a/fleet.yaml": perEnvFleet, "a/cm.yaml": configMapYAML("a", v),
			"b/fleet.yaml": perEnvFleet, "b/cm.yaml": configMapYAML("b", v),
		}
	}
	for i, v := range []string{"one", "two"} {
		fetcher.commit(t, fmt.Sprintf("commit-%d", i), files(v))
		before := testutil.ToFloat64(h.metrics.renders)
		h.syncByName(ctx, "fleet")
		settle(t, h)
		renders := testutil.ToFloat64(h.metrics.renders) - before
		if renders > 2*3 {
			t.Errorf("commit %d: %v renders for 2 bundles and 3 groups, want at most 6", i, renders)
		}
		if renders == 0 {
			t.Errorf("commit %d: nothing rendered", i)
		}
	}
	// Clusters of one group share the same objects; groups differ.
	seen := map[string]map[string]bool{}
	for i := range 30 {
		m, err := db.GetManifest(ctx, fmt.Sprintf("c%04d", i))
		if err != nil {
			t.Fatal(err)
		}
		env := envs[i%3]
		if seen[env] == nil {
			seen[env] = map[string]bool{}
		}
		seen[env][m.Digest] = true
	}
	for env, digests := range seen {
		if len(digests) != 1 {
			t.Errorf("env %s: %d distinct manifests, want 1", env, len(digests))
		}
	}
	if len(seen) != 3 {
		t.Errorf("%d distinct envs seen", len(seen))
	}
}

// TestRendersSharedAcrossSources: sources that track one repository (one
// per group, say) share renders of the same commit and inputs; a source
// over another repository renders its own.
func TestRendersSharedAcrossSources(t *testing.T) {
	ctx := context.Background()
	fetcher := &dirFetcher{}
	h, db := newTestHub(t, fetcher)
	for i, env := range []string{"dev", "test"} {
		c := store.Cluster{ID: fmt.Sprintf("c%d", i), Name: "edge-" + env, Labels: map[string]string{"env": env}, CreatedAt: time.Now()}
		if err := db.CreateCluster(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	fetcher.commit(t, "commit-1", map[string]string{"a/cm.yaml": configMapYAML("a", "one")})
	tests := []struct {
		source, repo, target string
		wantRenders          float64
	}{
		{"g-dev", "https://git.example/fleet", "env=dev", 1},
		{"g-test", "https://git.example/fleet", "env=test", 0}, // same repo, commit and inputs
		{"other", "https://git.example/other", "env=dev", 1},
	}
	for _, tc := range tests {
		before := testutil.ToFloat64(h.metrics.renders)
		if _, err := h.AddSource(ctx, wire.SourceSpec{Name: tc.source, Repo: tc.repo, Targets: []string{tc.target}}); err != nil {
			t.Fatal(err)
		}
		h.syncByName(ctx, tc.source)
		settle(t, h)
		if got := testutil.ToFloat64(h.metrics.renders) - before; got != tc.wantRenders {
			t.Errorf("source %s: %v renders, want %v", tc.source, got, tc.wantRenders)
		}
	}
	// Both groups got the same object.
	var objs []string
	for _, id := range []string{"c0", "c1"} {
		m, err := db.GetManifest(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		var refs []wire.BundleRef
		content, err := h.content(ctx, m.Digest)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(content, &refs); err != nil || len(refs) == 0 || len(refs[0].Objects) != 1 {
			t.Fatalf("cluster %s: refs %+v, %v", id, refs, err)
		}
		objs = append(objs, refs[0].Objects[0])
	}
	if objs[0] != objs[1] {
		t.Errorf("groups got different objects %v", objs)
	}
}

// TestSourcesFollowTheirBranchTogether: a fetch that moves a repository's
// branch brings every source that tracks that branch along.
func TestSourcesFollowTheirBranchTogether(t *testing.T) {
	ctx := context.Background()
	fetcher := &dirFetcher{}
	h, db := newTestHub(t, fetcher)
	fetcher.commit(t, "commit-1", map[string]string{"a/cm.yaml": configMapYAML("a", "one")})
	specs := []wire.SourceSpec{
		{Name: "g1", Repo: "https://git.example/fleet", Targets: []string{"env=dev"}},
		{Name: "g2", Repo: "https://git.example/fleet", Targets: []string{"env=test"}},
		{Name: "dev-branch", Repo: "https://git.example/fleet", Branch: "dev", Targets: []string{"env=test"}},
	}
	for _, s := range specs {
		if _, err := h.AddSource(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	h.syncByName(ctx, "g1", "g2", "dev-branch")
	settle(t, h)
	fetcher.commit(t, "commit-2", map[string]string{"a/cm.yaml": configMapYAML("a", "two")})
	h.syncByName(ctx, "g1")
	settle(t, h)
	for name, want := range map[string]string{"g1": "commit-2", "g2": "commit-2", "dev-branch": "commit-1"} {
		s, err := db.GetSource(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if s.Commit != want {
			t.Errorf("source %s at %q, want %q", name, s.Commit, want)
		}
	}
}
