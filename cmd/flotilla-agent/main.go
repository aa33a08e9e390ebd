// Command flotilla-agent is the Flotilla agent alone, for edge boxes: the
// same agent as `flotilla agent`, without the hub, the CLI, Helm,
// Kustomize, go-git or SQLite linked in. This package holds flags and
// wiring only.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"flotilla.io/flotilla/internal/agent"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:])
	switch {
	case errors.Is(err, agent.ErrUpdateReady):
		os.Exit(agent.ExitUpdate)
	case err != nil:
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
		supervise  bool
		installDir string
		deadline   time.Duration
	)
	fs.StringVar(&opts.Token, "token", os.Getenv("FLOTILLA_TOKEN"), "bootstrap token from `flotilla token create` (first start only; default $FLOTILLA_TOKEN)")
	fs.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig of the cluster to manage (default: in-cluster config)")
	fs.StringVar(&opts.StateDir, "state-dir", "/var/lib/flotilla/agent", "directory for identity, manifest, objects and unsent status")
	fs.StringVar(&opts.Name, "name", "", "cluster name to enroll as (default: chosen by the hub)")
	fs.DurationVar(&opts.Resync, "resync", 0, "how often health is re-checked and failures retried (default 30s)")
	fs.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.BoolVar(&showVer, "version", false, "print the version and exit")
	fs.BoolVar(&supervise, "supervise", false, "run the agent under a supervisor that updates it to the releases the hub names and rolls a failing one back")
	fs.StringVar(&installDir, "install-dir", "", "with --supervise: a writable directory the agent's binary is copied to and updated in, for a binary that cannot be replaced (a container image's)")
	fs.DurationVar(&deadline, "update-deadline", agent.DefaultUpdateDeadline, "with --supervise: how long a new release has to report healthy before it is rolled back")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		// Parsing stops at the first argument that is not a flag: what
		// follows it would be ignored unseen.
		return fmt.Errorf("unexpected argument %q: flotilla-agent takes flags only (`flotilla agent` is the all-in-one binary's form)", fs.Arg(0))
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
	if supervise {
		return superviseSelf(ctx, args, agent.SuperviseOptions{StateDir: opts.StateDir, InstallDir: installDir, Deadline: deadline, Logger: log.With("role", "supervisor")})
	}
	if installDir != "" {
		return errors.New("--install-dir needs --supervise")
	}
	opts.Logger = log
	opts.Version = version
	return agent.RunCluster(ctx, kubeconfig, "flotilla-agent/"+version, opts)
}

// superviseSelf runs this binary, less the supervisor's flags, as the
// supervised agent.
func superviseSelf(ctx context.Context, args []string, o agent.SuperviseOptions) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding the agent binary: %w", err)
	}
	o.Binary, o.Args = exe, agent.ChildArgs(args)
	return agent.Supervise(ctx, o)
}
