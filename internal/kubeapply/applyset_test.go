package kubeapply

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
)

func TestApplySetID(t *testing.T) {
	// Expected values computed outside Go:
	//   printf '%s' 'flotilla-web.flotilla-system.ConfigMap.' |
	//     openssl dgst -sha256 -binary | base64 | tr -d = | tr /+ _-
	tests := []struct {
		name, set, namespace, want string
	}{
		{"web", "web", "flotilla-system", "applyset-_NbE_YyEKZUsRNpQ7UshJz3op0NbUXe-kNt9gM15A48-v1"},
		{"short", "a", "flotilla-system", "applyset-9Ht7YsfGkit7G8Tq0sv-SJDInSxaDV3zLA8AmGfHVdY-v1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ApplySetID(tt.set, tt.namespace); got != tt.want {
				t.Errorf("ApplySetID(%q, %q) = %q, want %q", tt.set, tt.namespace, got, tt.want)
			}
		})
	}
}

func TestApplySetIDIsLabelValue(t *testing.T) {
	id := ApplySetID(strings.Repeat("x", 63), strings.Repeat("n", 63))
	if len(id) > 63 {
		t.Errorf("id %q is %d chars, longer than a label value may be", id, len(id))
	}
}

func TestValidateSetName(t *testing.T) {
	tests := []struct {
		name    string
		set     string
		wantErr bool
	}{
		{"plain", "web", false},
		{"with dash", "edge-mqtt", false},
		{"max length", strings.Repeat("a", 63), false},
		{"too long", strings.Repeat("a", 64), true},
		{"empty", "", true},
		{"upper", "Web", true},
		{"dot", "a.b", true},
		{"slash", "a/b", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := validateSetName(tt.set); (err != nil) != tt.wantErr {
				t.Errorf("validateSetName(%q) = %v, want error %v", tt.set, err, tt.wantErr)
			}
		})
	}
}

func TestParseGroupKinds(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []schema.GroupKind
		wantErr bool
	}{
		{"empty", "", nil, false},
		{"core", "ConfigMap", []schema.GroupKind{{Kind: "ConfigMap"}}, false},
		{"grouped", "Deployment.apps", []schema.GroupKind{{Group: "apps", Kind: "Deployment"}}, false},
		{"dotted group", "Widget.example.com", []schema.GroupKind{{Group: "example.com", Kind: "Widget"}}, false},
		{"several with spaces", "ConfigMap, Deployment.apps", []schema.GroupKind{{Kind: "ConfigMap"}, {Group: "apps", Kind: "Deployment"}}, false},
		{"empty entry", "ConfigMap,,Secret", nil, true},
		{"no kind", ".apps", nil, true},
		{"slash", "apps/v1", nil, true},
		{"control character", "0\r.", nil, true},
		{"trailing dot", "ConfigMap.", nil, true},
		{"digit first", "9Lives", nil, true},
		{"bad group", "Widget.Example_Com", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseGroupKinds(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseGroupKinds(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if diff := cmp.Diff(sets.New(tt.want...), got); diff != "" {
				t.Errorf("parseGroupKinds(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestFormatGroupKinds(t *testing.T) {
	gks := sets.New(
		schema.GroupKind{Group: "apps", Kind: "Deployment"},
		schema.GroupKind{Kind: "ConfigMap"},
		schema.GroupKind{Group: "example.com", Kind: "Widget"},
		schema.GroupKind{Kind: "Namespace"},
	)
	// kubectl sorts the rendered strings: capitals before dots.
	want := "ConfigMap,Deployment.apps,Namespace,Widget.example.com"
	if got := formatGroupKinds(gks); got != want {
		t.Errorf("formatGroupKinds = %q, want %q", got, want)
	}
	back, err := parseGroupKinds(want)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(gks, back); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestNamespacesAnnotation(t *testing.T) {
	tests := []struct {
		name   string
		in     []string
		parent string
		want   string
	}{
		{"none", nil, "flotilla-system", ""},
		{"parent dropped", []string{"flotilla-system", "b", "a"}, "flotilla-system", "a,b"},
		{"empty dropped", []string{"", "x"}, "p", "x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := formatNamespaces(sets.New(tt.in...), tt.parent)
			if got != tt.want {
				t.Fatalf("formatNamespaces = %q, want %q", got, tt.want)
			}
			back, err := parseNamespaces(got)
			if err != nil {
				t.Fatal(err)
			}
			if back.Has(tt.parent) || back.Has("") {
				t.Errorf("parsed %v holds the parent or an empty name", back)
			}
		})
	}
	if _, err := parseNamespaces("a,Bad_Name"); err == nil {
		t.Error("parseNamespaces accepted an invalid namespace")
	}
}

func TestParentObject(t *testing.T) {
	inv := inventory{
		groupKinds: sets.New(schema.GroupKind{Kind: "ConfigMap"}, schema.GroupKind{Group: "apps", Kind: "Deployment"}),
		namespaces: sets.New("flotilla-system", "web"),
	}
	p := parentObject("web", "flotilla-system", inv)
	want := map[string]any{
		"apiVersion": "v1",
		"kind":       "ConfigMap",
		"metadata": map[string]any{
			"name":      "flotilla-web",
			"namespace": "flotilla-system",
			"labels":    map[string]any{LabelApplySetID: "applyset-_NbE_YyEKZUsRNpQ7UshJz3op0NbUXe-kNt9gM15A48-v1"},
			"annotations": map[string]any{
				AnnotationTooling:    "flotilla/v1",
				AnnotationGroupKinds: "ConfigMap,Deployment.apps",
				AnnotationNamespaces: "web",
			},
		},
	}
	if diff := cmp.Diff(want, p.Object); diff != "" {
		t.Errorf("parentObject (-want +got):\n%s", diff)
	}
	got, err := readInventory("web", "flotilla-system", p.GetLabels(), p.GetAnnotations())
	if err != nil {
		t.Fatal(err)
	}
	inv.namespaces.Delete("flotilla-system") // the parent's own namespace is implied
	if diff := cmp.Diff(inv, got, cmp.AllowUnexported(inventory{})); diff != "" {
		t.Errorf("readInventory (-want +got):\n%s", diff)
	}
}

func TestCheckOwned(t *testing.T) {
	id := ApplySetID("web", "ns")
	tests := []struct {
		name        string
		labels      map[string]string
		annotations map[string]string
		wantErr     bool
	}{
		{"ours", map[string]string{LabelApplySetID: id}, map[string]string{AnnotationTooling: "flotilla/v1"}, false},
		{"later version of ours", map[string]string{LabelApplySetID: id}, map[string]string{AnnotationTooling: "flotilla/v2"}, false},
		{"kubectl", map[string]string{LabelApplySetID: id}, map[string]string{AnnotationTooling: "kubectl/v1.37"}, true},
		{"prefix trick", map[string]string{LabelApplySetID: id}, map[string]string{AnnotationTooling: "flotillax/v1"}, true},
		{"no tooling", map[string]string{LabelApplySetID: id}, nil, true},
		{"wrong id", map[string]string{LabelApplySetID: ApplySetID("other", "ns")}, map[string]string{AnnotationTooling: "flotilla/v1"}, true},
		{"no labels", nil, map[string]string{AnnotationTooling: "flotilla/v1"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkOwned("web", "ns", tt.labels, tt.annotations)
			if (err != nil) != tt.wantErr {
				t.Errorf("checkOwned = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}
