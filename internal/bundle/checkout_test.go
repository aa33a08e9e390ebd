package bundle

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// hostileTree is a checkout as a tampered disk (or a local directory
// given to flotilla render) may hold it: every link looks local as text,
// some lead outside once followed.
func hostileTree(t testing.TB) (root, outside string) {
	t.Helper()
	base := t.TempDir()
	root = filepath.Join(base, "checkout")
	outside = filepath.Join(base, "outside")
	writeTree(t, outside, map[string]string{"secret.yaml": "password: x\n"})
	writeTree(t, root, map[string]string{
		"app/fleet.yaml":   "",
		"app/cm.yaml":      "kind: ConfigMap\n",
		"a":                "-> .",
		"b":                "-> a/..",
		"c":                "-> b/outside/secret.yaml",
		"d":                "-> app/../app",
		"e":                "-> " + filepath.Join(outside, "secret.yaml"),
		"f":                "-> g",
		"g":                "-> f",
		"h":                "-> missing/file",
		"app/up":           "-> ..",
		"app/out":          "-> up/..",
		"app/link.yaml":    "-> ../d/cm.yaml",
		"app/sub/deep.yml": "kind: X\n",
	})
	return root, outside
}

func TestCheckoutResolve(t *testing.T) {
	root, _ := hostileTree(t)
	c, err := OpenCheckout(root)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tests := []struct {
		rel, want string
		err       error
	}{
		{rel: ".", want: "."},
		{rel: "", want: "."},
		{rel: "app/cm.yaml", want: "app/cm.yaml"},
		{rel: "a", want: "."},
		{rel: "a/a/a/app", want: "app"},
		{rel: "d/cm.yaml", want: "app/cm.yaml"},
		{rel: "app/link.yaml", want: "app/cm.yaml"},
		{rel: "app/up/app/sub", want: "app/sub"},
		{rel: "app/sub/../cm.yaml", want: "app/cm.yaml"},
		{rel: "b", err: ErrEscape},
		{rel: "c", err: ErrEscape},
		{rel: "e", err: ErrEscape},
		{rel: "app/out", err: ErrEscape},
		{rel: "a/b/x", err: ErrEscape},
		{rel: "../outside", err: ErrEscape},
		{rel: "/etc/passwd", err: ErrEscape},
		{rel: "f", err: errLoop},
		{rel: "h", err: fs.ErrNotExist},
		{rel: "app/cm.yaml/x", err: syscall.ENOTDIR},
	}
	for _, tt := range tests {
		t.Run(tt.rel, func(t *testing.T) {
			got, err := c.Resolve(tt.rel)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("Resolve(%q) = %q, %v; want %v", tt.rel, got, err, tt.err)
				}
				if strings.Contains(err.Error(), root) {
					t.Errorf("error %q names the host path", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Resolve(%q) = %q, %v; want %q", tt.rel, got, err, tt.want)
			}
		})
	}
}

func TestCheckoutReadFile(t *testing.T) {
	root, _ := hostileTree(t)
	writeTree(t, root, map[string]string{"big.yaml": strings.Repeat("x", 100)})
	if err := syscall.Mkfifo(filepath.Join(root, "fifo.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := OpenCheckout(root)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tests := []struct {
		name, rel string
		want      string
		err       string
	}{
		{name: "through links", rel: "a/d/link.yaml", want: "kind: ConfigMap\n"},
		{name: "escaping chain", rel: "c", err: "c leads outside the checkout"},
		{name: "escaping through a directory link", rel: "b/outside/secret.yaml", err: "b/outside/secret.yaml leads outside the checkout"},
		{name: "absolute link", rel: "e", err: "e leads outside the checkout"},
		{name: "too large", rel: "big.yaml", err: "file has 100 bytes, more than the 99 allowed"},
		{name: "directory", rel: "app", err: "app is not a regular file"},
		{name: "fifo is not opened", rel: "fifo.yaml", err: "fifo.yaml is not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.ReadFile(tt.rel, 99)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("ReadFile(%q) = %q, %v; want error %q", tt.rel, got, err, tt.err)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Fatalf("ReadFile(%q) = %q, %v; want %q", tt.rel, got, err, tt.want)
			}
		})
	}
}

// TestDiscoverTamperedCheckout discovers a checkout whose links were
// planted on disk: none is followed out, each is reported in its bundle.
func TestDiscoverTamperedCheckout(t *testing.T) {
	root, _ := hostileTree(t)
	got, err := Discover(root, []string{"app"})
	if err != nil {
		t.Fatal(err)
	}
	want := []found{
		{Path: "app", Err: "app/out: symlink leads outside the checkout", Exclude: []string{"app/up/app"}},
		// app/up leads to the root, which holds app again.
		{Path: "app/up/app", Err: "app/up/app/out: symlink leads outside the checkout"},
	}
	if diff := cmp.Diff(want, summarize(got)); diff != "" {
		t.Errorf("Discover (-want +got):\n%s", diff)
	}
	var entries []string
	c, err := OpenCheckout(root)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = c.Walk(".", WalkOptions{}, func(e Entry) error {
		s := e.Path
		switch {
		case errors.Is(e.Err, fs.ErrNotExist):
			s += ": dangles" // the OS's wording varies
		case e.Err != nil:
			s += ": " + e.Err.Error()
		}
		entries = append(entries, s)
		if e.Path == "d" {
			return fs.SkipDir // app, seen already
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	wantEntries := []string{
		"a: symlink loops",
		"app",
		"app/cm.yaml",
		"app/fleet.yaml",
		"app/link.yaml",
		"app/out: symlink leads outside the checkout",
		"app/sub",
		"app/sub/deep.yml",
		"app/up: symlink loops",
		"b: symlink leads outside the checkout",
		"c: symlink leads outside the checkout",
		"d",
		"e: symlink leads outside the checkout",
		"f: resolving symlink: resolve f: too many levels of symbolic links",
		"g: resolving symlink: resolve g: too many levels of symbolic links",
		"h: dangles",
	}
	if diff := cmp.Diff(wantEntries, entries); diff != "" {
		t.Errorf("Walk (-want +got):\n%s", diff)
	}
	if _, err := os.Stat(filepath.Join(root, "c")); err != nil {
		t.Fatalf("the planted link does lead outside on disk: %v", err)
	}
}
