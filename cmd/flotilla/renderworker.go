package main

import (
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"flotilla.io/flotilla/internal/renderworker"
)

// newRenderWorkerCmd is the process the hub renders bundles in (see
// renderworker): started by the hub, never by hand.
func newRenderWorkerCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "render-worker",
		Short:  "Render bundles for the hub in a separate process (started by the hub)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// A worker holds nothing worth saving: SIGTERM and SIGINT end
			// it at once, even mid-render, as their default action does.
			signal.Reset(os.Interrupt, syscall.SIGTERM)
			// The protocol owns stdout: anything a library prints goes
			// to stderr instead, which the hub logs.
			protocol := os.Stdout
			os.Stdout = os.Stderr
			log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
			return renderworker.Serve(cmd.Context(), os.Stdin, protocol, renderworker.ServeOptions{Logger: log})
		},
	}
}
