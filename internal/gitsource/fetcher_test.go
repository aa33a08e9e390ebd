package gitsource

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/google/go-cmp/cmp"

	"flotilla.io/flotilla/internal/testenv/gitserver"
)

// remote is a bare repository reachable by one transport.
type remote struct {
	bare string // on disk, for pushing
	url  string // what the Fetcher is given
}

// remotes returns one fresh repository per transport the Fetcher supports
// without credentials.
func remotes(t *testing.T) map[string]remote {
	root := t.TempDir()
	srv := gitserver.Start(t, root)
	out := map[string]remote{}
	for _, kind := range []string{"http", "file", "path", "worktree"} {
		bare := filepath.Join(root, kind+".git")
		gitserver.InitBare(t, bare)
		r := remote{bare: bare}
		switch kind {
		case "http":
			r.url = srv.URL(kind + ".git")
		case "file":
			r.url = "file://" + bare
		case "path":
			r.url = bare
		}
		out[kind] = r
	}
	return out
}

func TestFetchLifecycle(t *testing.T) {
	for kind, r := range remotes(t) {
		t.Run(kind, func(t *testing.T) {
			ctx := t.Context()
			f := newFetcher(t)
			w := gitserver.NewWork(t, r.bare)
			if kind == "worktree" {
				// A plain path to a non-bare clone with a .git directory.
				r.url = w.Dir
			}
			w.WriteFile(t, "apps/web/deploy.yaml", "kind: Deployment\n")
			w.WriteFile(t, "apps/web/fleet.yaml", "defaultNamespace: web\n")
			c1 := w.CommitAndPush(t, "first")

			rev1 := mustFetch(ctx, t, f, "src", r.url, "")
			if rev1.Commit != c1 {
				t.Fatalf("commit = %s, want %s", rev1.Commit, c1)
			}
			want := map[string]string{
				"apps/web/deploy.yaml": "kind: Deployment\n",
				"apps/web/fleet.yaml":  "defaultNamespace: web\n",
			}
			if diff := cmp.Diff(want, readTree(t, rev1.Dir)); diff != "" {
				t.Errorf("first revision (-want +got):\n%s", diff)
			}

			packs := packCount(t, f, r.url)
			again := mustFetch(ctx, t, f, "src", r.url, "main")
			if diff := cmp.Diff(rev1, again); diff != "" {
				t.Errorf("refetch without change (-first +again):\n%s", diff)
			}
			if got := packCount(t, f, r.url); got != packs {
				t.Errorf("refetch without change downloaded a pack: %d packs, had %d", got, packs)
			}

			w.Remove(t, "apps/web/fleet.yaml")
			w.WriteFile(t, "apps/db/deploy.yaml", "kind: StatefulSet\n")
			c2 := w.CommitAndPush(t, "second")
			rev2 := mustFetch(ctx, t, f, "src", r.url, "main")
			if rev2.Commit != c2 || rev2.Dir == rev1.Dir {
				t.Fatalf("after a new commit got %+v, want commit %s in a new directory", rev2, c2)
			}
			want = map[string]string{
				"apps/web/deploy.yaml": "kind: Deployment\n",
				"apps/db/deploy.yaml":  "kind: StatefulSet\n",
			}
			if diff := cmp.Diff(want, readTree(t, rev2.Dir)); diff != "" {
				t.Errorf("second revision (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(map[string]string{
				"apps/web/deploy.yaml": "kind: Deployment\n",
				"apps/web/fleet.yaml":  "defaultNamespace: web\n",
			}, readTree(t, rev1.Dir)); diff != "" {
				t.Errorf("first revision changed after the second fetch (-want +got):\n%s", diff)
			}

			c3 := w.CommitAndPush(t, "third")
			rev3 := mustFetch(ctx, t, f, "src", r.url, "main")
			if rev3.Commit != c3 {
				t.Fatalf("commit = %s, want %s", rev3.Commit, c3)
			}
			c4 := w.CommitAndPush(t, "fourth")
			if rev4 := mustFetch(ctx, t, f, "src", r.url, "main"); rev4.Commit != c4 {
				t.Fatalf("commit = %s, want %s", rev4.Commit, c4)
			}
			wantDirs := []string{"rev-" + c2, "rev-" + c3, "rev-" + c4}
			sort.Strings(wantDirs)
			if diff := cmp.Diff(wantDirs, revDirs(t, f, r.url)); diff != "" {
				t.Errorf("kept revisions (-want +got):\n%s", diff)
			}
			// Another source over the same repository and branch shares
			// the cache: no download, the same checkout.
			if other := mustFetch(ctx, t, f, "other", r.url, "main"); other.Dir != filepath.Join(f.cacheDir(r.url, plumbing.NewBranchReferenceName("main")), "rev-"+c4) {
				t.Errorf("another source of the repository got %s", other.Dir)
			}

			_, err := f.Fetch(ctx, "src", r.url, "no-such-branch")
			if !errors.Is(err, ErrBranchNotFound) {
				t.Errorf("missing branch: err = %v, want ErrBranchNotFound", err)
			}
		})
	}
}

