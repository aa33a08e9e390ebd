package main

import (
	"time"

	"github.com/spf13/cobra"

	"flotilla.io/flotilla/internal/hubserver"
)

func newHubCmd(g *globals) *cobra.Command {
	var cfg hubserver.Config
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
	return cmd
}
