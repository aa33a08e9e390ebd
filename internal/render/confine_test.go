package render

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRenderTamperedCheckout renders bundles of a checkout whose links
// were planted on disk after it was written (a -> . and b -> a/.. each
// look local; b/outside is outside): no read follows them out, and each
// bundle says which path was refused.
func TestRenderTamperedCheckout(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "checkout")
	writeFiles(t, filepath.Join(base, "outside"), map[string]string{
		"secret.yaml":             "apiVersion: v1\nkind: Secret\nmetadata: {name: stolen}\n",
		"chart/Chart.yaml":        "apiVersion: v2\nname: c\nversion: 0.1.0\n",
		"chart/templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: stolen}\n",
	})
	writeFiles(t, root, map[string]string{"keep.txt": ""})
	for link, target := range map[string]string{"a": ".", "b": "a/.."} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name  string
		files map[string]string // under app/; "-> x" is a symlink
		err   string
	}{
		{
			name:  "raw file through the chain",
			files: map[string]string{"fleet.yaml": "", "leak.yaml": "-> ../b/outside/secret.yaml"},
			err:   "app/leak.yaml: symlink leads outside the checkout",
		},
		{
			name:  "raw directory through the chain",
			files: map[string]string{"fleet.yaml": "", "dir": "-> ../b/outside"},
			err:   "app/dir: symlink leads outside the checkout",
		},
		{
			name:  "kustomize resource through the chain",
			files: map[string]string{"kustomization.yaml": "resources: [../b/outside/secret.yaml]\n"},
			err:   `app/kustomization.yaml: resources: "../b/outside/secret.yaml": symlink leads outside the checkout`,
		},
		{
			name:  "helm chart through the chain",
			files: map[string]string{"fleet.yaml": "helm: {chart: ../b/outside/chart}\n"},
			err:   `app/fleet.yaml: helm.chart "../b/outside/chart": b/outside/chart leads outside the checkout`,
		},
		{
			name:  "values file through the chain",
			files: map[string]string{"fleet.yaml": "helm: {chart: c, valuesFiles: [../b/outside/secret.yaml]}\n"},
			err:   `app/fleet.yaml: helm.valuesFiles[0]: "../b/outside/secret.yaml": b/outside/secret.yaml leads outside the checkout`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := filepath.Join(root, "app")
			if err := os.RemoveAll(app); err != nil {
				t.Fatal(err)
			}
			for name, content := range tt.files {
				if target, ok := strings.CutPrefix(content, "-> "); ok {
					if err := os.MkdirAll(app, 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.Symlink(target, filepath.Join(app, name)); err != nil {
						t.Fatal(err)
					}
					continue
				}
				writeFiles(t, app, map[string]string{name: content})
			}
			b := findBundle(t, root, "app")
			err := b.Err
			if err == nil {
				_, err = RenderEffective(context.Background(), root, b, Base(b), Options{})
			}
			if err == nil || !strings.HasPrefix(err.Error(), tt.err) {
				t.Fatalf("err = %v, want prefix %q", err, tt.err)
			}
		})
	}
}
