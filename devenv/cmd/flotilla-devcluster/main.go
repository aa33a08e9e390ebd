// Command flotilla-devcluster runs a real kube-apiserver with an embedded
// etcd in one process, for development and for tests that need a cluster
// they can kill or read the logs of apart.
//
//	flotilla-devcluster --dir DIR [--port N] [--v]
//
// Once the server is ready it writes DIR/kubeconfig and prints one line
// saying where. SIGTERM or SIGINT stops it cleanly (exit 0). Build it with
// the ldflags of hack/devcluster-ldflags.sh so it reports v1.37.2.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"flotilla.io/flotilla/devenv/kubeapiserver"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "flotilla-devcluster:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("flotilla-devcluster", flag.ContinueOnError)
	dir := fs.String("dir", "", "data directory: etcd data, certificates, kubeconfig (required)")
	port := fs.Int("port", 0, "secure port on 127.0.0.1 (0 picks a free one)")
	verbose := fs.Bool("v", false, "log the API server's own messages too")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" || fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("usage: flotilla-devcluster --dir DIR [--port N] [--v]")
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug - 8 // the API server's own info messages are demoted this far
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	srv, err := kubeapiserver.Start(ctx, kubeapiserver.Options{Dir: *dir, Port: *port, Logger: log})
	if err != nil {
		return err
	}
	kubeconfig, err := filepath.Abs(filepath.Join(*dir, "kubeconfig"))
	if err == nil {
		err = srv.WriteKubeconfig(kubeconfig)
	}
	if err != nil {
		srv.Stop()
		return err
	}
	fmt.Printf("flotilla-devcluster: serving %s, kubeconfig %s\n", srv.URL(), kubeconfig)

	<-ctx.Done()
	log.Info("stopping", "signal", context.Cause(ctx))
	return srv.Stop()
}
