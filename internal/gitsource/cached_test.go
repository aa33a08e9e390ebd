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
	rev, err := f.Cached("src", commit)
	if err != nil {
		t.Fatalf("Cached: %v", err)
	}
	if rev.Commit != commit {
		t.Errorf("commit = %s, want %s", rev.Commit, commit)
	}
	if b, err := os.ReadFile(filepath.Join(rev.Dir, "a.yaml")); err != nil || string(b) != "x: 1\n" {
		t.Errorf("checkout content = %q, %v", b, err)
	}
	for _, bad := range []struct{ name, commit string }{
		{"src", "0000000000000000000000000000000000000001"},
		{"src", "not-a-hash"},
		{"other", commit},
		{"../x", commit},
	} {
		if _, err := f.Cached(bad.name, bad.commit); err == nil {
			t.Errorf("Cached(%q, %q) succeeded", bad.name, bad.commit)
		}
	}
}
