package render

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/kustomize/kyaml/filesys"

	"flotilla.io/flotilla/internal/bundle"
)

// configMaps is a multi-document file of n ConfigMaps, four lines each.
func configMaps(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm-%d}\n---\n", i)
	}
	return b.String()
}

// loopChart is a chart whose template loops outer×inner times and renders
// one ConfigMap.
func loopChart(outer, inner int) map[string]string {
	return map[string]string{
		"app/fleet.yaml":        fmt.Sprintf("helm:\n  values: {outer: %d, inner: %d}\n", outer, inner),
		"app/Chart.yaml":        "apiVersion: v2\nname: loop\nversion: 0.1.0\n",
		"app/templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: loop\n{{- range until (int .Values.outer) }}{{ range until (int $.Values.inner) }}{{ end }}{{ end }}\n",
	}
}

func TestLimits(t *testing.T) {
	bigValue := strings.Repeat("x", 100)
	tests := []struct {
		name   string
		files  map[string]string
		limits Limits
		want   int    // objects rendered when err is empty
		err    string // the whole message
	}{
		{
			name:   "raw objects",
			files:  map[string]string{"app/fleet.yaml": "", "app/cms.yaml": configMaps(6)},
			limits: Limits{MaxObjects: 5},
			err:    "app/cms.yaml:21: bundle renders more than 5 objects (limit: --max-bundle-objects)",
		},
		{
			name:   "raw objects across files",
			files:  map[string]string{"app/fleet.yaml": "", "app/a.yaml": configMaps(3), "app/b.yaml": strings.ReplaceAll(configMaps(3), "cm-", "b-")},
			limits: Limits{MaxObjects: 5},
			err:    "app/b.yaml:9: bundle renders more than 5 objects (limit: --max-bundle-objects)",
		},
		{
			name:   "List items count one by one",
			files:  map[string]string{"app/fleet.yaml": "", "app/list.yaml": "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: A, metadata: {name: a}}\n- {apiVersion: v1, kind: A, metadata: {name: b}}\n"},
			limits: Limits{MaxObjects: 1},
			err:    "app/list.yaml:1: items[1]: bundle renders more than 1 objects (limit: --max-bundle-objects)",
		},
		{
			name:   "at the limit",
			files:  map[string]string{"app/fleet.yaml": "", "app/cms.yaml": configMaps(5)},
			limits: Limits{MaxObjects: 5},
			want:   5,
		},
		{
			name:   "no limit",
			files:  map[string]string{"app/fleet.yaml": "", "app/cms.yaml": configMaps(6)},
			limits: Limits{MaxObjects: -1},
			want:   6,
		},
		{
			name:   "release namespace counts",
			files:  map[string]string{"app/fleet.yaml": "defaultNamespace: app\n", "app/cms.yaml": configMaps(1)},
			limits: Limits{MaxObjects: 1},
			err:    "app/fleet.yaml: bundle renders more than 1 objects (limit: --max-bundle-objects)",
		},
		{
			name:   "file past the byte limit is not read",
			files:  map[string]string{"app/fleet.yaml": "", "app/big.yaml": configMaps(100)},
			limits: Limits{MaxBytes: 2 << 10},
			err:    "app/big.yaml: bundle manifest files hold more than 2Ki (limit: --max-bundle-bytes)",
		},
		{
			name:   "files together past the byte limit",
			files:  map[string]string{"app/fleet.yaml": "", "app/a.yaml": configMaps(10), "app/b.yaml": strings.ReplaceAll(configMaps(10), "cm-", "b-")},
			limits: Limits{MaxBytes: 1000},
			err:    "app/b.yaml: bundle manifest files hold more than 1k (limit: --max-bundle-bytes)",
		},
		{
			name: "rendered bytes",
			files: map[string]string{
				"app/fleet.yaml":        "helm:\n  values: {n: 40}\n",
				"app/Chart.yaml":        "apiVersion: v2\nname: big\nversion: 0.1.0\n",
				"app/templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\ndata:\n{{- range until (int .Values.n) }}\n  k{{ . }}: " + bigValue + "\n{{- end }}\n",
			},
			limits: Limits{MaxBytes: 2 << 10},
			err:    "app:3: bundle renders more than 2Ki of objects (limit: --max-bundle-bytes)",
		},
		{
			name: "Helm objects",
			files: map[string]string{
				"app/fleet.yaml":        "",
				"app/Chart.yaml":        "apiVersion: v2\nname: many\nversion: 0.1.0\n",
				"app/templates/cm.yaml": "{{- range until 4 }}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{{ . }}\n{{- end }}\n",
			},
			limits: Limits{MaxObjects: 3},
			err:    "app:21: bundle renders more than 3 objects (limit: --max-bundle-objects)",
		},
		{
			name: "Kustomize objects",
			files: map[string]string{
				"app/kustomization.yaml": "resources: [cms.yaml]\n",
				"app/cms.yaml":           configMaps(4),
			},
			limits: Limits{MaxObjects: 3},
			err:    "app/kustomization.yaml: bundle renders more than 3 objects (limit: --max-bundle-objects)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			writeFiles(t, root, tt.files)
			b := findBundle(t, root, "app")
			eff, _, err := Resolve(b, Target{})
			if err != nil {
				t.Fatal(err)
			}
			objs, err := RenderEffective(context.Background(), root, b, eff, Options{Limits: tt.limits})
			if tt.err == "" {
				if err != nil {
					t.Fatalf("RenderEffective: %v", err)
				}
				if len(objs) != tt.want {
					t.Errorf("rendered %d objects, want %d", len(objs), tt.want)
				}
				return
			}
			if err == nil || err.Error() != tt.err {
				t.Fatalf("RenderEffective error:\n got %v\nwant %s", err, tt.err)
			}
			var le *LimitError
			if !errors.As(err, &le) {
				t.Errorf("error %T is not a *LimitError", err)
			}
		})
	}
}

