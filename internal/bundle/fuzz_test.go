package bundle

import (
	"errors"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzCleanRel: an accepted path is local (the root itself, or a clean
// path below it with no ".." and no leading "/"), and cleaning it again
// changes nothing.
func FuzzCleanRel(f *testing.F) {
	for _, s := range []string{"", ".", "a/b", "a/../..", "../x", "/etc", `..\x`, `a\..\..\b`, "a//b/./c/", "C:/x", "a/\x00/b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		c, err := CleanRel(p)
		if err != nil {
			return
		}
		if c != "." && (!filepath.IsLocal(c) || path.IsAbs(c) || c != path.Clean(c)) {
			t.Fatalf("CleanRel(%q) = %q, not a local path", p, c)
		}
		for part := range strings.SplitSeq(c, "/") {
			if part == ".." {
				t.Fatalf("CleanRel(%q) = %q, which climbs", p, c)
			}
		}
		if again, err := CleanRel(c); err != nil || again != c {
			t.Fatalf("CleanRel(%q) = %q, %v; CleanRel(%q) = %q", p, c, err, c, again)
		}
	})
}

// FuzzCheckoutResolve resolves fuzzed paths in a checkout full of hostile
// symlinks. Invariant: an accepted path is local, holds no symlink, and
// the OS, following symlinks itself, finds it inside the checkout.
func FuzzCheckoutResolve(f *testing.F) {
	for _, s := range []string{"a/a/app", "b", "b/outside", "c", "d/cm.yaml", "app/up/app/out", "app/link.yaml", "f", "h", "a/b/../app"} {
		f.Add(s)
	}
	root, _ := hostileTree(f)
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		f.Fatal(err)
	}
	c, err := OpenCheckout(root)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { c.Close() })
	f.Fuzz(func(t *testing.T, rel string) {
		got, err := c.Resolve(rel)
		if err != nil {
			return
		}
		if got != "." && !filepath.IsLocal(got) {
			t.Fatalf("Resolve(%q) = %q, not local", rel, got)
		}
		for p := got; p != "."; p = path.Dir(p) {
			if info, err := c.root.Lstat(p); err != nil || !info.Mode().IsRegular() && !info.IsDir() {
				t.Fatalf("Resolve(%q) = %q, whose prefix %q is not a plain file or directory (%v)", rel, got, p, err)
			}
		}
		real, err := filepath.EvalSymlinks(filepath.Join(root, filepath.FromSlash(got)))
		if err != nil {
			t.Fatalf("Resolve(%q) = %q, which the OS cannot find: %v", rel, got, err)
		}
		if r, err := filepath.Rel(realRoot, real); err != nil || !filepath.IsLocal(r) && r != "." {
			t.Fatalf("Resolve(%q) = %q, which the OS finds at %s, outside", rel, got, real)
		}
	})
}

// FuzzCheckoutOpen opens fuzzed paths in a checkout full of hostile
// symlinks. Invariant: the os.Root opens a file only where Resolve finds
// one inside (the very same file), and every path Resolve finds leading
// outside is refused with ErrEscape.
func FuzzCheckoutOpen(f *testing.F) {
	for _, s := range []string{"app/cm.yaml", "a/d/link.yaml", "app/up/app/sub/deep.yml", "b/outside/secret.yaml", "c", "e", "app/out", "f", "h", "app", "a/a/a/a/a/a/a/a/a/app/cm.yaml"} {
		f.Add(s)
	}
	root, _ := hostileTree(f)
	c, err := OpenCheckout(root)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { c.Close() })
	f.Fuzz(func(t *testing.T, rel string) {
		file, err := c.Open(rel)
		got, rerr := c.Resolve(rel)
		if errors.Is(rerr, ErrEscape) && !errors.Is(err, ErrEscape) {
			t.Fatalf("Open(%q) = %v, but Resolve says %v", rel, err, rerr)
		}
		if err != nil {
			if strings.Contains(err.Error(), root) {
				t.Fatalf("Open(%q) error %q names the host path", rel, err)
			}
			return
		}
		defer file.Close()
		if rerr != nil {
			t.Fatalf("Open(%q) opened a file, but Resolve says %v", rel, rerr)
		}
		opened, err := file.f.Stat()
		if err != nil {
			t.Fatal(err)
		}
		there, err := c.root.Lstat(filepath.FromSlash(got))
		if err != nil || !os.SameFile(opened, there) {
			t.Fatalf("Open(%q) opened another file than Resolve's %q (%v)", rel, got, err)
		}
	})
}
