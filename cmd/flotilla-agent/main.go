// Command flotilla-agent is the Flotilla agent alone, for edge boxes: the
// same agent as `flotilla agent`, without the hub, the CLI, Helm,
// Kustomize, go-git or SQLite linked in. This package holds flags and
// wiring only.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"flotilla.io/flotilla/internal/agent"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("flotilla-agent", flag.ContinueOnError)
	var (
		opts       agent.Options
		kubeconfig string
		logLevel   string
		showVer    bool
	)
	fs.StringVar(&opts.Token, "token", os.Getenv("FLOTILLA_TOKEN"), "bootstrap token from `flotilla token create` (first start only; default $FLOTILLA_TOKEN)")
	fs.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig of the cluster to manage (default: in-cluster config)")
	fs.StringVar(&opts.StateDir, "state-dir", "/var/lib/flotilla/agent", "directory for identity, manifest, objects and unsent status")
	fs.StringVar(&opts.Name, "name", "", "cluster name to enroll as (default: chosen by the hub)")
	fs.DurationVar(&opts.Resync, "resync", 0, "how often health is re-checked and failures retried (default 30s)")
	fs.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.BoolVar(&showVer, "version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if showVer {
		fmt.Println(version)
		return nil
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		return fmt.Errorf("parsing --log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	opts.Logger = log
	return agent.RunCluster(ctx, kubeconfig, "flotilla-agent/"+version, opts)
}
