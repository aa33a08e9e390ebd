package gitsource

import (
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/google/go-cmp/cmp"

	"flotilla.io/flotilla/internal/testenv/gitserver"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// TestHostileTrees checks out each tree of testdata/hostile: each hostile
// one is refused with its golden error and leaves nothing on disk; each
// ok-* one is written as its golden listing says. Either way nothing
// appears outside the checkout.
func TestHostileTrees(t *testing.T) {
	specs, err := filepath.Glob(filepath.Join("testdata", "hostile", "*.tree"))
	if err != nil {
		t.Fatal(err)
	}
	if len(specs) == 0 {
		t.Fatal("no hostile trees under testdata/hostile")
	}
	for _, file := range specs {
		name := strings.TrimSuffix(filepath.Base(file), ".tree")
		t.Run(name, func(t *testing.T) {
			text, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			got, err := checkoutSpec(t, string(text))
			if err != nil {
				t.Fatal(err)
			}
			if refused := !strings.HasPrefix(name, "ok-"); refused != strings.HasPrefix(got, "error: ") {
				t.Errorf("got %q; trees named ok-* must be written, every other one refused", got)
			}
			golden := strings.TrimSuffix(file, ".tree") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("%s (-want +got):\n%s", golden, diff)
			}
		})
	}
}

