package render

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/yaml"

	"flotilla.io/flotilla/internal/bundle"
)

var update = flag.Bool("update", false, "rewrite the want.yaml golden files")

// findBundle discovers the bundles of a checkout and returns the one at p.
func findBundle(t *testing.T, root, p string) bundle.Bundle {
	t.Helper()
	bundles, err := bundle.Discover(root, nil)
	if err != nil {
		t.Fatalf("Discover: %v", err)
	}
	for _, b := range bundles {
		if b.Path == p {
			return b
		}
	}
	t.Fatalf("no bundle %q in %s", p, root)
	return bundle.Bundle{}
}

func toYAML(t *testing.T, objs []*unstructured.Unstructured) []byte {
	t.Helper()
	var buf bytes.Buffer
	for i, o := range objs {
		if i > 0 {
			buf.WriteString("---\n")
		}
		data, err := yaml.Marshal(o.Object)
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(data)
	}
	return buf.Bytes()
}

func TestRenderGolden(t *testing.T) {
	tests := []struct {
		name string
		path string // the bundle to render
	}{
		{name: "raw-nested", path: "apps"},
		{name: "multidoc-list", path: "."},
		{name: "json", path: "."},
		{name: "default-namespace", path: "."},
		{name: "forced-namespace", path: "."},
		{name: "kustomize-base", path: "app"},
		{name: "kustomize-overlay", path: "overlays/prod"},
		{name: "kustomize-dir", path: "app"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join("testdata", tt.name)
			root := filepath.Join(dir, "repo")
			objs, err := Render(context.Background(), root, findBundle(t, root, tt.path))
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			got := toYAML(t, objs)
			golden := filepath.Join(dir, "want.yaml")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("reading golden file (run with -update to create it): %v", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("Render (-want +got):\n%s", diff)
			}
			checkRoundTrip(t, objs)
		})
	}
}

// checkRoundTrip asserts that every object is a fixed point of encoding to
// JSON and decoding again, as the hub hashes canonical JSON.
func checkRoundTrip(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	for _, o := range objs {
		data, err := json.Marshal(o.Object)
		if err != nil {
			t.Fatalf("encoding %s: %v", o.GetName(), err)
		}
		var back map[string]any
		if err := utiljson.Unmarshal(data, &back); err != nil {
			t.Fatalf("decoding %s: %v", o.GetName(), err)
		}
		if diff := cmp.Diff(o.Object, back); diff != "" {
			t.Errorf("%s changes through JSON (-rendered +decoded):\n%s", o.GetName(), diff)
		}
		// DeepCopy panics on values that are not JSON-shaped.
		_ = o.DeepCopy()
	}
}

