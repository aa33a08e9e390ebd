package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// globals are the flags every command shares.
type globals struct {
	config   string
	logLevel string
}

func newRootCmd() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:           "flotilla",
		Short:         "GitOps fleet manager for edge Kubernetes",
		Long:          "Flotilla keeps thousands of small Kubernetes clusters in the state a Git repository describes.\nThe hub renders and signs; each cluster's agent pulls, verifies, applies and reports.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&g.config, "config", "", "client config written by the hub (default $FLOTILLA_CONFIG)")
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	root.AddCommand(
		newHubCmd(g),
		newAgentCmd(g),
		newSourceCmd(g),
		newGroupCmd(g),
		newTokenCmd(g),
		newClustersCmd(g),
		newBundlesCmd(g),
		newSimCmd(g),
		newRenderCmd(g),
		newRenderWorkerCmd(),
		&cobra.Command{
			Use:   "version",
			Short: "Print the version",
			Args:  cobra.NoArgs,
			Run:   func(cmd *cobra.Command, _ []string) { fmt.Fprintln(cmd.OutOrStdout(), version) },
		},
	)
	return root
}

// logger builds the structured logger for a long-running role.
func (g *globals) logger() (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})), nil
}