// checkoutSpec checks out the tree spec text into a fresh cache
// directory and returns "error: <the *TreeError>" or "ok" and a
// listing of the checkout. It fails the test if anything outside the
// checkout changed, if a symlink in it leads outside, or if a walk
// through its symlinks meets more entries than the limit; it returns an
// error for a spec that does not parse or build.
func checkoutSpec(t testing.TB, text string) (string, error) {
	t.Helper()
	spec, err := parseSpec(text)
	if err != nil {
		return "", err
	}
	repo, commit, err := spec.build()
	if err != nil {
		return "", err
	}
	// base/outside is what an escape would reach first; base/cache/src
	// is the source's directory, where checkouts are written.
	base := t.TempDir()
	srcDir := filepath.Join(base, "cache", "src")
	for _, d := range []string{srcDir, filepath.Join(base, "outside")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(base, "outside", "keep"), []byte("k"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := listDisk(t, base)
	rev, _, err := checkout(repo, commit, srcDir, spec.limits)
	after := listDisk(t, base)
	if err != nil {
		if diff := cmp.Diff(before, after); diff != "" {
			t.Fatalf("a refused checkout changed the disk (-before +after):\n%s", diff)
		}
		var te *TreeError
		if !errors.As(err, &te) || !errors.Is(err, ErrRefusedTree) {
			t.Fatalf("checkout error %v is not a *TreeError", err)
		}
		return "error: " + te.Error() + "\n", nil
	}
	revRel, err := filepath.Rel(base, rev.Dir)
	if err != nil {
		t.Fatal(err)
	}
	var added []string
	for _, e := range after {
		if !slices.Contains(before, e) {
			added = append(added, e)
		}
	}
	for _, e := range before {
		if !slices.Contains(after, e) {
			t.Errorf("checkout removed %s", e)
		}
	}
	listing := []string{}
	for _, e := range added {
		p, desc, _ := strings.Cut(e, "\t")
		if p == filepath.ToSlash(revRel) {
			continue
		}
		rel, ok := strings.CutPrefix(p, filepath.ToSlash(revRel)+"/")
		if !ok {
			t.Errorf("checkout wrote %s, outside %s", p, revRel)
			continue
		}
		listing = append(listing, rel+" "+desc)
		if strings.HasPrefix(desc, "-> ") && escapesOnDisk(rev.Dir, rel) {
			t.Errorf("symlink %s %s leads outside the checkout", rel, desc)
		}
	}
	if n := countWalk(t, rev.Dir); n > spec.limits.files {
		t.Errorf("bundle's walk of the checkout meets %d entries, more than the %d allowed", n, spec.limits.files)
	}
	return "ok\n" + strings.Join(listing, "\n") + "\n", nil
}

// listDisk lists everything under dir without following symlinks: slash
// path, a tab, and what it is.
func listDisk(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			out = append(out, rel+"\t-> "+target)
		case d.IsDir():
			out = append(out, rel+"\tdir")
		default:
			exec := ""
			if info.Mode()&0o100 != 0 {
				exec = " executable"
			}
			out = append(out, fmt.Sprintf("%s\tfile %d bytes%s", rel, info.Size(), exec))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// escapesOnDisk follows the symlink at rel under dir as the kernel
// would, on the disk as written (not on the plan the checkout made),
// taking a missing component as a directory, and reports whether it
// climbs above dir.
func escapesOnDisk(dir, rel string) bool {
	cur := strings.Split(filepath.ToSlash(filepath.Dir(rel)), "/")
	if cur[0] == "." {
		cur = nil
	}
	target, err := os.Readlink(filepath.Join(dir, rel))
	if err != nil {
		return false
	}
	todo := []string{target}
	for hops := 0; len(todo) > 0; {
		next := todo[0]
		todo = todo[1:]
		if strings.HasPrefix(next, "/") {
			return true
		}
		parts := strings.Split(next, "/")
		if len(parts) > 1 {
			todo = append(parts, todo...)
			continue
		}
		switch next {
		case "", ".":
			continue
		case "..":
			if len(cur) == 0 {
				return true
			}
			cur = cur[:len(cur)-1]
			continue
		}
		p := filepath.Join(append([]string{dir}, append(cur, next)...)...)
		if fi, err := os.Lstat(p); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			if hops++; hops > maxSymlinkHops {
				return false // the kernel gives up: ELOOP
			}
			link, err := os.Readlink(p)
			if err != nil {
				return false
			}
			todo = append([]string{link}, todo...)
			continue
		}
		cur = append(cur, next)
	}
	return false
}

// TestFetchRefusesHostileRepository serves the attack of issue 9 from a
// real Git server: a tree written with git hash-object --literally where
// e is a symlink that leads above the checkout (through a -> . and
// b -> a/..), then a folder holding pwned. Fetch must fail with the
// refusal, write no checkout, and write nothing beside the object cache.
func TestFetchRefusesHostileRepository(t *testing.T) {
	root := t.TempDir()
	srv := gitserver.Start(t, root)
	bare := filepath.Join(root, "evil.git")
	gitserver.InitBare(t, bare)
	blob := gitObject(t, bare, "written outside the checkout", "hash-object", "-w", "--stdin")
	sub := gitObject(t, bare, "100644 blob "+blob+"\tpwned\n", "mktree")
	var raw strings.Builder
	for _, e := range []struct{ mode, name, target, tree string }{
		{mode: "120000", name: "a", target: "."},
		{mode: "120000", name: "b", target: "a/.."},
		{mode: "120000", name: "e", target: "b"},
		{mode: "40000", name: "e", tree: sub},
	} {
		h := e.tree
		if h == "" {
			h = gitObject(t, bare, e.target, "hash-object", "-w", "--stdin")
		}
		bin, err := hex.DecodeString(h)
		if err != nil {
			t.Fatal(err)
		}
		raw.WriteString(e.mode + " " + e.name + "\x00" + string(bin))
	}
	tree := gitObject(t, bare, raw.String(), "hash-object", "-t", "tree", "-w", "--literally", "--stdin")
	commit := gitObject(t, bare, "", "commit-tree", "-m", "evil", tree)
	gitObject(t, bare, "", "update-ref", "refs/heads/main", commit)

	base := t.TempDir()
	f, err := New(Options{Dir: filepath.Join(base, "git")})
	if err != nil {
		t.Fatal(err)
	}
	before := listDisk(t, base)
	_, err = f.Fetch(t.Context(), "evil", srv.URL("evil.git"), "main")
	after := listDisk(t, base)
	if !errors.Is(err, ErrRefusedTree) || !strings.Contains(err.Error(), `tree entry "e" refused: duplicate entry`) {
		t.Fatalf("Fetch error = %v, want the duplicate entry e refused", err)
	}
	t.Log(err)
	srcDir, err := filepath.Rel(base, f.cacheDir(srv.URL("evil.git"), plumbing.NewBranchReferenceName("main")))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range after {
		p, _, _ := strings.Cut(e, "\t")
		if slices.Contains(before, e) || p == filepath.ToSlash(srcDir) || strings.HasPrefix(p, filepath.ToSlash(srcDir)+"/cache.git") {
			continue
		}
		t.Errorf("a refused fetch wrote %s", e)
	}
}

// gitObject runs git on the bare repository with stdin and returns its
// output trimmed: the hash of what it wrote.
func gitObject(t *testing.T, bare, stdin string, args ...string) string {
	t.Helper()
	git, err := exec.LookPath("git")
	if err != nil {
		t.Skipf("git not available: %v", err)
	}
	cmd := exec.Command(git, args...)
	cmd.Dir = bare
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Env = append(os.Environ(), "GIT_DIR="+bare, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@flotilla.invalid", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@flotilla.invalid")
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
			stderr = ee.Stderr
		}
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return strings.TrimSpace(string(out))
}
