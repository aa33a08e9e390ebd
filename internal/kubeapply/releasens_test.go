package kubeapply

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
)

// releaseNS is a release namespace as the hub renders it.
func releaseNS(name string, labels map[string]string) *unstructured.Unstructured {
	u := obj("v1", "Namespace", "", name)
	u.SetLabels(labels)
	u.SetAnnotations(map[string]string{AnnotationReleaseNamespace: "true", AnnotationResourcePolicy: "keep"})
	return u
}

func TestIsReleaseNamespace(t *testing.T) {
	marked := func(apiVersion, kind, value string) *unstructured.Unstructured {
		u := obj(apiVersion, kind, "", "mon")
		u.SetAnnotations(map[string]string{AnnotationReleaseNamespace: value})
		return u
	}
	kept := obj("v1", "Namespace", "", "mon")
	kept.SetAnnotations(map[string]string{AnnotationResourcePolicy: "keep"})
	tests := []struct {
		name string
		o    *unstructured.Unstructured
		want bool
	}{
		{"release namespace", releaseNS("mon", nil), true},
		{"the bundle's own Namespace", obj("v1", "Namespace", "", "mon"), false},
		{"kept but not marked", kept, false},
		{"marked false", marked("v1", "Namespace", "false"), false},
		{"another kind", marked("v1", "ConfigMap", "true"), false},
		{"Namespace of another group", marked("example.com/v1", "Namespace", "true"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := isReleaseNamespace(tt.o); got != tt.want {
				t.Errorf("isReleaseNamespace = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPrepareReleaseNamespace(t *testing.T) {
	in := releaseNS("mon", map[string]string{"team": "a"})
	items := prepare([]*unstructured.Unstructured{
		in,
		obj("v1", "Namespace", "", "own"),
		obj("v1", "ConfigMap", "mon", "a"),
	}, "applyset-x-v1")
	rel := items[0]
	if !rel.release || rel.err != nil || rel.setID != "applyset-x-v1" {
		t.Fatalf("release namespace prepared as release=%v err=%v setID=%q", rel.release, rel.err, rel.setID)
	}
	if diff := cmp.Diff(in.GetLabels(), rel.obj.GetLabels()); diff != "" {
		t.Errorf("release namespace labels (-want +got):\n%s", diff)
	}
	if items[1].release || items[1].obj.GetLabels()[LabelPartOf] != "applyset-x-v1" {
		t.Errorf("the bundle's own Namespace is not a labelled member: %v", items[1].obj.GetLabels())
	}

	inv := desiredInventory(items)
	got := []string{formatGroupKinds(inv.groupKinds), formatNamespaces(inv.namespaces, "")}
	if diff := cmp.Diff([]string{"ConfigMap,Namespace", "mon"}, got); diff != "" {
		t.Errorf("inventory (-want +got):\n%s", diff)
	}
	onlyRelease := desiredInventory(prepare([]*unstructured.Unstructured{in, obj("v1", "ConfigMap", "mon", "a")}, "id"))
	if onlyRelease.groupKinds.Has(schema.GroupKind{Kind: "Namespace"}) {
		t.Errorf("inventory records Namespace for a release namespace: %v", onlyRelease.groupKinds)
	}
	// Prune must spare it even if an old apply left the part-of label.
	if !desiredKeys(items).Has(objKey{gk: schema.GroupKind{Kind: "Namespace"}, name: "mon"}) {
		t.Error("desiredKeys lacks the release namespace")
	}
}

func TestWatchSetOfSkipsReleaseNamespace(t *testing.T) {
	ws := WatchSetOf(Set{Name: "b", Objects: []*unstructured.Unstructured{
		releaseNS("mon", nil), obj("v1", "ConfigMap", "mon", "a"),
	}})
	if diff := cmp.Diff([]schema.GroupKind{{Kind: "ConfigMap"}}, ws.Kinds); diff != "" {
		t.Errorf("watched kinds (-want +got):\n%s", diff)
	}
}

func TestReleaseManager(t *testing.T) {
	a, err := New(&rest.Config{Host: "https://127.0.0.1:1"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := a.releaseManager("monitoring"); got != "flotilla-ns/monitoring" {
		t.Errorf("releaseManager = %q", got)
	}
	longest := strings.Repeat("m", 128-len(releaseManagerInfix)-maxSetName)
	a, err = New(&rest.Config{Host: "https://127.0.0.1:1"}, Options{FieldManager: longest})
	if err != nil {
		t.Fatalf("New with a %d-character field manager: %v", len(longest), err)
	}
	if got := a.releaseManager(strings.Repeat("b", maxSetName)); len(got) != 128 {
		t.Errorf("longest release manager has %d characters, want 128", len(got))
	}
	if _, err := New(&rest.Config{Host: "https://127.0.0.1:1"}, Options{FieldManager: longest + "m"}); err == nil {
		t.Error("New accepted a field manager whose release managers would be too long")
	}
}