// TestLimitsManyObjects is the hostile file of the issue: 200k ConfigMaps
// in one file stop at the 5,001st with the default limits.
func TestLimitsManyObjects(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{"app/fleet.yaml": "", "app/cms.yaml": configMaps(200_000)})
	b := findBundle(t, root, "app")
	_, err := RenderEffective(context.Background(), root, b, Base(b), Options{})
	want := fmt.Sprintf("app/cms.yaml:%d: bundle renders more than 5000 objects (limit: --max-bundle-objects)", 5000*4+1)
	if err == nil || err.Error() != want {
		t.Fatalf("RenderEffective error:\n got %v\nwant %s", err, want)
	}
}

func TestLimitsWithDefaults(t *testing.T) {
	tests := []struct {
		name string
		in   Limits
		want Limits
	}{
		{name: "zero", in: Limits{}, want: Limits{MaxObjects: 5000, MaxBytes: 32 << 20, Timeout: 30 * time.Second}},
		{name: "set", in: Limits{MaxObjects: 7, MaxBytes: 8, Timeout: time.Second}, want: Limits{MaxObjects: 7, MaxBytes: 8, Timeout: time.Second}},
		{name: "unlimited", in: Limits{MaxObjects: -1, MaxBytes: -1, Timeout: -1}, want: Limits{MaxObjects: -1, MaxBytes: -1, Timeout: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.in.WithDefaults(); got != tt.want {
				t.Errorf("WithDefaults() = %+v, want %+v", got, tt.want)
			}
		})
	}
	if got, want := (Limits{}).TimeoutError().Error(), "bundle took longer than 30s to render (limit: --render-timeout)"; got != want {
		t.Errorf("TimeoutError() = %q, want %q", got, want)
	}
}

// TestInProcessTimeout renders a chart that loops for seconds with a
// much shorter limit: Render gives up at the deadline with the timeout
// error, though the render itself would succeed.
func TestInProcessTimeout(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, loopChart(5000, 4000))
	b := findBundle(t, root, "app")
	eff, _, err := Resolve(b, Target{})
	if err != nil {
		t.Fatal(err)
	}
	r := InProcess{Options: Options{Limits: Limits{Timeout: 50 * time.Millisecond}}}
	_, err = r.Render(context.Background(), root, b, eff)
	want := "bundle took longer than 50ms to render (limit: --render-timeout)"
	if err == nil || err.Error() != want {
		t.Fatalf("Render error = %v, want %s", err, want)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.Render(ctx, root, b, eff); !errors.Is(err, context.Canceled) {
		t.Errorf("Render with a canceled context: %v, want context.Canceled", err)
	}
}

func TestInProcessRendersAsRenderEffective(t *testing.T) {
	root := filepath.Join("testdata", "targets", "fleet-layout", "repo")
	for _, p := range []string{"manifests", "kustomize", "helm"} {
		t.Run(p, func(t *testing.T) {
			b := findBundle(t, root, p)
			eff, _, err := Resolve(b, Target{Labels: map[string]string{"env": "prod"}})
			if err != nil {
				t.Fatal(err)
			}
			want, err := RenderEffective(context.Background(), root, b, eff, Options{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := InProcess{}.Render(context.Background(), root, b, eff)
			if err != nil {
				t.Fatal(err)
			}
			if string(toYAML(t, got)) != string(toYAML(t, want)) {
				t.Errorf("InProcess renders differently from RenderEffective")
			}
		})
	}
}

// TestLoadCheckoutCountsBeforeReading: the checkout Kustomize sees is
// counted by the size of each file opened, before it is read; a file
// past the whole budget is refused for it.
func TestLoadCheckoutCountsBeforeReading(t *testing.T) {
	root := t.TempDir()
	f, err := os.Create(filepath.Join(root, "huge.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	err = f.Truncate(maxCheckoutBytes + 1) // sparse: nothing written
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	c, err := bundle.OpenCheckout(root)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = loadCheckout(context.Background(), c, filesys.MakeFsInMemory())
	if !errors.Is(err, errCheckoutTooLarge) {
		t.Fatalf("loadCheckout = %v, want %v", err, errCheckoutTooLarge)
	}
}
