package gitsource

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"flotilla.io/flotilla/internal/testenv/gitserver"
)

func TestCachedServesWithoutTheRemote(t *testing.T) {
	root := t.TempDir()
	bare := filepath.Join(root, "r.git")
	gitserver.InitBare(t, bare)
	w := gitserver.NewWork(t, bare)
	w.WriteFile(t, "a.yaml", "x: 1\n")
	commit := w.CommitAndPush(t, "one")

	f, err := New(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Fetch(context.Background(), "src", bare, "main"); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(bare); err != nil { // the Git server is gone
		t.Fatal(err)
	}
	if _, err := f.Fetch(context.Background(), "src", bare, "main"); err == nil {
		t.Fatal("fetch from a removed repository succeeded")
	}
	rev, err := f.Cached("src", bare, "main", commit)
	if err != nil {
		t.Fatalf("Cached: %v", err)
	}
	if rev.Commit != commit {
		t.Errorf("commit = %s, want %s", rev.Commit, commit)
	}
	if b, err := os.ReadFile(filepath.Join(rev.Dir, "a.yaml")); err != nil || string(b) != "x: 1\n" {
		t.Errorf("checkout content = %q, %v", b, err)
	}
	// Another source over the same repository and branch shares the cache.
	if _, err := f.Cached("other", bare, "", commit); err != nil {
		t.Errorf("Cached by another source of the same repository: %v", err)
	}
	for _, bad := range []struct{ name, url, branch, commit string }{
		{"src", bare, "main", "0000000000000000000000000000000000000001"},
		{"src", bare, "main", "not-a-hash"},
		{"src", bare, "dev", commit},
		{"src", bare + "-other", "main", commit},
		{"../x", bare, "main", commit},
	} {
		if _, err := f.Cached(bad.name, bad.url, bad.branch, bad.commit); err == nil {
			t.Errorf("Cached(%q, %q, %q, %q) succeeded", bad.name, bad.url, bad.branch, bad.commit)
		}
	}
}
