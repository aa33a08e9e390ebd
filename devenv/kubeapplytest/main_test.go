package kubeapplytest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"flotilla.io/flotilla/devenv/kubeapiserver"
	"flotilla.io/flotilla/internal/kubeapply"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

// env is the API server shared by the tests of this package; each test
// works in its own namespace and set.
type env struct {
	cfg *rest.Config
	dyn dynamic.Interface
}

// shared is set once by TestMain before any test runs and read only.
var shared env

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "kubeapplytest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "creating temp dir:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	began := time.Now()
	srv, err := kubeapiserver.Start(ctx, kubeapiserver.Options{Dir: dir})
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting kube-apiserver:", err)
		return 1
	}
	defer func() {
		if err := srv.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}()
	fmt.Fprintf(os.Stderr, "kube-apiserver ready in %v\n", time.Since(began).Round(time.Millisecond))
	shared.cfg = srv.Config()
	shared.dyn, err = dynamic.NewForConfig(shared.cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "creating dynamic client:", err)
		return 1
	}
	return m.Run()
}

func logger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return nil
}

// newApplier returns an Applier with the package's own client defaults:
// the server's admin config comes with a raised rate limit, which is reset
// so the tests see what the agent sees.
func newApplier(t *testing.T) *kubeapply.Applier {
	t.Helper()
	cfg := rest.CopyConfig(shared.cfg)
	cfg.QPS, cfg.Burst = 0, 0
	a, err := kubeapply.New(cfg, kubeapply.Options{Logger: logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

var nonDNS = regexp.MustCompile(`[^a-z0-9]+`)

// testName turns the test's name into a DNS label, used both as the
// test's namespace and its set name.
func testName(t *testing.T) string {
	n := strings.Trim(nonDNS.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	if len(n) > 50 {
		n = strings.TrimRight(n[:50], "-")
	}
	return n
}

// newNamespace creates a namespace for one test (namespaces never finalize
// without a controller-manager, so none is deleted).
func newNamespace(t *testing.T, name string) string {
	t.Helper()
	ns := object("v1", "Namespace", "", name)
	if _, err := shared.dyn.Resource(gvrNamespaces).Create(t.Context(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
	return name
}

var (
	gvrNamespaces  = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	gvrConfigMaps  = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	gvrSecrets     = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
	gvrDeployments = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	gvrCRDs        = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
)

func object(apiVersion, kind, namespace, name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{}}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	u.SetName(name)
	if namespace != "" {
		u.SetNamespace(namespace)
	}
	return u
}

func configMap(namespace, name string, data map[string]any) *unstructured.Unstructured {
	u := object("v1", "ConfigMap", namespace, name)
	u.Object["data"] = data
	return u
}

func deployment(namespace, name string) *unstructured.Unstructured {
	u := object("apps/v1", "Deployment", namespace, name)
	labels := map[string]any{"app": name}
	u.Object["spec"] = map[string]any{
		"replicas": int64(1),
		"selector": map[string]any{"matchLabels": labels},
		"template": map[string]any{
			"metadata": map[string]any{"labels": labels},
			"spec": map[string]any{"containers": []any{
				map[string]any{"name": "app", "image": "registry.invalid/app:1"},
			}},
		},
	}
	return u
}

// get reads an object; nil when it does not exist.
func get(t *testing.T, gvr schema.GroupVersionResource, namespace, name string) *unstructured.Unstructured {
	t.Helper()
	var r dynamic.ResourceInterface = shared.dyn.Resource(gvr)
	if namespace != "" {
		r = shared.dyn.Resource(gvr).Namespace(namespace)
	}
	u, err := r.Get(t.Context(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatalf("getting %s %s/%s: %v", gvr.Resource, namespace, name, err)
	}
	return u
}

// gone reports whether an object no longer exists or is being deleted.
func gone(t *testing.T, gvr schema.GroupVersionResource, namespace, name string) bool {
	u := get(t, gvr, namespace, name)
	return u == nil || u.GetDeletionTimestamp() != nil
}

func apply(t *testing.T, a *kubeapply.Applier, set kubeapply.Set) kubeapply.Result {
	t.Helper()
	res, err := a.Apply(t.Context(), set)
	if err != nil {
		t.Fatalf("Apply(%s): %v", set.Name, err)
	}
	return res
}

func mustApply(t *testing.T, a *kubeapply.Applier, set kubeapply.Set) kubeapply.Result {
	t.Helper()
	res := apply(t, a, set)
	if err := res.Err(); err != nil {
		t.Fatalf("Apply(%s): %v", set.Name, err)
	}
	return res
}

// parent reads the ApplySet parent of a set.
func parent(t *testing.T, set string) *unstructured.Unstructured {
	t.Helper()
	return get(t, gvrConfigMaps, kubeapply.DefaultParentNamespace, kubeapply.ParentName(set))
}

// poll calls cond until it is true or the deadline passes.
func poll(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		select {
		case <-t.Context().Done():
			t.Fatal(t.Context().Err())
		case <-tick.C:
		}
	}
}
