package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	nodev1 "k8s.io/api/node/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"flotilla.io/flotilla/internal/kubeapply"
	"flotilla.io/flotilla/internal/wire"
)

// A Fleet-layout repository: a Kustomize bundle with per-env overlays
// chosen by targetCustomizations, a second bundle released into the same
// namespace with other namespaceLabels, a local Helm chart with per-target
// values, and a WASM bundle that only clusters with the wasmtime
// RuntimeClass receive.
var fleetRepo = map[string]string{
	"apps/web/fleet.yaml": `defaultNamespace: web
namespaceLabels:
  team: web
kustomize:
  dir: overlays/dev
targetCustomizations:
  - name: prod
    clusterSelector:
      matchLabels: {env: prod}
    kustomize:
      dir: overlays/prod
`,
	"apps/web/base/kustomization.yaml":          "resources: [config.yaml]\n",
	"apps/web/base/config.yaml":                 "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config\ndata:\n  greeting: base\n",
	"apps/web/overlays/dev/kustomization.yaml":  "resources: [../../base]\npatches:\n  - path: patch.yaml\n",
	"apps/web/overlays/dev/patch.yaml":          "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config\ndata:\n  greeting: dev\n",
	"apps/web/overlays/prod/kustomization.yaml": "resources: [../../base]\npatches:\n  - path: patch.yaml\n",
	"apps/web/overlays/prod/patch.yaml":         "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config\ndata:\n  greeting: prod\n",

	// A second bundle released into web, with labels of its own.
	"apps/web-addon/fleet.yaml": "defaultNamespace: web\nnamespaceLabels:\n  addon: metrics\n",
	"apps/web-addon/addon.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-addon\ndata:\n  addon: metrics\n",

	"apps/chart/fleet.yaml": `defaultNamespace: chart
helm:
  chart: ./paint
  releaseName: paint
  values:
    color: grey
targetCustomizations:
  - name: prod
    clusterSelector:
      matchLabels: {env: prod}
    helm:
      values:
        color: red
  - name: dev
    clusterSelector:
      matchLabels: {env: dev}
    helm:
      values:
        color: blue
`,
	"apps/chart/paint/Chart.yaml":            "apiVersion: v2\nname: paint\nversion: 0.1.0\n",
	"apps/chart/paint/values.yaml":           "color: white\n",
	"apps/chart/paint/templates/config.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-paint\ndata:\n  color: {{ .Values.color | quote }}\n",

	"apps/wasm/fleet.yaml": `defaultNamespace: wasm
targetCustomizations:
  - name: no-wasm-runtime
    clusterSelector:
      matchExpressions:
        - {key: runtimeclass.flotilla.io/wasmtime, operator: DoesNotExist}
    doNotDeploy: true
`,
	"apps/wasm/workload.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: wasm-app\ndata:\n  runtime: wasmtime\n",
}

// TestFleetYAMLVariants: two clusters with different labels each end up
// with their own variant of one Fleet-layout repository, and the WASM
// bundle follows the agent-reported RuntimeClass fact.
func TestFleetYAMLVariants(t *testing.T) {
	ctx := context.Background()
	devCS, prodCS := clientset(t, dev), clientset(t, prod)
	rc := &nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: "wasmtime"}, Handler: "wasmtime"}
	if _, err := prodCS.NodeV1().RuntimeClasses().Create(ctx, rc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = prodCS.NodeV1().RuntimeClasses().Delete(context.Background(), "wasmtime", metav1.DeleteOptions{})
	})

	f := newFleet(t)
	for name, content := range fleetRepo {
		f.work.WriteFile(t, name, content)
	}
	f.work.CommitAndPush(t, "fleet layout")
	f.startHub()
	if _, err := f.op.AddSource(ctx, wire.SourceSpec{Name: "variants", Repo: f.repoURL, Paths: []string{"apps"}, Poll: wire.Duration(time.Second), Targets: []string{"env in (dev,prod)"}}); err != nil {
		t.Fatal(err)
	}
	f.startAgent("v-dev", dev, f.token("dev"))
	f.startAgent("v-prod", prod, f.token("prod"))
	// web, web-addon and chart everywhere; wasm only where the
	// RuntimeClass is.
	for name, bundles := range map[string]int{"v-dev": 3, "v-prod": 4} {
		eventually(t, 90*time.Second, name+" to converge", func() error {
			if err := f.converged(name); err != nil {
				return err
			}
			if c, _ := f.cluster(name); len(c.Bundles) != bundles {
				return fmt.Errorf("%s has %d bundles, want %d", name, len(c.Bundles), bundles)
			}
			return nil
		})
	}

	checks := []struct {
		name  string
		check func() error
	}{
		{"dev overlay", wantValue(devCS, "web", "web-config", "greeting", "dev")},
		{"prod overlay", wantValue(prodCS, "web", "web-config", "greeting", "prod")},
		{"dev helm values", wantValue(devCS, "chart", "paint-paint", "color", "blue")},
		{"prod helm values", wantValue(prodCS, "chart", "paint-paint", "color", "red")},
	}
	for _, c := range checks {
		eventually(t, 30*time.Second, c.name, c.check)
	}
	for _, cs := range []*kubernetes.Clientset{devCS, prodCS} {
		eventually(t, 30*time.Second, "both bundles' labels on the shared namespace", sharedNamespace(cs, "web", map[string]string{"team": "web", "addon": "metrics"}))
	}
	eventually(t, 60*time.Second, "the WASM bundle on the cluster with wasmtime", wantValue(prodCS, "wasm", "wasm-app", "runtime", "wasmtime"))
	if _, err := devCS.CoreV1().ConfigMaps("wasm").Get(ctx, "wasm-app", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the WASM bundle reached the cluster without wasmtime (err %v)", err)
	}
	c, err := f.cluster("v-prod")
	if err != nil {
		t.Fatal(err)
	}
	if c.Facts == nil || len(c.Facts.RuntimeClasses) != 1 || c.Facts.KubernetesVersion == "" {
		t.Errorf("prod facts = %+v", c.Facts)
	}
	b, err := f.bundle("variants-apps-chart")
	if err != nil || b.Clusters != 2 || b.States[wire.StateReady] != 2 {
		t.Errorf("chart bundle = %+v (%v)", b, err)
	}
}

// sharedNamespace checks that a release namespace carries the given labels
// and belongs to no ApplySet.
func sharedNamespace(cs kubernetes.Interface, name string, labels map[string]string) func() error {
	return func() error {
		ns, err := cs.CoreV1().Namespaces().Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for k, v := range labels {
			if ns.Labels[k] != v {
				return fmt.Errorf("namespace %s label %s = %q, want %q (labels %v)", name, k, ns.Labels[k], v, ns.Labels)
			}
		}
		if id, ok := ns.Labels[kubeapply.LabelPartOf]; ok {
			return fmt.Errorf("namespace %s is a member of ApplySet %s", name, id)
		}
		return nil
	}
}
