package kubeapplytest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"

	"flotilla.io/flotilla/internal/kubeapply"
)

// events collects what a drift watch reports.
type events struct {
	mu  sync.Mutex // guards got
	got []kubeapply.DriftEvent
}

func (e *events) add(ev kubeapply.DriftEvent) {
	e.mu.Lock()
	e.got = append(e.got, ev)
	e.mu.Unlock()
}

// await waits for want among the events reported since the last await,
// and returns and forgets those.
func (e *events) await(t *testing.T, want ...kubeapply.DriftEvent) []kubeapply.DriftEvent {
	t.Helper()
	missing := func() []kubeapply.DriftEvent {
		e.mu.Lock()
		defer e.mu.Unlock()
		var out []kubeapply.DriftEvent
		for _, w := range want {
			found := false
			for _, g := range e.got {
				g.Ref.Version = w.Ref.Version // versions are the watch's to pick
				if g == w {
					found = true
				}
			}
			if !found {
				out = append(out, w)
			}
		}
		return out
	}
	poll(t, 10*time.Second, fmt.Sprintf("drift events %+v", want), func() bool { return len(missing()) == 0 })
	e.mu.Lock()
	defer e.mu.Unlock()
	got := e.got
	e.got = nil
	return got
}

// TestWatchChecksAfterList: the drift watch reports each kind as a whole
// for every set holding it once it has listed, and for a set new to the
// watch; then the changes others make, and not its own.
func TestWatchChecksAfterList(t *testing.T) {
	a := newApplier(t)
	ns := newNamespace(t, testName(t))
	setA := kubeapply.Set{Name: ns, Objects: []*unstructured.Unstructured{
		configMap(ns, "a", map[string]any{"k": "1"}),
		secret(ns, "s"),
	}}
	setB := kubeapply.Set{Name: ns + "-b", Objects: []*unstructured.Unstructured{configMap(ns, "b", map[string]any{"k": "1"})}}
	mustApply(t, a, setA)

	watched := kubeapply.NewWatched()
	var got events
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.Watch(ctx, watched, got.add)
	}()
	t.Cleanup(func() { cancel(); <-done })

	cmKind, secretKind := kubeapply.ObjectRef{Kind: "ConfigMap"}, kubeapply.ObjectRef{Kind: "Secret"}
	watched.Replace([]kubeapply.WatchSet{kubeapply.WatchSetOf(setA)})
	got.await(t, kubeapply.DriftEvent{Set: setA.Name, Ref: cmKind}, kubeapply.DriftEvent{Set: setA.Name, Ref: secretKind})

	cmA := kubeapply.ObjectRef{Version: "v1", Kind: "ConfigMap", Namespace: ns, Name: "a"}
	if err := shared.dyn.Resource(gvrConfigMaps).Namespace(ns).Delete(t.Context(), "a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	got.await(t, kubeapply.DriftEvent{Set: setA.Name, Ref: cmA, Deleted: true})

	// A new set of a kind already watched: applied before the watch
	// followed it, so checked whole.
	mustApply(t, a, setB)
	watched.Replace([]kubeapply.WatchSet{kubeapply.WatchSetOf(setA), kubeapply.WatchSetOf(setB)})
	got.await(t, kubeapply.DriftEvent{Set: setB.Name, Ref: cmKind})

	// Drifted checks the kind named, Restore puts back the member named.
	if err := shared.dyn.Resource(gvrSecrets).Namespace(ns).Delete(t.Context(), "s", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	drifts, err := a.Drifted(t.Context(), setA, []kubeapply.ObjectRef{cmKind}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]kubeapply.Drift{{Ref: cmA, Reason: "deleted"}}, drifts); diff != "" {
		t.Errorf("Drifted(ConfigMaps) (-want +got):\n%s", diff)
	}
	res, err := a.Restore(t.Context(), setA, []kubeapply.ObjectRef{cmA})
	if err == nil {
		err = res.Err()
	}
	if err != nil || len(res.Applied) != 1 {
		t.Fatalf("Restore = %+v, %v; want one member restored", res, err)
	}
	if get(t, gvrConfigMaps, ns, "a") == nil || get(t, gvrSecrets, ns, "s") != nil {
		t.Errorf("Restore of ConfigMap a: want it back and Secret s still gone")
	}

	// Someone else's edit is reported; the agent's own apply is not.
	cm := get(t, gvrConfigMaps, ns, "a")
	cm.Object["data"] = map[string]any{"k": "by-hand"}
	if _, err := shared.dyn.Resource(gvrConfigMaps).Namespace(ns).Update(t.Context(), cm, metav1.UpdateOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	got.await(t, kubeapply.DriftEvent{Set: setA.Name, Ref: cmA})
	mustApply(t, a, setA)
	bDeleted := kubeapply.DriftEvent{Set: setB.Name, Ref: kubeapply.ObjectRef{Version: "v1", Kind: "ConfigMap", Namespace: ns, Name: "b"}, Deleted: true}
	if err := shared.dyn.Resource(gvrConfigMaps).Namespace(ns).Delete(t.Context(), "b", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// A later change: what came before it has been reported.
	for _, ev := range got.await(t, bDeleted) {
		if ev.Set == setA.Name && !ev.Deleted && ev.Ref.Name == "a" {
			t.Errorf("the applier's own apply was reported: %+v", ev)
		}
	}
}

// discoveryOutage answers 503 to every discovery request while down is
// set, as an API server still starting after a reboot does.
type discoveryOutage struct {
	next http.RoundTripper
	down atomic.Bool
}

func (d *discoveryOutage) RoundTrip(r *http.Request) (*http.Response, error) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	discovery := r.URL.Path == "/version" ||
		(parts[0] == "api" && len(parts) <= 2) || (parts[0] == "apis" && len(parts) <= 3)
	if !discovery || !d.down.Load() {
		return d.next.RoundTrip(r)
	}
	if r.Body != nil {
		r.Body.Close()
	}
	return &http.Response{
		StatusCode: http.StatusServiceUnavailable,
		Status:     "503 Service Unavailable",
		Header:     http.Header{"Content-Type": []string{"text/plain"}},
		Body:       io.NopCloser(strings.NewReader("starting")),
		Request:    r,
	}, nil
}

// TestWatchStartsOnceDiscoveryWorks: a watch begun while the server cannot
// say which resource a kind is (after a reboot, before the API server is
// up) reports the kind as interrupted, tries again by itself, and once
// the server answers, watches it: an edit made then is reported.
func TestWatchStartsOnceDiscoveryWorks(t *testing.T) {
	ns := newNamespace(t, testName(t))
	set := kubeapply.Set{Name: ns, Objects: []*unstructured.Unstructured{configMap(ns, "a", map[string]any{"k": "1"})}}
	mustApply(t, newApplier(t), set)

	outage := &discoveryOutage{}
	outage.down.Store(true)
	cfg := rest.CopyConfig(shared.cfg)
	cfg.QPS, cfg.Burst = 0, 0
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		outage.next = rt
		return outage
	})
	a, err := kubeapply.New(cfg, kubeapply.Options{Logger: logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	watched := kubeapply.NewWatched()
	var got events
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.Watch(ctx, watched, got.add)
	}()
	t.Cleanup(func() { cancel(); <-done })

	cmKind := kubeapply.ObjectRef{Kind: "ConfigMap"}
	watched.Replace([]kubeapply.WatchSet{kubeapply.WatchSetOf(set)})
	got.await(t, kubeapply.DriftEvent{Set: set.Name, Ref: cmKind, Interrupted: true})

	outage.down.Store(false) // the sets do not change: the watch tries again alone
	got.await(t, kubeapply.DriftEvent{Set: set.Name, Ref: cmKind})

	cm := get(t, gvrConfigMaps, ns, "a")
	cm.Object["data"] = map[string]any{"k": "by-hand"}
	if _, err := shared.dyn.Resource(gvrConfigMaps).Namespace(ns).Update(t.Context(), cm, metav1.UpdateOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	got.await(t, kubeapply.DriftEvent{Set: set.Name, Ref: kubeapply.ObjectRef{Version: "v1", Kind: "ConfigMap", Namespace: ns, Name: "a"}})
}
