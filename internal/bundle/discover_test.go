package bundle

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// writeTree creates files under dir; a value starting with "-> " makes a
// symlink to the rest of the value.
func writeTree(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if target, ok := strings.CutPrefix(content, "-> "); ok {
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// found is the comparable part of a Bundle.
type found struct {
	Path      string
	Namespace string
	Exclude   []string
	Warnings  []string
	Err       string
}

func summarize(bundles []Bundle) []found {
	var out []found
	for _, b := range bundles {
		f := found{Path: b.Path, Namespace: b.Options.DefaultNamespace, Exclude: b.Exclude, Warnings: b.Warnings}
		if b.Err != nil {
			f.Err = b.Err.Error()
		}
		out = append(out, f)
	}
	return out
}

func TestDiscover(t *testing.T) {
	outside := t.TempDir()
	writeTree(t, outside, map[string]string{"secret.yaml": "kind: Secret\n", "dir/x.yaml": "kind: X\n"})
	tests := []struct {
		name  string
		files map[string]string
		paths []string
		want  []found
		err   string
	}{
		{
			name: "fleet.yaml nested",
			files: map[string]string{
				"apps/fleet.yaml":             "defaultNamespace: apps\n",
				"apps/a.yaml":                 "",
				"apps/web/fleet.yaml":         "defaultNamespace: web\n",
				"apps/web/deploy.yaml":        "",
				"apps/web/sub/more.yaml":      "",
				"apps/web/sub/deep/fleet.yml": "defaultNamespace: deep\n",
				"apps/.hidden/fleet.yaml":     "",
				"loose.yaml":                  "",
				"other/x.yaml":                "",
			},
			want: []found{
				{Path: "apps", Namespace: "apps", Exclude: []string{"apps/web", "apps/web/sub/deep"}},
				{Path: "apps/web", Namespace: "web", Exclude: []string{"apps/web/sub/deep"}},
				{Path: "apps/web/sub/deep", Namespace: "deep"},
			},
		},
		{
			name:  "fleet.yaml at the path",
			files: map[string]string{"fleet.yaml": "namespace: x\nfoo: 1\n", "a.yaml": "", "b/c.yaml": ""},
			want:  []found{{Path: ".", Warnings: []string{`fleet.yaml:2: unknown key "foo"`}}},
		},
		{
			name: "no fleet.yaml: top-level dirs",
			files: map[string]string{
				"a.yaml": "", "README.md": "", "web/deploy.yaml": "", "web/sub/x.yaml": "",
				"db/x.json": "", ".github/workflows/ci.yaml": "",
			},
			want: []found{
				{Path: ".", Exclude: []string{"db", "web"}},
				{Path: "db"},
				{Path: "web"},
			},
		},
		{
			name:  "no fleet.yaml, no loose files",
			files: map[string]string{"README.md": "", "web/deploy.yaml": ""},
			want:  []found{{Path: "web"}},
		},
		{
			name: "paths",
			files: map[string]string{
				"clusters/a/x.yaml": "", "clusters/b/fleet.yaml": "", "clusters/b/y.yaml": "",
				"apps/web/fleet.yaml": "", "ignored/z.yaml": "",
			},
			paths: []string{"apps", "clusters/", "apps/web"},
			want:  []found{{Path: "apps/web"}, {Path: "clusters/b"}},
		},
		{
			name: "bad fleet.yaml reported per bundle",
			files: map[string]string{
				"a/fleet.yaml": "defaultNamespace: [x]\n", "b/fleet.yaml": "defaultNamespace: b\n",
			},
			want: []found{
				{Path: "a", Err: "a/fleet.yaml:1: defaultNamespace: expected string"},
				{Path: "b", Namespace: "b"},
			},
		},
		{
			name: "symlink escaping refused",
			files: map[string]string{
				"a/fleet.yaml": "", "a/leak.yaml": "-> " + filepath.Join(outside, "secret.yaml"),
				"b/fleet.yaml": "-> " + filepath.Join(outside, "secret.yaml"),
				"c/fleet.yaml": "", "c/inside.yaml": "-> ../a/fleet.yaml", "c/d": "-> ../a",
			},
			want: []found{
				{Path: "a", Err: "a/leak.yaml: symlink leads outside the checkout"},
				{Path: "b", Err: "b/fleet.yaml leads outside the checkout"},
				{Path: "c", Exclude: []string{"c/d"}},
				{Path: "c/d", Err: "c/d/leak.yaml: symlink leads outside the checkout"},
			},
		},
		{
			name:  "symlinked top-level dir escaping refused",
			files: map[string]string{"web/x.yaml": "", "out": "-> " + filepath.Join(outside, "dir")},
			want:  []found{{Path: "out", Err: "out: symlink leads outside the checkout"}, {Path: "web"}},
		},
		{name: "path escaping refused", files: map[string]string{"a/x.yaml": ""}, paths: []string{"../x"}, err: `discovering bundles under "../x": path "../x" leads outside the checkout`},
		{name: "path symlink escaping refused", files: map[string]string{"out": "-> " + outside}, paths: []string{"out"}, err: `discovering bundles under "out": out leads outside the checkout`},
		{name: "missing path", files: map[string]string{"a/x.yaml": ""}, paths: []string{"nope"}, err: "no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			writeTree(t, root, tt.files)
			got, err := Discover(root, tt.paths)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Discover error = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Discover: %v", err)
			}
			if diff := cmp.Diff(tt.want, summarize(got)); diff != "" {
				t.Errorf("Discover (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDiscoverEscapeIsErrEscape(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{"a/fleet.yaml": "", "a/x.yaml": "-> /etc/hostname"})
	got, err := Discover(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !errors.Is(got[0].Err, ErrEscape) {
		t.Fatalf("Discover = %+v, want one bundle with ErrEscape", got)
	}
}
