package kubeapply

import (
	"errors"
	"testing"
)

func TestObjectRefString(t *testing.T) {
	tests := []struct {
		name string
		ref  ObjectRef
		want string
	}{
		{"namespaced", ObjectRef{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "web", Name: "api"}, "Deployment/web/api"},
		{"cluster-scoped", ObjectRef{Version: "v1", Kind: "Namespace", Name: "web"}, "Namespace/web"},
		{"whole kind", ObjectRef{Group: "apps", Kind: "Deployment"}, "Deployment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.ref.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestResultErr(t *testing.T) {
	boom := errors.New("boom")
	cm := ObjectRef{Version: "v1", Kind: "ConfigMap", Namespace: "ns", Name: "a"}
	dep := ObjectRef{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "ns", Name: "b"}
	tests := []struct {
		name   string
		result Result
		want   string
	}{
		{"empty", Result{}, ""},
		{"all ok", Result{Applied: []ObjectResult{{Ref: cm}}, Pruned: []ObjectRef{dep}}, ""},
		{"one apply failure", Result{Applied: []ObjectResult{{Ref: cm}, {Ref: dep, Err: boom}}}, "applying Deployment/ns/b: boom"},
		{"apply failure first", Result{
			Applied:     []ObjectResult{{Ref: cm, Err: boom}, {Ref: dep, Err: boom}},
			PruneErrors: []ObjectResult{{Ref: dep, Err: boom}},
		}, "applying ConfigMap/ns/a: boom (and 2 more failures)"},
		{"prune failure only", Result{Applied: []ObjectResult{{Ref: cm}}, PruneErrors: []ObjectResult{{Ref: dep, Err: boom}}}, "pruning Deployment/ns/b: boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.result.Err()
			if got := errString(err); got != tt.want {
				t.Fatalf("Err() = %q, want %q", got, tt.want)
			}
			if err != nil && !errors.Is(err, boom) {
				t.Errorf("Err() does not wrap the object's error")
			}
		})
	}
}

func TestNewRejectsNilConfig(t *testing.T) {
	if _, err := New(nil, Options{}); err == nil {
		t.Error("New(nil) returned no error")
	}
}

func TestObjectRefCovers(t *testing.T) {
	cm := ObjectRef{Version: "v1", Kind: "ConfigMap", Namespace: "ns", Name: "a"}
	dep := ObjectRef{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "ns", Name: "a"}
	tests := []struct {
		name string
		ref  ObjectRef
		obj  ObjectRef
		want bool
	}{
		{"zero ref covers all", ObjectRef{}, dep, true},
		{"same object", cm, cm, true},
		{"other API version", ObjectRef{Version: "v2", Kind: "ConfigMap", Namespace: "ns", Name: "a"}, cm, true},
		{"other name", ObjectRef{Version: "v1", Kind: "ConfigMap", Namespace: "ns", Name: "b"}, cm, false},
		{"other namespace", ObjectRef{Version: "v1", Kind: "ConfigMap", Namespace: "x", Name: "a"}, cm, false},
		{"whole kind", ObjectRef{Kind: "ConfigMap"}, cm, true},
		{"whole kind, other kind", ObjectRef{Kind: "ConfigMap"}, dep, false},
		{"whole kind, other group", ObjectRef{Group: "example.com", Kind: "Deployment"}, dep, false},
		{"an object does not cover its kind", cm, ObjectRef{Kind: "ConfigMap"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.ref.Covers(tt.obj); got != tt.want {
				t.Errorf("%+v.Covers(%+v) = %v, want %v", tt.ref, tt.obj, got, tt.want)
			}
		})
	}
}
