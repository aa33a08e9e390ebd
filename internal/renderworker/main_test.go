package renderworker

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// workerEnv makes the test binary a render worker, so that tests need no
// flotilla binary.
const workerEnv = "FLOTILLA_TEST_RENDER_WORKER"

func TestMain(m *testing.M) {
	if os.Getenv(workerEnv) == "1" {
		os.Exit(serveForTest())
	}
	os.Exit(m.Run())
}

// serveForTest is the worker side of the tests. It refuses to start if
// anything of the test's environment reached it, so every pool a test
// starts checks that the hub's environment stays out of its workers.
func serveForTest() int {
	var leaked []string
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); name != workerEnv {
			leaked = append(leaked, name)
		}
	}
	if len(leaked) > 0 {
		fmt.Fprintln(os.Stderr, "environment leaked into the worker:", strings.Join(leaked, " "))
		return 3
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := Serve(context.Background(), os.Stdin, os.Stdout, ServeOptions{Logger: log}); err != nil {
		fmt.Fprintln(os.Stderr, "render worker:", err)
		return 1
	}
	return 0
}

// newTestPool starts a pool of this test binary's workers, closed when
// the test ends.
func newTestPool(t testing.TB, opts Options) *Pool {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	opts.Command = []string{exe}
	opts.Env = append(opts.Env, workerEnv+"=1")
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: testLogLevel}))
	}
	p, err := New(context.Background(), opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// testWriter logs through t.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// writeFiles writes files (slash-separated paths) under root.
func writeFiles(t testing.TB, root string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// testLogLevel is slog.LevelDebug to see what workers print.
const testLogLevel = slog.LevelWarn