func TestRenderErrors(t *testing.T) {
	tests := []struct {
		name string
		path string
		err  string
	}{
		{name: "kustomize-escape", path: "app", err: `app/kustomization.yaml: resources: "../../../../../etc" leads outside the checkout`},
		{name: "kustomize-remote", path: "app", err: `app/kustomization.yaml: resources: remote reference "https://github.com/kubernetes-sigs/kustomize//examples/multibases?ref=v1.0.6" refused: only files inside the checkout are rendered`},
		{name: "kustomize-remote-nested", path: "app", err: `base/kustomization.yaml: resources: remote reference "github.com/example/repo/deploy?ref=main" refused: only files inside the checkout are rendered`},
		{name: "kustomize-remote-file", path: "app", err: `app/kustomization.yaml: configMapGenerator: remote reference "https://example.com/settings.conf" refused: only files inside the checkout are rendered`},
		{name: "kustomize-helm", path: "app", err: "app/kustomization.yaml: helmCharts are not supported in kustomizations; use helm in fleet.yaml"},
		{name: "kustomize-dir-missing", path: "app", err: `app/fleet.yaml: kustomize.dir "nope" does not exist`},
		{name: "kustomize-dir-escape", path: "app", err: `app/fleet.yaml: kustomize.dir "../../elsewhere" leads outside the checkout`},
		{name: "invalid-yaml", path: ".", err: "bad.yaml:10: mapping values are not allowed in this context"},
		{name: "missing-kind", path: ".", err: "app.yaml:8: missing kind"},
		{name: "missing-name", path: ".", err: "app.json:1: items[0]: missing metadata.name"},
		{name: "duplicate", path: ".", err: "b/b.yaml:2: duplicate object ConfigMap ns/same (also in a.yaml:1)"},
		{name: "forced-namespace-cluster", path: ".", err: `app.yaml:6: ClusterRole admin is cluster-scoped but fleet.yaml forces namespace "forced"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := filepath.Join("testdata", tt.name, "repo")
			_, err := Render(context.Background(), root, findBundle(t, root, tt.path))
			if err == nil {
				t.Fatalf("Render succeeded, want error %q", tt.err)
			}
			if err.Error() != tt.err {
				t.Errorf("Render error:\n got %s\nwant %s", err, tt.err)
			}
			var re *Error
			if !errors.As(err, &re) {
				t.Errorf("Render error %T is not a *render.Error", err)
			}
		})
	}
}

func TestRenderSymlinks(t *testing.T) {
	outside := t.TempDir()
	secret := "apiVersion: v1\nkind: Secret\nmetadata:\n  name: stolen\n"
	if err := os.WriteFile(filepath.Join(outside, "secret.yaml"), []byte(secret), 0o644); err != nil {
		t.Fatal(err)
	}
	cm := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n"
	tests := []struct {
		name  string
		files map[string]string // "-> target" makes a symlink
		path  string
		want  []string // names rendered
		err   string
	}{
		{
			name:  "raw file escaping refused",
			files: map[string]string{"app/fleet.yaml": "", "app/leak.yaml": "-> " + filepath.Join(outside, "secret.yaml")},
			path:  "app",
			err:   "app/leak.yaml: symlink leads outside the checkout",
		},
		{
			name: "kustomize cannot read an escaping symlink",
			files: map[string]string{
				"app/kustomization.yaml": "resources: [leak.yaml]\n",
				"app/leak.yaml":          "-> " + filepath.Join(outside, "secret.yaml"),
			},
			path: "app",
			err:  `app/kustomization.yaml: resources: "leak.yaml": symlink leads outside the checkout`,
		},
		{
			name: "symlink loop refused",
			files: map[string]string{
				"shared/cm.yaml": strings.ReplaceAll(cm, "%s", "shared"),
				"other/cm.yaml":  strings.ReplaceAll(cm, "%s", "other"),
				"app/fleet.yaml": "",
				"app/link.yaml":  "-> ../shared/cm.yaml",
				"app/dir":        "-> ../other",
				"app/loop":       "-> .",
			},
			path: "app",
			err:  "app/loop: symlink loops",
		},
		{
			name: "raw symlinks inside the checkout are followed",
			files: map[string]string{
				"shared/cm.yaml": strings.ReplaceAll(cm, "%s", "shared"),
				"other/cm.yaml":  strings.ReplaceAll(cm, "%s", "other"),
				"app/fleet.yaml": "",
				"app/link.yaml":  "-> ../shared/cm.yaml",
				"app/dir":        "-> ../other",
			},
			path: "app",
			want: []string{"other", "shared"},
		},
		{
			name: "kustomize symlinks inside the checkout are followed",
			files: map[string]string{
				"shared/cm.yaml":         strings.ReplaceAll(cm, "%s", "shared"),
				"app/kustomization.yaml": "resources: [link.yaml, base]\n",
				"app/link.yaml":          "-> ../shared/cm.yaml",
				"app/base":               "-> ../base",
				"base/kustomization.yml": "resources: [cm.yaml]\n",
				"base/cm.yaml":           strings.ReplaceAll(cm, "%s", "base"),
			},
			path: "app",
			want: []string{"base", "shared"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			for name, content := range tt.files {
				p := filepath.Join(root, filepath.FromSlash(name))
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				var err error
				if target, ok := strings.CutPrefix(content, "-> "); ok {
					err = os.Symlink(target, p)
				} else {
					err = os.WriteFile(p, []byte(content), 0o644)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			objs, err := Render(context.Background(), root, bundle.Bundle{Path: tt.path})
			if tt.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.err) {
					t.Fatalf("Render error = %v, want prefix %q", err, tt.err)
				}
				t.Logf("error: %v", err)
				return
			}
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			var names []string
			for _, o := range objs {
				names = append(names, o.GetName())
			}
			if diff := cmp.Diff(tt.want, names); diff != "" {
				t.Errorf("Render names (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRenderBundleError(t *testing.T) {
	b := bundle.Bundle{Path: "x", Err: errors.New("broken fleet.yaml")}
	if _, err := Render(context.Background(), t.TempDir(), b); err == nil || !strings.Contains(err.Error(), "broken fleet.yaml") {
		t.Fatalf("Render error = %v, want the bundle's error", err)
	}
}

func TestIsRemote(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"deploy.yaml", false},
		{"../base", false},
		{"base.git/x", false},
		// scp-like, so refused even though Kustomize would not clone this one.
		{"dir@2x/x.yaml", true},
		{"https://example.com/x.yaml", true},
		{"HTTP://example.com/x.yaml", true},
		{"ssh://git@example.com/repo", true},
		{"file:///tmp/repo", true},
		{"git::https://example.com/repo", true},
		{"github.com/org/repo//dir?ref=v1", true},
		{"git@github.com:org/repo.git", true},
		{"user@host.example.com:repo/x", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := isRemote(tt.in); got != tt.want {
				t.Errorf("isRemote(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

// FuzzRenderRaw decodes manifests with and without a budget: the budget
// refuses exactly the inputs that go past it, and changes nothing else.
func FuzzRenderRaw(f *testing.F) {
	for _, s := range []string{
		"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
		"---\n---\n", "kind: List\nitems: [1, {a: b}]\n", "a: &a [*a]\n", "- 1\n- 2\n",
		"{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[]}", "apiVersion: v1\nkind: X\nmetadata: {name: [1]}\n",
		"x: 1e400\n", "? [a]\n: b\n",
		"kind: List\nitems: [{apiVersion: v1, kind: A, metadata: {name: a}}, {apiVersion: v1, kind: A, metadata: {name: b}}, {apiVersion: v1, kind: A, metadata: {name: c}}]\n",
		strings.Repeat("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {k: vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv}\n---\n", 6),
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	lim := Limits{MaxObjects: 3, MaxBytes: 512}
	f.Fuzz(func(t *testing.T, data []byte, asJSON bool) {
		name := "m.yaml"
		if asJSON {
			name = "m.json"
		}
		all, errAll := decodeManifests(nil, name, data, nil)
		items, err := decodeManifests(nil, name, data, newBudget(lim))
		var le *LimitError
		switch {
		case errors.As(err, &le):
			if errAll == nil && len(all) <= lim.MaxObjects && jsonSize(t, all) <= lim.MaxBytes {
				t.Fatalf("refused %v, but unbudgeted it renders %d objects, %d bytes", err, len(all), jsonSize(t, all))
			}
		case err != nil:
			if errAll == nil || errAll.Error() != err.Error() {
				t.Fatalf("budgeted error %v, unbudgeted %v", err, errAll)
			}
		default:
			if errAll != nil || len(all) != len(items) {
				t.Fatalf("budgeted %d objects, unbudgeted %d objects and %v", len(items), len(all), errAll)
			}
		}
		if err != nil {
			var re *Error
			if !errors.As(err, &re) || re.File != name {
				t.Fatalf("error %v does not name the file", err)
			}
			return
		}
		if err := setNamespaces(items, bundle.DeploymentOptions{DefaultNamespace: "d"}); err != nil {
			return
		}
		objs, err := sortObjects(items)
		if err != nil {
			return
		}
		checkRoundTrip(t, objs)
	})
}

// jsonSize is what a budget counts for items.
func jsonSize(t *testing.T, items []item) int64 {
	var n int64
	for _, it := range items {
		data, err := json.Marshal(it.obj.Object)
		if err != nil {
			t.Fatal(err)
		}
		n += int64(len(data))
	}
	return n
}
