package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/spf13/cobra"

	"flotilla.io/flotilla/internal/hubserver"
)

func newHubCmd(g *globals) *cobra.Command {
	var (
		cfg         hubserver.Config
		pprofListen string
	)
	cmd := &cobra.Command{
		Use:   "hub",
		Short: "Run the hub: Git sources in, signed manifests out to agents",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger()
			if err != nil {
				return err
			}
			cfg.Logger = log
			if pprofListen != "" {
				stop, err := servePprof(cmd.Context(), pprofListen, log)
				if err != nil {
					return err
				}
				defer stop()
			}
			srv, err := hubserver.Start(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			log.Info("operator config written", "path", srv.AdminConfig)
			return srv.Wait(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data-dir", "/var/lib/flotilla/hub", "directory for the database, CA, keys and admin.yaml")
	f.StringVar(&cfg.Listen, "listen", ":8443", "address to serve agents and operators on")
	f.StringVar(&cfg.AdvertiseURL, "advertise-url", "", "URL agents reach the hub at (default: derived from --listen)")
	f.BoolVar(&cfg.AllowRemoteKustomize, "allow-remote-kustomize", false, "let kustomizations name remote resources (URLs); refused by default")
	f.DurationVar(&cfg.LongPoll, "long-poll", 60*time.Second, "how long an agent's manifest request waits for a change")
	f.StringVar(&pprofListen, "pprof-listen", "", "serve Go's pprof profiles on this address (loopback only, e.g. 127.0.0.1:6060); off when empty")
	return cmd
}

// servePprof serves net/http/pprof on a loopback address of its own, apart
// from the API, for profiling a hub under load.
func servePprof(ctx context.Context, addr string, log *slog.Logger) (stop func(), err error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("--pprof-listen %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("--pprof-listen %q: profiles are served on loopback addresses only", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening for pprof: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, BaseContext: func(net.Listener) context.Context { return ctx }}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("serving pprof", "err", err)
		}
	}()
	log.Info("serving pprof", "addr", ln.Addr().String())
	return func() { _ = srv.Close() }, nil
}
