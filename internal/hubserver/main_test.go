package hubserver

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"

	"flotilla.io/flotilla/internal/renderworker"
)

// TestMain lets the test binary be a render worker, as `flotilla
// render-worker` is for the hub: tests start render pools of it.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "render-worker" {
		log := slog.New(slog.NewTextHandler(os.Stderr, nil))
		if err := renderworker.Serve(context.Background(), os.Stdin, os.Stdout, renderworker.ServeOptions{Logger: log}); err != nil {
			fmt.Fprintln(os.Stderr, "render worker:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}
