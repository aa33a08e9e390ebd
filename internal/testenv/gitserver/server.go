package gitserver

import (
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Server serves every bare repository under its root over smart HTTP.
type Server struct {
	srv *httptest.Server
}

// Start serves the bare repositories under root on 127.0.0.1 and closes
// the server on t.Cleanup. Only fetches are served: tests push to the bare
// directory on disk.
func Start(t testing.TB, root string) *Server {
	t.Helper()
	backend := httpBackend(t)
	abs, err := filepath.Abs(root)
	if err != nil {
		t.Fatalf("resolving git root: %v", err)
	}
	h := &cgi.Handler{
		Path: backend,
		Root: "/",
		Env: []string{
			"GIT_PROJECT_ROOT=" + abs,
			// Serve every repository, not only those with git-daemon-export-ok.
			"GIT_HTTP_EXPORT_ALL=1",
			// Keep the user's and the machine's git config out of the backend.
			"GIT_CONFIG_NOSYSTEM=1",
			"GIT_CONFIG_GLOBAL=/dev/null",
		},
		Stderr: testWriter{t},
	}
	// httptest listens on 127.0.0.1:0 and its Close waits for running
	// requests, so the backend never logs after the test ended.
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &Server{srv: srv}
}

// URL returns the clone URL of repo, a path relative to the server's root:
// http://127.0.0.1:port/<repo>.
func (s *Server) URL(repo string) string {
	return s.srv.URL + "/" + strings.TrimPrefix(filepath.ToSlash(repo), "/")
}

// httpBackend finds git-http-backend through git's exec path.
func httpBackend(t testing.TB) string {
	t.Helper()
	git := gitBinary(t)
	out, err := exec.Command(git, "--exec-path").Output()
	if err != nil {
		t.Fatalf("finding git exec path: %v", err)
	}
	backend := filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	if _, err := os.Stat(backend); err != nil {
		t.Skipf("git-http-backend not available: %v", err)
	}
	return backend
}

// testWriter sends the backend's stderr to the test log, where a failing
// fetch explains itself.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("git-http-backend: %s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
