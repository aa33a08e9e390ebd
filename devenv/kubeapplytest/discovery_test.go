package kubeapplytest

import (
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"flotilla.io/flotilla/internal/kubeapply"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
)

// discoveryRecorder records the discovery documents a client asks for:
// /version, /api, /apis and the documents of one group or group version.
type discoveryRecorder struct {
	next http.RoundTripper

	mu    sync.Mutex // guards paths
	paths []string
}

func (d *discoveryRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	discovery := r.URL.Path == "/version" ||
		(parts[0] == "api" && len(parts) <= 2) || (parts[0] == "apis" && len(parts) <= 3)
	if discovery && r.Method == http.MethodGet {
		d.mu.Lock()
		d.paths = append(d.paths, r.URL.Path)
		d.mu.Unlock()
	}
	return d.next.RoundTrip(r)
}

func (d *discoveryRecorder) take() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := d.paths
	d.paths = nil
	return out
}

// newRecordedApplier is newApplier with its discovery requests recorded.
func newRecordedApplier(t *testing.T) (*kubeapply.Applier, *discoveryRecorder) {
	t.Helper()
	rec := &discoveryRecorder{}
	cfg := rest.CopyConfig(shared.cfg)
	cfg.QPS, cfg.Burst = 0, 0
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		rec.next = rt
		return rec
	})
	a, err := kubeapply.New(cfg, kubeapply.Options{Logger: logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	return a, rec
}

// TestDiscoveryOnlyOfKindsInUse checks that the applier discovers only the
// group versions its objects name (never the list of every group nor the
// aggregated document of all of them), once, and again only after a miss.
func TestDiscoveryOnlyOfKindsInUse(t *testing.T) {
	name := testName(t)
	ns := newNamespace(t, name)
	a, rec := newRecordedApplier(t)
	role := object("rbac.authorization.k8s.io/v1", "Role", ns, "r")
	role.Object["rules"] = []any{}
	objs := []*unstructured.Unstructured{configMap(ns, "c", nil), deployment(ns, "d"), role}

	mustApply(t, a, kubeapply.Set{Name: name, Objects: objs})
	if _, err := a.Health(t.Context(), kubeapply.Set{Name: name, Objects: objs}); err != nil {
		t.Fatal(err)
	}
	allowed := []string{"/api/v1", "/apis/apps", "/apis/apps/v1", "/apis/rbac.authorization.k8s.io", "/apis/rbac.authorization.k8s.io/v1"}
	first := rec.take()
	for _, p := range first {
		if !slices.Contains(allowed, p) {
			t.Errorf("discovered %s; only %v are in use", p, allowed)
		}
	}
	if len(first) == 0 {
		t.Error("no discovery recorded: the recorder is not in the client's path")
	}

	mustApply(t, a, kubeapply.Set{Name: name, Objects: objs})
	if again := rec.take(); len(again) > 0 {
		t.Errorf("second apply discovered %v again", again)
	}

	// A kind the server does not serve costs one rediscovery per apply.
	gadget := object("example.com/v1", "Gadget", ns, "g")
	res := apply(t, a, kubeapply.Set{Name: name, Objects: append(objs, gadget)})
	if res.Err() == nil {
		t.Fatal("apply of an unserved kind succeeded")
	}
	if n := strings.Count(strings.Join(rec.take(), " "), "/apis/example.com/v1"); n != 2 {
		t.Errorf("unserved group version asked %d times, want 2 (once, and once after the refresh)", n)
	}
}

func TestFacts(t *testing.T) {
	a, rec := newRecordedApplier(t)
	f, err := a.Facts(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if f.KubernetesVersion != "v1.37.2" {
		t.Errorf("KubernetesVersion = %q, want v1.37.2", f.KubernetesVersion)
	}
	for _, gv := range []string{"v1", "apps/v1", "apiextensions.k8s.io/v1"} {
		if !slices.Contains(f.APIVersions, gv) {
			t.Errorf("APIVersions %v lack %s", f.APIVersions, gv)
		}
	}
	if !slices.IsSorted(f.APIVersions) {
		t.Errorf("APIVersions not sorted: %v", f.APIVersions)
	}
	if got, want := rec.take(), []string{"/version", "/api", "/apis"}; !slices.Equal(got, want) {
		t.Errorf("discovered %v, want %v (the group list without resources)", got, want)
	}
}
