package gitserver

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCloneOverHTTP(t *testing.T) {
	root := t.TempDir()
	bare := filepath.Join(root, "team", "fleet.git")
	InitBare(t, bare)

	w := NewWork(t, bare)
	w.WriteFile(t, "apps/web/deploy.yaml", "kind: Deployment\n")
	w.WriteFile(t, "README", "one\n")
	first := w.CommitAndPush(t, "first")

	// A second work clone starts from what the first pushed.
	w2 := NewWork(t, bare)
	w2.Remove(t, "README")
	second := w2.CommitAndPush(t, "second")
	if first == second {
		t.Fatalf("second commit has the first's SHA %s", first)
	}

	srv := Start(t, root)
	url := srv.URL("team/fleet.git")
	if !strings.HasPrefix(url, "http://127.0.0.1:") || !strings.HasSuffix(url, "/team/fleet.git") {
		t.Errorf("URL = %q", url)
	}

	heads := run(t, "", "ls-remote", "--heads", url)
	if want := second + "\trefs/heads/main\n"; heads != want {
		t.Errorf("ls-remote = %q, want %q", heads, want)
	}

	clone := filepath.Join(t.TempDir(), "clone")
	run(t, "", "clone", "--quiet", url, clone)
	got := listFiles(t, clone)
	if diff := cmp.Diff([]string{"apps/web/deploy.yaml"}, got); diff != "" {
		t.Errorf("cloned files (-want +got):\n%s", diff)
	}
}

func TestMissingRepo(t *testing.T) {
	srv := Start(t, t.TempDir())
	cmd := []string{"ls-remote", srv.URL("nope.git")}
	if out, err := execGit(t, cmd...); err == nil {
		t.Errorf("ls-remote of a missing repo succeeded: %s", out)
	}
}

func listFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, path)
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}
