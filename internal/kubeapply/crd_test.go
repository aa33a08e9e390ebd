package kubeapply

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func crdWith(conditions ...map[string]any) *unstructured.Unstructured {
	u := obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", "", "widgets.example.com")
	conds := make([]any, len(conditions))
	for i, c := range conditions {
		conds[i] = c
	}
	u.Object["status"] = map[string]any{"conditions": conds}
	return u
}

func TestCRDEstablished(t *testing.T) {
	tests := []struct {
		name    string
		crd     *unstructured.Unstructured
		want    bool
		wantErr bool
	}{
		{"no status", obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", "", "w"), false, false},
		{"established", crdWith(map[string]any{"type": "Established", "status": "True"}), true, false},
		{"not yet", crdWith(map[string]any{"type": "Established", "status": "False"}), false, false},
		{"names refused", crdWith(map[string]any{"type": "NamesAccepted", "status": "False", "message": "taken"}), false, true},
		{"garbage conditions", func() *unstructured.Unstructured {
			u := obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", "", "w")
			u.Object["status"] = map[string]any{"conditions": []any{"x", 3}}
			return u
		}(), false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := crdEstablished(tt.crd)
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Errorf("crdEstablished = %v, %v; want %v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestEstablishedKinds(t *testing.T) {
	crd := obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", "", "widgets.example.com")
	crd.Object["spec"] = map[string]any{
		"group": "example.com",
		"names": map[string]any{"kind": "Widget", "plural": "widgets"},
		"versions": []any{
			map[string]any{"name": "v1", "served": true},
			map[string]any{"name": "v1alpha1", "served": false},
		},
	}
	failed := crd.DeepCopy()
	failed.SetName("failed")
	items := prepare([]*unstructured.Unstructured{crd, failed}, "id")
	items[1].err = errBoom
	want := []servedKind{{gk: schema.GroupKind{Group: "example.com", Kind: "Widget"}, versions: []string{"v1"}}}
	if diff := cmp.Diff(want, establishedKinds(items), cmp.AllowUnexported(servedKind{})); diff != "" {
		t.Errorf("establishedKinds (-want +got):\n%s", diff)
	}
}

var errBoom = errors.New("boom")
