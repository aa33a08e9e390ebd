package kubeapplytest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"flotilla.io/flotilla/internal/kubeapply"
	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
)

func TestApplyCreatesThenUpdates(t *testing.T) {
	name := testName(t)
	ns := newNamespace(t, name)
	a := newApplier(t)
	id := kubeapply.ApplySetID(name, kubeapply.DefaultParentNamespace)

	res := mustApply(t, a, kubeapply.Set{Name: name, Objects: []*unstructured.Unstructured{
		configMap(ns, "settings", map[string]any{"mode": "one"}),
		deployment(ns, "web"),
	}})
	wantApplied := []kubeapply.ObjectResult{
		{Ref: kubeapply.ObjectRef{Version: "v1", Kind: "ConfigMap", Namespace: ns, Name: "settings"}},
		{Ref: kubeapply.ObjectRef{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: ns, Name: "web"}},
	}
	if diff := cmp.Diff(kubeapply.Result{Applied: wantApplied}, res); diff != "" {
		t.Errorf("first Apply result (-want +got):\n%s", diff)
	}
	cm := get(t, gvrConfigMaps, ns, "settings")
	if cm == nil {
		t.Fatal("ConfigMap not created")
	}
	if got := cm.GetLabels()[kubeapply.LabelPartOf]; got != id {
		t.Errorf("part-of label = %q, want %q", got, id)
	}
	p := parent(t, name)
	if p == nil {
		t.Fatal("parent not created")
	}
	wantAnn := map[string]string{
		kubeapply.AnnotationTooling:    kubeapply.Tooling,
		kubeapply.AnnotationGroupKinds: "ConfigMap,Deployment.apps",
		kubeapply.AnnotationNamespaces: ns,
	}
	if diff := cmp.Diff(wantAnn, p.GetAnnotations()); diff != "" {
		t.Errorf("parent annotations (-want +got):\n%s", diff)
	}
	if got := p.GetLabels()[kubeapply.LabelApplySetID]; got != id {
		t.Errorf("parent id label = %q, want %q", got, id)
	}

	mustApply(t, a, kubeapply.Set{Name: name, Objects: []*unstructured.Unstructured{
		configMap(ns, "settings", map[string]any{"mode": "two"}),
		deployment(ns, "web"),
	}})
	cm = get(t, gvrConfigMaps, ns, "settings")
	if got, _, _ := unstructured.NestedString(cm.Object, "data", "mode"); got != "two" {
		t.Errorf("data.mode after re-apply = %q, want %q", got, "two")
	}
	if !hasSet(t, a, name) {
		t.Errorf("Sets() lacks %s", name)
	}
}

