package main

import (
	"fmt"
	"runtime/debug"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/spf13/cobra"

	"flotilla.io/flotilla/internal/hubserver"
)

func newHubCmd(g *globals) *cobra.Command {
	var (
		cfg         hubserver.Config
		pprofListen string
		memLimit    string
		noLimitFrom []string
		inProcess   bool
		limits      *limitFlags // set below, checked once parsed
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
			if err := limits.check(); err != nil {
				return err
			}
			if cfg.Limits.Requests.NoLimitFrom, err = parseNoLimitFrom(noLimitFrom); err != nil {
				return err
			}
			if !inProcess {
				if cfg.RenderWorker, err = renderWorkerCommand(); err != nil {
					return err
				}
			}
			if memLimit != "" {
				q, err := resource.ParseQuantity(memLimit)
				if err != nil || q.Sign() <= 0 {
					return fmt.Errorf("--memory-limit %q: want a positive quantity such as 1200Mi or 2Gi", memLimit)
				}
				debug.SetMemoryLimit(q.Value())
			}
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
	f.BoolVar(&cfg.Render.AllowRemoteKustomize, "allow-remote-kustomize", false, "let kustomizations name remote resources (URLs); refused by default")
	f.DurationVar(&cfg.LongPoll, "long-poll", 60*time.Second, "how long an agent's manifest request waits for a change")
	f.StringVar(&memLimit, "memory-limit", "", "soft memory limit for the Go runtime (e.g. 1200Mi): the garbage collector works harder near it rather than let the heap double; GOMEMLIMIT when unset")
	f.StringVar(&pprofListen, "pprof-listen", "", "serve Go's pprof profiles on this address (loopback only, e.g. 127.0.0.1:6060); off when empty")
	f.BoolVar(&inProcess, "render-in-process", false, "render in the hub's own process instead of worker processes (a render past its time limit then keeps a core busy until it ends)")
	limits = addHubLimitFlags(f, &cfg, &noLimitFrom)
	return cmd
}
