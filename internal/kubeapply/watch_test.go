package kubeapply

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestNewRoutes(t *testing.T) {
	cm := schema.GroupKind{Kind: "ConfigMap"}
	dep := schema.GroupKind{Group: "apps", Kind: "Deployment"}
	r := newRoutes([]WatchSet{
		{Name: "a", Kinds: []schema.GroupKind{cm, dep}},
		{Name: "b", Kinds: []schema.GroupKind{cm}},
		{Name: "a", Kinds: []schema.GroupKind{cm}}, // a duplicate is ignored
		{Name: "Not_A_Label", Kinds: []schema.GroupKind{cm}},
	}, "flotilla-system")
	want := &routes{
		sets:  map[string]string{ApplySetID("a", "flotilla-system"): "a", ApplySetID("b", "flotilla-system"): "b"},
		names: map[string]bool{"a": true, "b": true},
		kinds: map[schema.GroupKind][]string{cm: {"a", "b"}, dep: {"a"}},
	}
	if diff := cmp.Diff(want, r, cmp.AllowUnexported(routes{})); diff != "" {
		t.Errorf("routes (-want +got):\n%s", diff)
	}
}