func TestPruneRemovedObjectsOnly(t *testing.T) {
	name := testName(t)
	ns := newNamespace(t, name)
	a := newApplier(t)
	mustApply(t, a, kubeapply.Set{Name: name, Objects: []*unstructured.Unstructured{
		configMap(ns, "keep", map[string]any{"k": "v"}),
		configMap(ns, "drop", map[string]any{"k": "v"}),
		secret(ns, "drop-kind"),
	}})
	// Same kind, same namespace, not ours: one unlabelled, one in another set.
	unrelated := configMap(ns, "unrelated", map[string]any{"k": "v"})
	if _, err := shared.dyn.Resource(gvrConfigMaps).Namespace(ns).Create(t.Context(), unrelated, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	mustApply(t, a, kubeapply.Set{Name: name + "-other", Objects: []*unstructured.Unstructured{
		configMap(ns, "other-set", map[string]any{"k": "v"}),
	}})

	res := mustApply(t, a, kubeapply.Set{Name: name, Objects: []*unstructured.Unstructured{
		configMap(ns, "keep", map[string]any{"k": "v"}),
	}})
	wantPruned := []kubeapply.ObjectRef{
		{Version: "v1", Kind: "ConfigMap", Namespace: ns, Name: "drop"},
		{Version: "v1", Kind: "Secret", Namespace: ns, Name: "drop-kind"},
	}
	if diff := cmp.Diff(wantPruned, res.Pruned); diff != "" {
		t.Errorf("Pruned (-want +got):\n%s", diff)
	}
	for _, n := range []string{"drop"} {
		if !gone(t, gvrConfigMaps, ns, n) {
			t.Errorf("ConfigMap %s not pruned", n)
		}
	}
	if !gone(t, gvrSecrets, ns, "drop-kind") {
		t.Error("Secret not pruned")
	}
	for _, n := range []string{"keep", "unrelated", "other-set"} {
		if gone(t, gvrConfigMaps, ns, n) {
			t.Errorf("ConfigMap %s was deleted", n)
		}
	}
	if got := parent(t, name).GetAnnotations()[kubeapply.AnnotationGroupKinds]; got != "ConfigMap" {
		t.Errorf("contains-group-kinds after prune = %q, want ConfigMap", got)
	}

	// Nothing left to prune: a second apply of the same set prunes nothing.
	res = mustApply(t, a, kubeapply.Set{Name: name, Objects: []*unstructured.Unstructured{
		configMap(ns, "keep", map[string]any{"k": "v"}),
	}})
	if len(res.Pruned) != 0 {
		t.Errorf("second apply pruned %v", res.Pruned)
	}
}

// TestMovedObjectIsNotPruned moves an object from one set to another: the
// new owner's label wins, and the old set's prune leaves it alone.
func TestMovedObjectIsNotPruned(t *testing.T) {
	name := testName(t)
	ns := newNamespace(t, name)
	a := newApplier(t)
	moving := configMap(ns, "moving", map[string]any{"k": "v"})
	mustApply(t, a, kubeapply.Set{Name: name + "-a", Objects: []*unstructured.Unstructured{moving}})
	mustApply(t, a, kubeapply.Set{Name: name + "-b", Objects: []*unstructured.Unstructured{moving}})
	res := mustApply(t, a, kubeapply.Set{Name: name + "-a"})
	if len(res.Pruned) != 0 || gone(t, gvrConfigMaps, ns, "moving") {
		t.Errorf("old set pruned the moved object: %v", res.Pruned)
	}
}

func TestCRDAndCustomResourceInOneSet(t *testing.T) {
	name := testName(t)
	ns := newNamespace(t, name)
	a := newApplier(t)
	group := strings.ReplaceAll(name, "-", "") + ".example.com"
	crd := widgetCRD(group)
	cr := object(group+"/v1", "Widget", ns, "w1")
	cr.Object["spec"] = map[string]any{"size": int64(3)}

	// The CR comes first in the set: ordering is the applier's job.
	res := mustApply(t, a, kubeapply.Set{Name: name, Objects: []*unstructured.Unstructured{cr, crd}})
	if len(res.Applied) != 2 {
		t.Fatalf("Applied = %v", res.Applied)
	}
	gvr := schema.GroupVersionResource{Group: group, Version: "v1", Resource: "widgets"}
	if get(t, gvr, ns, "w1") == nil {
		t.Fatal("custom resource not created")
	}
	h, err := a.Health(t.Context(), kubeapply.Set{Name: name, Objects: []*unstructured.Unstructured{crd, cr}})
	if err != nil {
		t.Fatal(err)
	}
	if !h.Ready {
		t.Errorf("Health of CRD and CR not ready: %+v", h)
	}

	// The CRD disappears behind the applier's back; the next apply must
	// prune around the kind that no longer exists.
	if err := shared.dyn.Resource(gvrCRDs).Delete(t.Context(), crd.GetName(), metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	poll(t, time.Minute, "CRD deletion", func() bool { return get(t, gvrCRDs, "", crd.GetName()) == nil })
	res = apply(t, a, kubeapply.Set{Name: name, Objects: []*unstructured.Unstructured{configMap(ns, "after", nil)}})
	if err := res.Err(); err != nil {
		t.Errorf("apply after the CRD vanished: %v", err)
	}
	if got := parent(t, name).GetAnnotations()[kubeapply.AnnotationGroupKinds]; got != "ConfigMap" {
		t.Errorf("contains-group-kinds = %q, want ConfigMap", got)
	}
}

func TestNamespaceAndObjectsInOneSet(t *testing.T) {
	name := testName(t)
	a := newApplier(t)
	ns := object("v1", "Namespace", "", name)
	cm := configMap(name, "inside", map[string]any{"k": "v"})
	mustApply(t, a, kubeapply.Set{Name: name, Objects: []*unstructured.Unstructured{cm, ns}})
	if get(t, gvrConfigMaps, name, "inside") == nil {
		t.Error("ConfigMap in the new namespace not created")
	}
}

func TestDeleteRemovesEverything(t *testing.T) {
	name := testName(t)
	a := newApplier(t)
	ns := object("v1", "Namespace", "", name)
	mustApply(t, a, kubeapply.Set{Name: name, Objects: []*unstructured.Unstructured{
		ns, configMap(name, "a", nil), deployment(name, "web"),
	}})
	if !hasSet(t, a, name) {
		t.Fatalf("Sets() lacks %s before Delete", name)
	}
	if err := a.Delete(t.Context(), name); err != nil {
		t.Fatal(err)
	}
	if !gone(t, gvrConfigMaps, name, "a") || !gone(t, gvrDeployments, name, "web") {
		t.Error("members left after Delete")
	}
	// Without a namespace controller a deleted namespace stays Terminating.
	if !gone(t, gvrNamespaces, "", name) {
		t.Error("namespace not deleted")
	}
	if parent(t, name) != nil {
		t.Error("parent left after Delete")
	}
	if hasSet(t, a, name) {
		t.Errorf("Sets() still lists %s", name)
	}
	if err := a.Delete(t.Context(), name); err != nil {
		t.Errorf("second Delete: %v", err)
	}
}

func TestForceTakesOverFields(t *testing.T) {
	name := testName(t)
	ns := newNamespace(t, name)
	a := newApplier(t)
	theirs := configMap(ns, "contested", map[string]any{"key": "theirs"})
	if _, err := shared.dyn.Resource(gvrConfigMaps).Namespace(ns).Apply(t.Context(), "contested", theirs,
		metav1.ApplyOptions{FieldManager: "someone-else"}); err != nil {
		t.Fatal(err)
	}
	mustApply(t, a, kubeapply.Set{Name: name, Objects: []*unstructured.Unstructured{
		configMap(ns, "contested", map[string]any{"key": "ours"}),
	}})
	cm := get(t, gvrConfigMaps, ns, "contested")
	if got, _, _ := unstructured.NestedString(cm.Object, "data", "key"); got != "ours" {
		t.Errorf("data.key = %q, want ours", got)
	}
	owners := map[string]bool{}
	for _, mf := range cm.GetManagedFields() {
		if strings.Contains(string(mf.FieldsV1.Raw), `"f:key"`) {
			owners[mf.Manager] = true
		}
	}
	if diff := cmp.Diff(map[string]bool{kubeapply.DefaultFieldManager: true}, owners); diff != "" {
		t.Errorf("managers of data.key (-want +got):\n%s", diff)
	}
}

func TestHealth(t *testing.T) {
	name := testName(t)
	ns := newNamespace(t, name)
	a := newApplier(t)
	cm := configMap(ns, "settings", map[string]any{"k": "v"})
	dep := deployment(ns, "web")
	missing := configMap(ns, "never-applied", nil)
	mustApply(t, a, kubeapply.Set{Name: name, Objects: []*unstructured.Unstructured{cm, dep}})

	set := kubeapply.Set{Name: name, Objects: []*unstructured.Unstructured{cm, dep, missing}}
	h, err := a.Health(t.Context(), set)
	if err != nil {
		t.Fatal(err)
	}
	if got := statuses(h); !cmp.Equal(got, []string{"Current", "InProgress", "NotFound"}) {
		t.Errorf("statuses = %v, want Current InProgress NotFound (%+v)", got, h)
	}
	if h.Ready || !strings.HasPrefix(h.Reason, "ConfigMap/"+ns+"/never-applied: ") {
		t.Errorf("Ready %v, Reason %q: want not ready because of never-applied", h.Ready, h.Reason)
	}

	// No controller runs: play the deployment controller by hand.
	markDeploymentAvailable(t, ns, "web")
	h, err = a.Health(t.Context(), kubeapply.Set{Name: name, Objects: []*unstructured.Unstructured{cm, dep}})
	if err != nil {
		t.Fatal(err)
	}
	if !h.Ready || !cmp.Equal(statuses(h), []string{"Current", "Current"}) {
		t.Errorf("after status update: %+v, want all Current", h)
	}
}

// TestHealthByList covers the listing path of Health: many objects of one
// kind in one namespace, one of them not labelled as a member, one absent.
func TestHealthByList(t *testing.T) {
	name := testName(t)
	ns := newNamespace(t, name)
	a := newApplier(t)
	var applied []*unstructured.Unstructured
	for i := range 10 {
		applied = append(applied, configMap(ns, fmt.Sprintf("cm-%d", i), nil))
	}
	mustApply(t, a, kubeapply.Set{Name: name, Objects: applied})
	foreign := configMap(ns, "foreign", nil)
	if _, err := shared.dyn.Resource(gvrConfigMaps).Namespace(ns).Create(t.Context(), foreign, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	set := append(applied[:len(applied):len(applied)], foreign, configMap(ns, "absent", nil))
	h, err := a.Health(t.Context(), kubeapply.Set{Name: name, Objects: set})
	if err != nil {
		t.Fatal(err)
	}
	want := append(slices.Repeat([]string{"Current"}, 11), "NotFound")
	if diff := cmp.Diff(want, statuses(h)); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	if h.Ready || h.Reason != "ConfigMap/"+ns+"/absent: object not found" {
		t.Errorf("Ready %v, Reason %q", h.Ready, h.Reason)
	}
}

func TestUnknownKindFailsAlone(t *testing.T) {
	name := testName(t)
	ns := newNamespace(t, name)
	a := newApplier(t)
	unknown := object("nope.example.com/v1", "Gadget", ns, "g")
	noNamespace := configMap("", "homeless", nil)
	res := apply(t, a, kubeapply.Set{Name: name, Objects: []*unstructured.Unstructured{
		configMap(ns, "fine", nil), unknown, noNamespace,
	}})
	errs := make([]string, len(res.Applied))
	for i, r := range res.Applied {
		if r.Err != nil {
			errs[i] = r.Err.Error()
		}
	}
	if errs[0] != "" || errs[1] == "" || errs[2] == "" {
		t.Fatalf("errors = %q, want only the Gadget and the homeless ConfigMap to fail", errs)
	}
	if !errors.Is(res.Applied[1].Err, kubeapply.ErrUnknownKind) {
		t.Errorf("Gadget error %v does not wrap ErrUnknownKind", res.Applied[1].Err)
	}
	if get(t, gvrConfigMaps, ns, "fine") == nil {
		t.Error("the valid ConfigMap was not applied")
	}
	if err := res.Err(); err == nil || !strings.Contains(err.Error(), "Gadget/"+ns+"/g") {
		t.Errorf("Result.Err() = %v, want it to name the Gadget", err)
	}
	h, err := a.Health(t.Context(), kubeapply.Set{Name: name, Objects: []*unstructured.Unstructured{unknown}})
	if err != nil {
		t.Fatal(err)
	}
	if got := statuses(h); !cmp.Equal(got, []string{"NotFound"}) {
		t.Errorf("health of an unknown kind = %v", got)
	}
}

// TestApply500ConfigMaps measures a bulk apply, re-apply and prune with the
// applier's default client settings.
func TestApply500ConfigMaps(t *testing.T) {
	if testing.Short() {
		t.Skip("bulk measurement")
	}
	name := testName(t)
	const namespaces, perNamespace = 10, 50
	var objs []*unstructured.Unstructured
	value := strings.Repeat("x", 1000) // ~1 KiB per object
	for i := range namespaces {
		ns := newNamespace(t, fmt.Sprintf("%s-%d", name, i))
		for j := range perNamespace {
			objs = append(objs, configMap(ns, fmt.Sprintf("cm-%03d", j), map[string]any{"payload": value}))
		}
	}
	a := newApplier(t)

	began := time.Now()
	res := mustApply(t, a, kubeapply.Set{Name: name, Objects: objs})
	t.Logf("apply of %d ConfigMaps in %d namespaces (create): %v", len(res.Applied), namespaces, time.Since(began))

	began = time.Now()
	mustApply(t, a, kubeapply.Set{Name: name, Objects: objs})
	t.Logf("re-apply, unchanged: %v", time.Since(began))

	began = time.Now()
	h, err := a.Health(t.Context(), kubeapply.Set{Name: name, Objects: objs})
	if err != nil || !h.Ready {
		t.Errorf("health: %v, %+v", err, h.Reason)
	}
	t.Logf("health of %d objects: %v", len(objs), time.Since(began))

	// For comparison: the same re-apply without a client-side rate limit,
	// in-flight requests bounded by Concurrency only.
	cfg := rest.CopyConfig(shared.cfg)
	cfg.QPS = -1
	unlimited, err := kubeapply.New(cfg, kubeapply.Options{})
	if err != nil {
		t.Fatal(err)
	}
	began = time.Now()
	mustApply(t, unlimited, kubeapply.Set{Name: name, Objects: objs})
	t.Logf("re-apply, unchanged, no client rate limit: %v", time.Since(began))

	began = time.Now()
	res = mustApply(t, a, kubeapply.Set{Name: name})
	t.Logf("prune of %d ConfigMaps: %v", len(res.Pruned), time.Since(began))
	if len(res.Pruned) != len(objs) {
		t.Errorf("pruned %d, want %d", len(res.Pruned), len(objs))
	}
}

func hasSet(t *testing.T, a *kubeapply.Applier, name string) bool {
	t.Helper()
	names, err := a.Sets(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if n == name {
			return true
		}
	}
	return false
}

func statuses(h kubeapply.Health) []string {
	out := make([]string, len(h.Objects))
	for i, o := range h.Objects {
		out[i] = o.Status
	}
	return out
}

func secret(namespace, name string) *unstructured.Unstructured {
	u := object("v1", "Secret", namespace, name)
	u.Object["stringData"] = map[string]any{"k": "v"}
	return u
}

func widgetCRD(group string) *unstructured.Unstructured {
	u := object("apiextensions.k8s.io/v1", "CustomResourceDefinition", "", "widgets."+group)
	u.Object["spec"] = map[string]any{
		"group": group,
		"scope": "Namespaced",
		"names": map[string]any{"kind": "Widget", "plural": "widgets", "singular": "widget", "listKind": "WidgetList"},
		"versions": []any{map[string]any{
			"name": "v1", "served": true, "storage": true,
			"schema": map[string]any{"openAPIV3Schema": map[string]any{
				"type": "object",
				"properties": map[string]any{
					"spec": map[string]any{"type": "object", "properties": map[string]any{
						"size": map[string]any{"type": "integer"},
					}},
				},
			}},
		}},
	}
	return u
}

// markDeploymentAvailable writes the status the deployment controller
// would write once one replica is up.
func markDeploymentAvailable(t *testing.T, namespace, name string) {
	t.Helper()
	r := shared.dyn.Resource(gvrDeployments).Namespace(namespace)
	d, err := r.Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	now := metav1.Now().UTC().Format(time.RFC3339)
	d.Object["status"] = map[string]any{
		"observedGeneration": d.GetGeneration(),
		"replicas":           int64(1),
		"updatedReplicas":    int64(1),
		"readyReplicas":      int64(1),
		"availableReplicas":  int64(1),
		"conditions": []any{
			map[string]any{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable", "lastUpdateTime": now, "lastTransitionTime": now},
			map[string]any{"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable", "lastUpdateTime": now, "lastTransitionTime": now},
		},
	}
	if _, err := r.UpdateStatus(t.Context(), d, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("updating deployment status: %v", err)
	}
}
