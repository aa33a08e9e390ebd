package kubeapply

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func obj(apiVersion, kind, namespace, name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{}}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	u.SetNamespace(namespace)
	u.SetName(name)
	return u
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestPrepareChecks(t *testing.T) {
	noKind := obj("v1", "", "ns", "a")
	noName := obj("v1", "ConfigMap", "ns", "")
	genName := obj("v1", "ConfigMap", "ns", "")
	genName.SetGenerateName("a-")
	notJSON := obj("v1", "ConfigMap", "ns", "a")
	notJSON.Object["data"] = map[string]any{"n": 3} // int, not int64
	tests := []struct {
		name    string
		objs    []*unstructured.Unstructured
		wantErr []string
	}{
		{"valid", []*unstructured.Unstructured{obj("v1", "ConfigMap", "ns", "a"), obj("apps/v1", "Deployment", "ns", "a")}, []string{"", ""}},
		{"nil", []*unstructured.Unstructured{nil, obj("v1", "ConfigMap", "ns", "a")}, []string{"nil object", ""}},
		{"no apiVersion", []*unstructured.Unstructured{obj("", "ConfigMap", "ns", "a")}, []string{`invalid apiVersion ""`}},
		{"bad apiVersion", []*unstructured.Unstructured{obj("a/b/c", "ConfigMap", "ns", "a")}, []string{`invalid apiVersion "a/b/c"`}},
		{"no kind", []*unstructured.Unstructured{noKind}, []string{"missing kind"}},
		{"no name", []*unstructured.Unstructured{noName}, []string{"missing metadata.name"}},
		{"generateName", []*unstructured.Unstructured{genName}, []string{"generateName is not supported: apply needs a name"}},
		{"value JSON cannot hold", []*unstructured.Unstructured{notJSON}, []string{"copying object: cannot deep copy int"}},
		{"duplicate across versions", []*unstructured.Unstructured{
			obj("apps/v1", "Deployment", "ns", "a"), obj("apps/v1beta2", "Deployment", "ns", "a"), obj("apps/v1", "Deployment", "other", "a"),
		}, []string{"", "duplicate object in set", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			items := prepare(tt.objs, "id")
			var got []string
			for _, it := range items {
				got = append(got, errString(it.err))
				if (it.err == nil) != (it.obj != nil) {
					t.Errorf("item %s: err %v but obj %v", it.ref, it.err, it.obj)
				}
			}
			if diff := cmp.Diff(tt.wantErr, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPrepareCopies(t *testing.T) {
	in := obj("v1", "ConfigMap", "ns", "a")
	in.SetLabels(map[string]string{"app": "web"})
	in.SetResourceVersion("42")
	in.SetUID("uid-1")
	in.SetGeneration(3)
	in.Object["metadata"].(map[string]any)["creationTimestamp"] = nil
	in.Object["data"] = map[string]any{"k": "v"}
	before := in.DeepCopy()

	items := prepare([]*unstructured.Unstructured{in}, "applyset-x-v1")
	if diff := cmp.Diff(before.Object, in.Object); diff != "" {
		t.Errorf("prepare changed its input (-before +after):\n%s", diff)
	}
	want := map[string]any{
		"apiVersion": "v1",
		"kind":       "ConfigMap",
		"metadata": map[string]any{
			"name":      "a",
			"namespace": "ns",
			"labels":    map[string]any{"app": "web", LabelPartOf: "applyset-x-v1"},
		},
		"data": map[string]any{"k": "v"},
	}
	if diff := cmp.Diff(want, items[0].obj.Object); diff != "" {
		t.Errorf("applied copy (-want +got):\n%s", diff)
	}
	wantRef := ObjectRef{Version: "v1", Kind: "ConfigMap", Namespace: "ns", Name: "a"}
	if diff := cmp.Diff(wantRef, items[0].ref); diff != "" {
		t.Errorf("ref (-want +got):\n%s", diff)
	}
}

func TestPrepareWithoutID(t *testing.T) {
	items := prepare([]*unstructured.Unstructured{obj("v1", "ConfigMap", "ns", "a")}, "")
	if _, ok := items[0].obj.GetLabels()[LabelPartOf]; ok {
		t.Error("prepare without id labelled the object")
	}
}

func TestPhaseOf(t *testing.T) {
	tests := []struct {
		name string
		gk   schema.GroupKind
		want phase
	}{
		{"namespace", schema.GroupKind{Kind: "Namespace"}, phaseNamespaces},
		{"crd", schema.GroupKind{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}, phaseCRDs},
		{"configmap", schema.GroupKind{Kind: "ConfigMap"}, phaseRest},
		{"namespace of another group", schema.GroupKind{Group: "example.com", Kind: "Namespace"}, phaseRest},
		{"crd of another group", schema.GroupKind{Group: "example.com", Kind: "CustomResourceDefinition"}, phaseRest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := phaseOf(tt.gk); got != tt.want {
				t.Errorf("phaseOf(%v) = %v, want %v", tt.gk, got, tt.want)
			}
		})
	}
}

func TestResolveScope(t *testing.T) {
	namespaced := &meta.RESTMapping{Scope: meta.RESTScopeNamespace}
	cluster := &meta.RESTMapping{Scope: meta.RESTScopeRoot}
	tests := []struct {
		name    string
		o       *unstructured.Unstructured
		mapping *meta.RESTMapping
		wantNS  string
		wantErr string
	}{
		{"namespaced with namespace", obj("v1", "ConfigMap", "ns", "a"), namespaced, "ns", ""},
		{"namespaced without namespace", obj("v1", "ConfigMap", "", "a"), namespaced, "", "namespaced object has no namespace"},
		{"cluster-scoped", obj("v1", "Namespace", "", "a"), cluster, "", ""},
		{"cluster-scoped with stray namespace", obj("rbac.authorization.k8s.io/v1", "ClusterRole", "ns", "a"), cluster, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			it := prepare([]*unstructured.Unstructured{tt.o}, "id")[0]
			it.resolve(tt.mapping)
			if got := errString(it.err); got != tt.wantErr {
				t.Errorf("err = %q, want %q", got, tt.wantErr)
			}
			if it.ref.Namespace != tt.wantNS || it.obj.GetNamespace() != tt.wantNS {
				t.Errorf("namespace ref %q obj %q, want %q", it.ref.Namespace, it.obj.GetNamespace(), tt.wantNS)
			}
		})
	}
}

func TestDesiredInventory(t *testing.T) {
	items := prepare([]*unstructured.Unstructured{
		obj("v1", "Namespace", "", "web"),
		obj("v1", "ConfigMap", "web", "a"),
		obj("apps/v1", "Deployment", "web", "a"),
		obj("", "Broken", "elsewhere", "x"), // invalid: not recorded
	}, "id")
	inv := desiredInventory(items)
	got := []string{formatGroupKinds(inv.groupKinds), formatNamespaces(inv.namespaces, "")}
	want := []string{"ConfigMap,Deployment.apps,Namespace", "web"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("desiredInventory (-want +got):\n%s", diff)
	}
	keys := desiredKeys(items)
	if keys.Len() != 3 || !keys.Has(objKey{gk: schema.GroupKind{Group: "apps", Kind: "Deployment"}, namespace: "web", name: "a"}) {
		t.Errorf("desiredKeys = %v", keys)
	}
}