func TestFetchErrors(t *testing.T) {
	root := t.TempDir()
	srv := gitserver.Start(t, root)
	gitserver.InitBare(t, filepath.Join(root, "empty.git"))
	missingDir := filepath.Join(t.TempDir(), "missing")

	tests := []struct {
		name, source, url, branch string
		wantIn                    string // a part of the message
	}{
		{name: "empty url", source: "s", url: "", wantIn: "empty URL"},
		{name: "unsupported scheme", source: "s", url: "ftp://user:hunter22@example.com/r.git", wantIn: `unsupported scheme "ftp"`},
		{name: "git scheme", source: "s", url: "git://example.com/r.git", wantIn: `unsupported scheme "git"`},
		{name: "bad name", source: "../up", url: "file:///x", wantIn: "invalid name"},
		{name: "bad branch", source: "s", url: "file:///x", branch: "a..b", wantIn: "invalid branch"},
		{name: "missing local repo", source: "s", url: missingDir, wantIn: "repository not found"},
		{name: "missing file repo", source: "s", url: "file://" + missingDir, wantIn: "repository not found"},
		{name: "missing http repo with credentials", source: "s", url: strings.Replace(srv.URL("nope.git"), "http://", "http://user:hunter22@", 1), wantIn: "user:redacted@"},
		{name: "connection refused with credentials", source: "s", url: "http://user:hunter22@127.0.0.1:1/r.git", wantIn: "refused"},
		{name: "ssh is attempted", source: "s", url: "ssh://git:hunter22@127.0.0.1:1/r.git", wantIn: "from ssh://git:redacted@127.0.0.1:1/r.git: "},
		{name: "empty repo", source: "s", url: srv.URL("empty.git"), wantIn: "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFetcher(t)
			rev, err := f.Fetch(t.Context(), tt.source, tt.url, tt.branch)
			if err == nil {
				t.Fatalf("Fetch succeeded with %+v, want an error", rev)
			}
			msg := err.Error()
			t.Log(msg)
			if !strings.Contains(msg, tt.wantIn) {
				t.Errorf("error %q does not contain %q", msg, tt.wantIn)
			}
			if strings.Contains(msg, "hunter22") {
				t.Errorf("error %q leaks the password", msg)
			}
		})
	}
}

func TestFetchRefusesEscapingSymlink(t *testing.T) {
	bare := filepath.Join(t.TempDir(), "r.git")
	gitserver.InitBare(t, bare)
	w := gitserver.NewWork(t, bare)
	w.WriteFile(t, "ok.yaml", "a: 1\n")
	if err := os.Symlink("/etc/passwd", filepath.Join(w.Dir, "leak.yaml")); err != nil {
		t.Fatal(err)
	}
	w.CommitAndPush(t, "leak")
	f := newFetcher(t)
	_, err := f.Fetch(t.Context(), "s", bare, "main")
	if err == nil || !strings.Contains(err.Error(), "leaves the repository") {
		t.Fatalf("err = %v, want a symlink refusal", err)
	}
	if dirs := revDirs(t, f, bare); len(dirs) != 0 {
		t.Errorf("a revision directory was left: %v", dirs)
	}
}

func TestFetchConcurrent(t *testing.T) {
	bare := filepath.Join(t.TempDir(), "r.git")
	gitserver.InitBare(t, bare)
	w := gitserver.NewWork(t, bare)
	w.WriteFile(t, "a.yaml", "a: 1\n")
	c := w.CommitAndPush(t, "one")
	f := newFetcher(t)

	revs := make([]Revision, 4)
	errs := make([]error, len(revs))
	var wg sync.WaitGroup
	for i := range revs {
		wg.Go(func() { revs[i], errs[i] = f.Fetch(t.Context(), "s", "file://"+bare, "") })
	}
	wg.Wait()
	for i := range revs {
		if errs[i] != nil {
			t.Fatalf("fetch %d: %v", i, errs[i])
		}
		if diff := cmp.Diff(Revision{Commit: c, Dir: revs[0].Dir}, revs[i]); diff != "" {
			t.Errorf("fetch %d (-want +got):\n%s", i, diff)
		}
	}
}

func TestNewErrors(t *testing.T) {
	if _, err := New(Options{}); err == nil {
		t.Error("New with no Dir succeeded")
	}
}

func newFetcher(t *testing.T) *Fetcher {
	t.Helper()
	f, err := New(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func mustFetch(ctx context.Context, t *testing.T, f *Fetcher, name, url, branch string) Revision {
	t.Helper()
	rev, err := f.Fetch(ctx, name, url, branch)
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	return rev
}

// readTree returns every file under dir by slash path.
func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		files[filepath.ToSlash(rel)] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// revDirs lists the revision directories of url's main branch.
func revDirs(t *testing.T, f *Fetcher, url string) []string {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(f.cacheDir(url, plumbing.NewBranchReferenceName("main")), revPrefix+"*"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range matches {
		names = append(names, filepath.Base(m))
	}
	sort.Strings(names)
	return names
}

func packCount(t *testing.T, f *Fetcher, url string) int {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(f.cacheDir(url, plumbing.NewBranchReferenceName("main")), "cache.git", "objects", "pack", "*.pack"))
	if err != nil {
		t.Fatal(err)
	}
	return len(matches)
}
