package kubeapply

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
)

// discoveryServer serves fixed discovery documents and records the paths
// asked for; a path missing from docs answers 404. The real API server is
// in devenv/kubeapplytest; this one injects the faults it cannot.
type discoveryServer struct {
	mu    sync.Mutex // guards the following
	docs  map[string]string
	asked []string
}

func (s *discoveryServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.asked = append(s.asked, r.URL.Path)
	doc, ok := s.docs[r.URL.Path]
	switch {
	case !ok:
		http.NotFound(w, r)
	case doc == "503":
		http.Error(w, "service unavailable", http.StatusServiceUnavailable)
	default:
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(doc))
	}
}

func (s *discoveryServer) set(path, doc string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.docs[path] = doc
}

func (s *discoveryServer) takeAsked() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.asked
	s.asked = nil
	return out
}

const (
	coreV1Doc = `{"kind":"APIResourceList","groupVersion":"v1","resources":[
		{"name":"configmaps","namespaced":true,"kind":"ConfigMap"},
		{"name":"namespaces","namespaced":false,"kind":"Namespace"},
		{"name":"namespaces/status","namespaced":false,"kind":"Namespace"}]}`
	appsDoc = `{"kind":"APIGroup","name":"apps","versions":[{"groupVersion":"apps/v1","version":"v1"}],
		"preferredVersion":{"groupVersion":"apps/v1","version":"v1"}}`
	appsV1Doc = `{"kind":"APIResourceList","groupVersion":"apps/v1","resources":[
		{"name":"deployments/scale","namespaced":true,"group":"autoscaling","version":"v1","kind":"Scale"},
		{"name":"deployments","namespaced":true,"kind":"Deployment"}]}`
	widgetsDoc = `{"kind":"APIGroup","name":"example.com","versions":[
		{"groupVersion":"example.com/v2","version":"v2"},{"groupVersion":"example.com/v1","version":"v1"}],
		"preferredVersion":{"groupVersion":"example.com/v2","version":"v2"}}`
	widgetsV2Doc = `{"kind":"APIResourceList","groupVersion":"example.com/v2","resources":[]}`
	widgetsV1Doc = `{"kind":"APIResourceList","groupVersion":"example.com/v1","resources":[
		{"name":"gadgets","namespaced":false,"kind":"Gadget"}]}`
)

func newTestMapper(t *testing.T, docs map[string]string) (*lazyMapper, *discoveryServer) {
	t.Helper()
	s := &discoveryServer{docs: docs}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	d, err := newDiscoverer(&rest.Config{Host: srv.URL, QPS: -1}, srv.Client()) // no client rate limit
	if err != nil {
		t.Fatal(err)
	}
	return newLazyMapper(d), s
}

