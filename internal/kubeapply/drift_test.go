package kubeapply

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func cm(data map[string]any, rv string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "c", "namespace": "ns", "resourceVersion": rv,
			"managedFields": []any{map[string]any{"manager": rv}}},
		"data": data,
	}}
}

func TestSameContent(t *testing.T) {
	tests := []struct {
		name      string
		live, dry *unstructured.Unstructured
		ignore    []IgnoreRule
		want      bool
	}{
		{"same but for server fields", cm(map[string]any{"a": "1"}, "1"), cm(map[string]any{"a": "1"}, "2"), nil, true},
		{"value changed", cm(map[string]any{"a": "x"}, "1"), cm(map[string]any{"a": "1"}, "1"), nil, false},
		{"ignored field", cm(map[string]any{"a": "x", "b": "1"}, "1"), cm(map[string]any{"a": "1", "b": "1"}, "1"),
			[]IgnoreRule{{Kind: "ConfigMap", Pointers: []string{"/data/a"}}}, true},
		{"rule for another kind", cm(map[string]any{"a": "x"}, "1"), cm(map[string]any{"a": "1"}, "1"),
			[]IgnoreRule{{Kind: "Secret", Pointers: []string{"/data/a"}}}, false},
		{"escaped pointer", cm(map[string]any{"a/b": "x"}, "1"), cm(map[string]any{"a/b": "1"}, "1"),
			[]IgnoreRule{{Pointers: []string{"/data/a~1b"}}}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := sameContent(tc.live, tc.dry, tc.dry, tc.ignore); got != tc.want {
				t.Errorf("sameContent = %v, want %v", got, tc.want)
			}
		})
	}
}

func FuzzRemovePointer(f *testing.F) {
	for _, s := range []string{"/data/a", "/spec/containers/0/image", "/", "", "/~1/~0", "/a/99"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		obj := map[string]any{"data": map[string]any{"a": "1"}, "spec": map[string]any{"containers": []any{map[string]any{"image": "x"}}}}
		removePointer(obj, p) // must not panic
	})
}

func TestLastWriterIsUs(t *testing.T) {
	t0 := metav1.NewTime(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
	t1 := metav1.NewTime(t0.Add(time.Second))
	ours := func(at metav1.Time) metav1.ManagedFieldsEntry {
		return metav1.ManagedFieldsEntry{Manager: "flotilla", Operation: metav1.ManagedFieldsOperationApply, Time: &at}
	}
	theirs := func(at metav1.Time) metav1.ManagedFieldsEntry {
		return metav1.ManagedFieldsEntry{Manager: "kubectl-edit", Operation: metav1.ManagedFieldsOperationUpdate, Time: &at}
	}
	tests := []struct {
		name    string
		entries []metav1.ManagedFieldsEntry
		want    bool
	}{
		{"only ours", []metav1.ManagedFieldsEntry{ours(t0)}, true},
		{"someone after us", []metav1.ManagedFieldsEntry{ours(t0), theirs(t1)}, false},
		{"us after someone", []metav1.ManagedFieldsEntry{theirs(t0), ours(t1)}, true},
		{"same second", []metav1.ManagedFieldsEntry{ours(t0), theirs(t0)}, false},
		{"none", nil, false},
	}
	a := &Applier{opts: Options{FieldManager: "flotilla"}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := a.lastWriterIsUs(tc.entries); got != tc.want {
				t.Errorf("lastWriterIsUs = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestKeptByPolicy(t *testing.T) {
	tests := []struct {
		name string
		ann  map[string]string
		want bool
	}{
		{"none", nil, false},
		{"keep", map[string]string{AnnotationResourcePolicy: "keep"}, true},
		{"keep with spaces", map[string]string{AnnotationResourcePolicy: " keep "}, true},
		{"other value", map[string]string{AnnotationResourcePolicy: "delete"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := keptByPolicy(tc.ann); got != tc.want {
				t.Errorf("keptByPolicy = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCovered(t *testing.T) {
	cm := ObjectRef{Version: "v1", Kind: "ConfigMap", Namespace: "ns", Name: "a"}
	tests := []struct {
		name string
		refs []ObjectRef
		ref  ObjectRef
		want bool
	}{
		{"nil refs: everything", nil, cm, true},
		{"empty refs: everything too", []ObjectRef{}, cm, true},
		{"the zero ref: everything", []ObjectRef{{}}, cm, true},
		{"named", []ObjectRef{{Kind: "Secret"}, cm}, cm, true},
		{"named at another version", []ObjectRef{{Version: "v2", Kind: "ConfigMap", Namespace: "ns", Name: "a"}}, cm, true},
		{"its whole kind", []ObjectRef{{Kind: "ConfigMap"}}, cm, true},
		{"not named", []ObjectRef{{Kind: "Secret"}}, cm, false},
		{"another object of its kind", []ObjectRef{{Kind: "ConfigMap", Namespace: "ns", Name: "b"}}, cm, false},
		{"a kind is not covered by one of its objects", []ObjectRef{cm}, ObjectRef{Kind: "ConfigMap"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Covered(tt.refs, tt.ref); got != tt.want {
				t.Errorf("Covered(%v, %v) = %v, want %v", tt.refs, tt.ref, got, tt.want)
			}
		})
	}
}

func TestMayCoverKind(t *testing.T) {
	cm := ObjectRef{Version: "v1", Kind: "ConfigMap", Namespace: "ns", Name: "a"}
	cmKind, secretKind := schema.GroupKind{Kind: "ConfigMap"}, schema.GroupKind{Kind: "Secret"}
	tests := []struct {
		name string
		refs []ObjectRef
		gk   schema.GroupKind
		want bool
	}{
		{"no refs: every kind", nil, cmKind, true},
		{"empty refs: every kind", []ObjectRef{}, cmKind, true},
		{"the zero ref: every kind", []ObjectRef{{}}, secretKind, true},
		{"a kind some ref names an object of", []ObjectRef{cm}, cmKind, true},
		{"a kind no ref names", []ObjectRef{cm}, secretKind, false},
		{"same kind, another group", []ObjectRef{{Group: "example.com", Kind: "ConfigMap"}}, cmKind, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mayCoverKind(tt.refs, tt.gk); got != tt.want {
				t.Errorf("mayCoverKind(%v, %v) = %v, want %v", tt.refs, tt.gk, got, tt.want)
			}
		})
	}
}
