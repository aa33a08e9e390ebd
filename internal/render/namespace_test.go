package render

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"flotilla.io/flotilla/internal/bundle"
)

func TestEnsureNamespace(t *testing.T) {
	own := func() item {
		ns := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace"}}
		ns.SetName("mon")
		ns.SetLabels(map[string]string{"mine": "yes"})
		return item{obj: ns, file: "ns.yaml"}
	}
	tests := []struct {
		name  string
		items []item
		opts  bundle.DeploymentOptions
		want  []map[string]any // the Namespace objects of the result
	}{
		{
			name: "release namespace added, marked and kept",
			opts: bundle.DeploymentOptions{DefaultNamespace: "mon", NamespaceLabels: map[string]string{"team": "a"}, NamespaceAnnotations: map[string]string{"note": "x"}},
			want: []map[string]any{{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{
				"name":   "mon",
				"labels": map[string]any{"team": "a"},
				"annotations": map[string]any{
					"note": "x", ReleaseNamespaceAnnotation: "true", KeepAnnotation: "keep",
				},
			}}},
		},
		{
			name: "namespace wins over defaultNamespace",
			opts: bundle.DeploymentOptions{Namespace: "forced", DefaultNamespace: "mon"},
			want: []map[string]any{{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{
				"name":        "forced",
				"annotations": map[string]any{ReleaseNamespaceAnnotation: "true", KeepAnnotation: "keep"},
			}}},
		},
		{
			name: "deleteNamespace: an ordinary object of the bundle",
			opts: bundle.DeploymentOptions{DefaultNamespace: "mon", DeleteNamespace: true, NamespaceLabels: map[string]string{"team": "a"}},
			want: []map[string]any{{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{
				"name":   "mon",
				"labels": map[string]any{"team": "a"},
			}}},
		},
		{
			name:  "the bundle's own Namespace stays its own",
			items: []item{own()},
			opts:  bundle.DeploymentOptions{DefaultNamespace: "mon", NamespaceLabels: map[string]string{"team": "a"}},
			want: []map[string]any{{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{
				"name":   "mon",
				"labels": map[string]any{"mine": "yes", "team": "a"},
			}}},
		},
		{
			name: "built-in namespace never rendered",
			opts: bundle.DeploymentOptions{DefaultNamespace: "kube-system", NamespaceLabels: map[string]string{"team": "a"}},
		},
		{
			name: "no namespace given: default, never rendered",
			opts: bundle.DeploymentOptions{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []map[string]any
			for _, it := range ensureNamespace(tt.items, tt.opts) {
				if it.obj.GetKind() == "Namespace" {
					got = append(got, it.obj.Object)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("namespaces (-want +got):\n%s", diff)
			}
		})
	}
}
