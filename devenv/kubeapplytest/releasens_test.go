package kubeapplytest

import (
	"slices"
	"testing"

	"flotilla.io/flotilla/internal/kubeapply"
	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// releaseNamespace is a bundle's release namespace as the hub renders it
// for namespaceLabels and namespaceAnnotations.
func releaseNamespace(name string, labels, annotations map[string]string) *unstructured.Unstructured {
	u := object("v1", "Namespace", "", name)
	if len(labels) > 0 {
		u.SetLabels(labels)
	}
	ann := map[string]string{kubeapply.AnnotationReleaseNamespace: "true", kubeapply.AnnotationResourcePolicy: "keep"}
	for k, v := range annotations {
		ann[k] = v
	}
	u.SetAnnotations(ann)
	return u
}

// nsLabels reads a namespace's labels, failing when it is missing or being
// deleted.
func nsLabels(t *testing.T, name string) map[string]string {
	t.Helper()
	ns := get(t, gvrNamespaces, "", name)
	if ns == nil || ns.GetDeletionTimestamp() != nil {
		t.Fatalf("namespace %s is gone", name)
	}
	return ns.GetLabels()
}

func managers(u *unstructured.Unstructured) []string {
	var out []string
	for _, mf := range u.GetManagedFields() {
		out = append(out, mf.Manager)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// TestReleaseNamespaceSharedByTwoSets: two bundles released into one
// namespace with different namespaceLabels both keep their labels on it;
// neither set owns it (no part-of label, not in the inventory), and
// removing one bundle, or one of its labels, leaves the other's.
func TestReleaseNamespaceSharedByTwoSets(t *testing.T) {
	name := testName(t)
	setA, setB := name+"-a", name+"-b"
	a := newApplier(t)
	bundleA := func(labels map[string]string) kubeapply.Set {
		return kubeapply.Set{Name: setA, Objects: []*unstructured.Unstructured{
			releaseNamespace(name, labels, map[string]string{"owner-a": "a@example.com"}),
			configMap(name, "a-config", map[string]any{"k": "a"}),
		}}
	}
	bundleB := kubeapply.Set{Name: setB, Objects: []*unstructured.Unstructured{
		releaseNamespace(name, map[string]string{"team-b": "b"}, nil),
		configMap(name, "b-config", map[string]any{"k": "b"}),
	}}

	mustApply(t, a, bundleA(map[string]string{"team-a": "a", "tier": "monitoring"}))
	mustApply(t, a, bundleB)
	mustApply(t, a, bundleA(map[string]string{"team-a": "a", "tier": "monitoring"})) // no flip-flop either way

	labels := nsLabels(t, name)
	for k, v := range map[string]string{"team-a": "a", "tier": "monitoring", "team-b": "b"} {
		if labels[k] != v {
			t.Errorf("namespace label %s = %q, want %q (labels %v)", k, labels[k], v, labels)
		}
	}
	if id, ok := labels[kubeapply.LabelPartOf]; ok {
		t.Errorf("namespace carries the part-of label %q", id)
	}
	ns := get(t, gvrNamespaces, "", name)
	if ns.GetAnnotations()["owner-a"] != "a@example.com" {
		t.Errorf("namespace annotations = %v", ns.GetAnnotations())
	}
	wantManagers := []string{"flotilla-ns/" + setA, "flotilla-ns/" + setB}
	if got := managers(ns); !slices.Contains(got, wantManagers[0]) || !slices.Contains(got, wantManagers[1]) || slices.Contains(got, kubeapply.DefaultFieldManager) {
		t.Errorf("namespace managers = %v, want %v and not %s", got, wantManagers, kubeapply.DefaultFieldManager)
	}
	for _, s := range []string{setA, setB} {
		if got := parent(t, s).GetAnnotations()[kubeapply.AnnotationGroupKinds]; got != "ConfigMap" {
			t.Errorf("inventory of %s lists kinds %q, want ConfigMap", s, got)
		}
	}

	h, err := a.Health(t.Context(), bundleB)
	if err != nil {
		t.Fatal(err)
	}
	if !h.Ready || h.Objects[0].Status != "Current" {
		t.Errorf("health of %s = %+v, want Ready with the namespace Current", setB, h)
	}
	if drifts, err := a.Drifted(t.Context(), bundleB, nil, nil); err != nil || len(drifts) != 0 {
		t.Errorf("Drifted(%s) = %v, %v; want no drift", setB, drifts, err)
	}

	// A label leaves bundle A's namespaceLabels: it leaves the namespace.
	mustApply(t, a, bundleA(map[string]string{"team-a": "a"}))
	labels = nsLabels(t, name)
	if _, ok := labels["tier"]; ok || labels["team-a"] != "a" || labels["team-b"] != "b" {
		t.Errorf("labels after dropping tier from %s = %v", setA, labels)
	}

	// Bundle A goes: its objects go, the namespace and B's label stay.
	if err := a.Delete(t.Context(), setA); err != nil {
		t.Fatal(err)
	}
	if !gone(t, gvrConfigMaps, name, "a-config") {
		t.Error("a-config left after Delete")
	}
	if gone(t, gvrConfigMaps, name, "b-config") {
		t.Error("b-config deleted with the other set")
	}
	if labels = nsLabels(t, name); labels["team-b"] != "b" {
		t.Errorf("labels after deleting %s = %v", setA, labels)
	}
	// So does bundle B: nothing deletes the namespace.
	if err := a.Delete(t.Context(), setB); err != nil {
		t.Fatal(err)
	}
	nsLabels(t, name)
}

// TestReleaseNamespaceLeavesFormerSet: a release namespace an older agent
// applied as a member of its set (part-of label, the set's field manager)
// leaves the set at the next apply and is not pruned.
func TestReleaseNamespaceLeavesFormerSet(t *testing.T) {
	name := testName(t)
	a := newApplier(t)
	id := kubeapply.ApplySetID(name, kubeapply.DefaultParentNamespace)
	// What the older agent did: the namespace (kept) inside the set.
	old := object("v1", "Namespace", "", name)
	old.SetLabels(map[string]string{"team": "a", "stale": "x"})
	old.SetAnnotations(map[string]string{kubeapply.AnnotationResourcePolicy: "keep"})
	mustApply(t, a, kubeapply.Set{Name: name, Objects: []*unstructured.Unstructured{old, configMap(name, "cfg", nil)}})
	if got := nsLabels(t, name)[kubeapply.LabelPartOf]; got != id {
		t.Fatalf("setup: part-of label = %q, want %q", got, id)
	}

	res := mustApply(t, a, kubeapply.Set{Name: name, Objects: []*unstructured.Unstructured{
		releaseNamespace(name, map[string]string{"team": "a"}, nil), configMap(name, "cfg", nil),
	}})
	if len(res.Pruned) != 0 {
		t.Errorf("pruned %v", res.Pruned)
	}
	want := map[string]string{"team": "a", "kubernetes.io/metadata.name": name}
	if diff := cmp.Diff(want, nsLabels(t, name)); diff != "" {
		t.Errorf("labels after leaving the set (-want +got):\n%s", diff)
	}
	if got := managers(get(t, gvrNamespaces, "", name)); slices.Contains(got, kubeapply.DefaultFieldManager) {
		t.Errorf("the set's field manager still holds fields of the namespace: %v", got)
	}
	if err := a.Delete(t.Context(), name); err != nil {
		t.Fatal(err)
	}
	nsLabels(t, name)
}
