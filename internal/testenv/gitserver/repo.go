package gitserver

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// InitBare creates a bare repository in dir whose default branch is main.
func InitBare(t testing.TB, dir string) {
	t.Helper()
	run(t, "", "init", "--quiet", "--bare", "-b", "main", dir)
}

// Work is a working clone that pushes to a bare repository on disk.
type Work struct {
	Dir string
}

// NewWork makes a working clone of the bare repository in a new temporary
// directory, with a committer identity set. The bare repository may be
// empty.
func NewWork(t testing.TB, bareDir string) *Work {
	t.Helper()
	abs, err := filepath.Abs(bareDir)
	if err != nil {
		t.Fatalf("resolving bare repo: %v", err)
	}
	dir := t.TempDir()
	// init + remote add works for empty repositories too, where clone
	// would warn and leave no branch.
	run(t, dir, "init", "--quiet", "-b", "main")
	run(t, dir, "config", "user.name", "Flotilla Test")
	run(t, dir, "config", "user.email", "test@flotilla.invalid")
	run(t, dir, "config", "commit.gpgsign", "false")
	run(t, dir, "remote", "add", "origin", abs)
	if strings.TrimSpace(run(t, dir, "ls-remote", "--heads", "origin", "main")) != "" {
		run(t, dir, "fetch", "--quiet", "origin", "main")
		run(t, dir, "reset", "--quiet", "--hard", "origin/main")
	}
	return &Work{Dir: dir}
}

// WriteFile writes content to rel, a slash-separated path in the work
// tree, creating directories as needed.
func (w *Work) WriteFile(t testing.TB, rel, content string) {
	t.Helper()
	path := filepath.Join(w.Dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatalf("creating directory for %s: %v", rel, err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatalf("writing %s: %v", rel, err)
	}
}

// Remove deletes rel (a file or a directory) from the work tree.
func (w *Work) Remove(t testing.TB, rel string) {
	t.Helper()
	if err := os.RemoveAll(filepath.Join(w.Dir, filepath.FromSlash(rel))); err != nil {
		t.Fatalf("removing %s: %v", rel, err)
	}
}

// CommitAndPush commits every change in the work tree and pushes it to
// main of the bare repository. It returns the new commit's SHA.
func (w *Work) CommitAndPush(t testing.TB, msg string) string {
	t.Helper()
	run(t, w.Dir, "add", "--all")
	run(t, w.Dir, "commit", "--quiet", "--allow-empty", "-m", msg)
	run(t, w.Dir, "push", "--quiet", "origin", "HEAD:refs/heads/main")
	return strings.TrimSpace(run(t, w.Dir, "rev-parse", "HEAD"))
}

// run runs git in dir with a clean environment and returns its stdout;
// it fails the test if git fails.
func run(t testing.TB, dir string, args ...string) string {
	t.Helper()
	out, err := execGitIn(t, dir, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func execGit(t testing.TB, args ...string) (string, error) {
	t.Helper()
	return execGitIn(t, "", args...)
}

func execGitIn(t testing.TB, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(gitBinary(t), args...)
	cmd.Dir = dir
	cmd.Env = gitEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("git %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// gitEnv is the process environment without the user's and the machine's
// git configuration, so tests behave the same everywhere.
func gitEnv() []string {
	env := []string{"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_TERMINAL_PROMPT=0"}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GIT_") {
			env = append(env, kv)
		}
	}
	return env
}

func gitBinary(t testing.TB) string {
	t.Helper()
	git, err := exec.LookPath("git")
	if err != nil {
		t.Skipf("git not available: %v", err)
	}
	return git
}
