package hub

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"flotilla.io/flotilla/internal/bundle"
	"flotilla.io/flotilla/internal/pki"
	"flotilla.io/flotilla/internal/render"
	"flotilla.io/flotilla/internal/store"
	"flotilla.io/flotilla/internal/wire"
)

// stuckRenderer renders in process, except the bundle at path stuck: that
// render hangs until its gate opens, then fails on its time limit.
type stuckRenderer struct {
	render.InProcess
	stuck string
	gate  *gate
}

func (r stuckRenderer) Render(ctx context.Context, root string, b bundle.Bundle, e render.Effective) ([]*unstructured.Unstructured, error) {
	if b.Path == r.stuck {
		select {
		case <-r.gate.wait():
		case <-ctx.Done():
		}
		return nil, render.Limits{}.TimeoutError()
	}
	return r.InProcess.Render(ctx, root, b, e)
}

// gate holds renders until it opens; closed again, it holds the next.
type gate struct {
	mu sync.Mutex // guards ch
	ch chan struct{}
}

func newGate() *gate { return &gate{ch: make(chan struct{})} }

func (g *gate) wait() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.ch
}

func (g *gate) open() {
	g.mu.Lock()
	close(g.ch)
	g.mu.Unlock()
}

func (g *gate) close() {
	g.mu.Lock()
	g.ch = make(chan struct{})
	g.mu.Unlock()
}

// TestStuckRenderHarmsOnlyItsBundle: while one bundle's render hangs,
// enrollment answers, clusters that do not get that bundle get their
// manifests, and the clusters that do get it with its error once its
// time limit passes.
func TestStuckRenderHarmsOnlyItsBundle(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fetcher := &dirFetcher{}
	g := newGate()
	h, db := newTestHubWith(t, fetcher, func(o *Options) {
		o.Renderer = stuckRenderer{stuck: "stuck", gate: g}
		o.URL = "https://hub.example:8443"
	})
	for _, c := range []store.Cluster{
		{ID: "both", Name: "both", Labels: map[string]string{"env": "dev", "stuck": "yes"}},
		{ID: "fine", Name: "fine", Labels: map[string]string{"env": "dev"}},
	} {
		c.CreatedAt = time.Now()
		if err := db.CreateCluster(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	fetcher.commit(t, "commit-1", map[string]string{
		"fine/cm.yaml":  configMapYAML("fine", "v"),
		"stuck/cm.yaml": configMapYAML("stuck", "v"),
	})
	specs := []wire.SourceSpec{
		{Name: "fine", Repo: "https://git.example/fleet", Paths: []string{"fine"}, Targets: []string{"env"}},
		{Name: "stuck", Repo: "https://git.example/fleet", Paths: []string{"stuck"}, Targets: []string{"stuck"}},
	}
	for _, s := range specs {
		if _, err := h.AddSource(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	runDone := make(chan error, 1)
	go func() { runDone <- h.Run(ctx) }()
	defer func() { cancel(); <-runDone }()

	// The cluster without the stuck bundle converges while it hangs.
	refs := waitRefs(t, h, "fine", 1, nil)
	if refs[0].Source != "fine" || refs[0].Error != "" || len(refs[0].Objects) != 1 {
		t.Errorf("fine cluster got %+v", refs)
	}

	// Enrollment does not wait for renders.
	tok, err := h.CreateToken(ctx, wire.TokenRequest{Labels: map[string]string{"env": "dev", "stuck": "yes"}})
	if err != nil {
		t.Fatal(err)
	}
	csr, _, err := pki.NewCSR("x")
	if err != nil {
		t.Fatal(err)
	}
	enrollCtx, enrollCancel := context.WithTimeout(ctx, 10*time.Second)
	defer enrollCancel()
	resp, err := h.Enroll(enrollCtx, wire.EnrollRequest{Token: tok.Token, CSR: string(csr), Name: "late"})
	if err != nil || resp.Certificate == "" {
		t.Fatalf("enrollment during a hanging render: %v", err)
	}

	// The render hits its limit: its clusters get the bundle with the
	// error, and the other bundle.
	g.open()
	for _, id := range []string{"both", resp.ClusterID} {
		refs := waitRefs(t, h, id, 2, nil)
		for _, r := range refs {
			switch {
			case r.Source == "stuck" && r.Error == "":
				t.Errorf("cluster %s: stuck bundle without its error: %+v", id, r)
			case r.Source == "fine" && (r.Error != "" || len(r.Objects) != 1):
				t.Errorf("cluster %s: fine bundle harmed: %+v", id, r)
			}
		}
	}
	// A new commit while the bundle hangs again: its clusters get the
	// other bundle's change within the pass's wait, and keep the hanging
	// bundle as they had it until its render ends.
	g.close()
	fetcher.commit(t, "commit-2", map[string]string{
		"fine/cm.yaml":  configMapYAML("fine", "v2"),
		"stuck/cm.yaml": configMapYAML("stuck", "v2"),
	})
	if _, err := h.AddSource(ctx, specs[0]); err != nil { // as a webhook would
		t.Fatal(err)
	}
	refs = waitRefs(t, h, "both", 2, func(r wire.BundleRef) bool { return r.Source == "fine" && r.Commit == "commit-2" })
	for _, r := range refs {
		if r.Source == "stuck" && r.Commit != "commit-1" {
			t.Errorf("the hanging bundle moved on before its render ended: %+v", r)
		}
	}
	g.open()
	waitRefs(t, h, "both", 2, func(r wire.BundleRef) bool { return r.Source == "stuck" && r.Commit == "commit-2" && r.Error != "" })

	// Bundle listings show the error too.
	bs, err := h.Bundles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bs {
		if b.Source == "stuck" && b.Error == "" {
			t.Errorf("bundles list shows no error for the stuck bundle: %+v", b)
		}
	}
}

// waitRefs polls until cluster id has a manifest with n bundles, one of
// which satisfies want (when given).
func waitRefs(t *testing.T, h *Hub, id string, n int, want func(wire.BundleRef) bool) []wire.BundleRef {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if m, err := h.store.GetManifest(ctx, id); err == nil {
			content, err := h.content(ctx, m.Digest)
			if err != nil {
				t.Fatal(err)
			}
			var refs []wire.BundleRef
			if err := json.Unmarshal(content, &refs); err != nil {
				t.Fatal(err)
			}
			if len(refs) == n && (want == nil || slices.ContainsFunc(refs, want)) {
				return refs
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster %s has no manifest with %d bundles", id, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