func TestLazyMapperMapping(t *testing.T) {
	docs := map[string]string{
		"/api/v1":              coreV1Doc,
		"/apis/apps":           appsDoc,
		"/apis/apps/v1":        appsV1Doc,
		"/apis/example.com":    widgetsDoc,
		"/apis/example.com/v2": widgetsV2Doc,
		"/apis/example.com/v1": widgetsV1Doc,
		"/apis/broken/v1":      "503",
		"/apis/garbled/v1":     `{"resources": 7}`,
	}
	tests := []struct {
		name      string
		gk        schema.GroupKind
		versions  []string
		resource  string // "" when an error is wanted
		namespace bool
		noMatch   bool
		asked     []string
	}{
		{"core kind at its version", schema.GroupKind{Kind: "ConfigMap"}, []string{"v1"}, "configmaps", true, false, []string{"/api/v1"}},
		{"cluster-scoped, subresource skipped", schema.GroupKind{Kind: "Namespace"}, []string{"v1"}, "namespaces", false, false, []string{"/api/v1"}},
		{"core kind, any version", schema.GroupKind{Kind: "ConfigMap"}, nil, "configmaps", true, false, []string{"/api/v1"}},
		{"group kind at its version", schema.GroupKind{Group: "apps", Kind: "Deployment"}, []string{"v1"}, "deployments", true, false, []string{"/apis/apps/v1"}},
		{"group kind, preferred version", schema.GroupKind{Group: "apps", Kind: "Deployment"}, nil, "deployments", true, false, []string{"/apis/apps", "/apis/apps/v1"}},
		{"kind only at a non-preferred version", schema.GroupKind{Group: "example.com", Kind: "Gadget"}, nil, "gadgets", false, false,
			[]string{"/apis/example.com", "/apis/example.com/v2", "/apis/example.com/v1"}},
		{"a subresource's kind is no object", schema.GroupKind{Group: "apps", Kind: "Scale"}, []string{"v1"}, "", false, true, []string{"/apis/apps/v1"}},
		{"unknown kind of a served version", schema.GroupKind{Kind: "Gadget"}, []string{"v1"}, "", false, true, []string{"/api/v1"}},
		{"version not served", schema.GroupKind{Group: "apps", Kind: "Deployment"}, []string{"v1beta9"}, "", false, true, []string{"/apis/apps/v1beta9"}},
		{"group not served", schema.GroupKind{Group: "nope.io", Kind: "Thing"}, nil, "", false, true, []string{"/apis/nope.io"}},
		{"group unavailable is an error, not unknown", schema.GroupKind{Group: "broken", Kind: "Thing"}, []string{"v1"}, "", false, false, []string{"/apis/broken/v1"}},
		{"garbled document is an error", schema.GroupKind{Group: "garbled", Kind: "Thing"}, []string{"v1"}, "", false, false, []string{"/apis/garbled/v1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, s := newTestMapper(t, docs)
			ctx := context.Background()
			got, err := m.RESTMappingWithContext(ctx, tc.gk, tc.versions...)
			if asked := s.takeAsked(); !slices.Equal(asked, tc.asked) {
				t.Errorf("asked %v, want %v", asked, tc.asked)
			}
			if tc.resource == "" {
				if err == nil {
					t.Fatalf("mapped to %v, want an error", got.Resource)
				}
				if meta.IsNoMatchError(err) != tc.noMatch {
					t.Errorf("error %v: no-match %v, want %v", err, meta.IsNoMatchError(err), tc.noMatch)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Resource.Resource != tc.resource || got.Resource.Group != tc.gk.Group || got.GroupVersionKind.Kind != tc.gk.Kind {
				t.Errorf("mapping = %v %v, want resource %s", got.Resource, got.GroupVersionKind, tc.resource)
			}
			if ns := got.Scope.Name() == meta.RESTScopeNameNamespace; ns != tc.namespace {
				t.Errorf("namespaced = %v, want %v", ns, tc.namespace)
			}
			// Asked again, it answers from what it holds.
			if _, err := m.RESTMappingWithContext(ctx, tc.gk, tc.versions...); err != nil {
				t.Fatal(err)
			}
			if asked := s.takeAsked(); len(asked) > 0 {
				t.Errorf("asked again for %v", asked)
			}
		})
	}
}

// TestLazyMapperReset checks that a kind served after it was looked up is
// found once the mapper is reset (what a CRD applied by the set needs),
// that a miss is remembered until then, and that errors are not.
func TestLazyMapperReset(t *testing.T) {
	m, s := newTestMapper(t, map[string]string{"/apis/example.com/v1": "503"})
	ctx := context.Background()
	gadget := schema.GroupKind{Group: "example.com", Kind: "Gadget"}

	if _, err := m.RESTMappingWithContext(ctx, gadget, "v1"); err == nil || meta.IsNoMatchError(err) {
		t.Fatalf("unavailable group: error %v, want a failure that is not a no-match", err)
	}
	s.set("/apis/example.com/v1", `{"resources":[]}`)
	if _, err := m.RESTMappingWithContext(ctx, gadget, "v1"); !meta.IsNoMatchError(err) {
		t.Fatalf("error %v, want no match (the failure must not be kept)", err)
	}
	s.set("/apis/example.com/v1", widgetsV1Doc)
	if _, err := m.RESTMappingWithContext(ctx, gadget, "v1"); !meta.IsNoMatchError(err) {
		t.Fatalf("error %v, want the miss kept until a reset", err)
	}
	if asked := s.takeAsked(); len(asked) != 2 {
		t.Errorf("asked %v, want two requests", asked)
	}
	m.ResetWithContext(ctx)
	got, err := m.RESTMappingWithContext(ctx, gadget, "v1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Resource.Resource != "gadgets" {
		t.Errorf("resource = %s, want gadgets", got.Resource.Resource)
	}
}

// TestResolverWrapsUnknownKind checks the error the rest of the package
// tests for.
func TestResolverWrapsUnknownKind(t *testing.T) {
	m, _ := newTestMapper(t, map[string]string{"/api/v1": coreV1Doc})
	res := &resolver{mapper: m}
	_, err := res.mapping(context.Background(), schema.GroupKind{Kind: "Gadget"}, "v1")
	if !errors.Is(err, ErrUnknownKind) {
		t.Errorf("error %v does not wrap ErrUnknownKind", err)
	}
}

// TestLazyMapperConcurrent maps and resets from several goroutines at once,
// as an apply and the drift watches do (run it with -race).
func TestLazyMapperConcurrent(t *testing.T) {
	m, _ := newTestMapper(t, map[string]string{"/api/v1": coreV1Doc, "/apis/apps": appsDoc, "/apis/apps/v1": appsV1Doc})
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 20 {
				if i == 0 {
					m.ResetWithContext(ctx)
				}
				if _, err := m.RESTMappingWithContext(ctx, schema.GroupKind{Group: "apps", Kind: "Deployment"}); err != nil {
					t.Error(err)
					return
				}
				if _, err := m.RESTMappingWithContext(ctx, schema.GroupKind{Kind: "ConfigMap"}, "v1"); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}
