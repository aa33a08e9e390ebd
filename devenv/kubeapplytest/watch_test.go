package kubeapplytest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

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
