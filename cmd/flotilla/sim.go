package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"flotilla.io/flotilla/internal/sim"
)

func newSimCmd(g *globals) *cobra.Command {
	var (
		opts      sim.Options
		report    string
		hubConfig string
		hubFlags  []string
		cpuProf   string
		pprofAddr string
	)
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Measure a hub with N virtual agents over loopback mTLS",
		Long: "sim starts a hub as a child process (so its CPU and peak RSS are its own), serves it a Git\n" +
			"repository, enrolls N virtual agents that speak the real agent protocol, measures idle traffic,\n" +
			"commits changes and times each one until every agent has applied it.",
		Example: "  ulimit -n 65536; flotilla sim --clusters 10000 --bundles 20 --objects-per-bundle 25 --groups 50 --changes 3 --report json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if report != "table" && report != "json" {
				return fmt.Errorf("--report %q: want table or json", report)
			}
			log, err := g.logger()
			if err != nil {
				return err
			}
			opts.Logger = log
			if err := sim.CheckFileLimit(opts.Clusters); err != nil {
				return err // before a hub is started for nothing
			}
			if pprofAddr != "" {
				stop, err := servePprof(cmd.Context(), pprofAddr, log)
				if err != nil {
					return err
				}
				defer stop()
			}
			if cpuProf != "" {
				f, err := os.Create(cpuProf)
				if err != nil {
					return fmt.Errorf("creating CPU profile: %w", err)
				}
				defer f.Close()
				opts.ChangeProfile = f
			}
			dir, err := os.MkdirTemp("", "flotilla-sim-")
			if err != nil {
				return fmt.Errorf("creating work directory: %w", err)
			}
			defer os.RemoveAll(dir)
			opts.WorkDir = dir
			if hubConfig != "" {
				opts.Hub = sim.ExternalHub(hubConfig)
			} else {
				exe, err := os.Executable()
				if err != nil {
					return fmt.Errorf("finding this binary: %w", err)
				}
				h, err := sim.StartChildHub(cmd.Context(), sim.ChildHubOptions{Command: []string{exe, "hub"}, Args: hubFlags, DataDir: filepath.Join(dir, "hub"), Logger: log})
				if err != nil {
					return err
				}
				defer h.Close()
				opts.Hub = h
			}
			rep, runErr := sim.Run(cmd.Context(), opts)
			if rep != nil {
				out := cmd.OutOrStdout()
				if report == "json" {
					err = rep.WriteJSON(out)
				} else {
					err = rep.WriteTable(out)
				}
				if err != nil {
					return fmt.Errorf("writing report: %w", err)
				}
			}
			return runErr
		},
	}
	f := cmd.Flags()
	f.IntVar(&opts.Clusters, "clusters", 100, "virtual agents (clusters) to enroll")
	f.IntVar(&opts.Bundles, "bundles", 5, "bundles in the Git repository")
	f.IntVar(&opts.ObjectsPerBundle, "objects-per-bundle", 10, "ConfigMaps per bundle")
	f.IntVar(&opts.Groups, "groups", 1, "cluster groups: one source per group targets label group=g<i>")
	f.IntVar(&opts.Changes, "changes", 3, "commits to make, each changing one object in every bundle")
	f.Float64Var(&opts.FlapFraction, "flap-fraction", 0, "fraction of agents whose link flaps during the changes")
	f.Uint64Var(&opts.Seed, "seed", 1, "seed of every random choice")
	f.StringVar(&report, "report", "table", "report format: table or json")
	f.StringVar(&pprofAddr, "pprof-listen", "", "serve the simulator's own pprof profiles on this loopback address; off when empty")
	f.StringVar(&cpuProf, "cpu-profile", "", "write the simulator's own CPU profile (the agents' side) during the changes to this file")
	f.StringArrayVar(&hubFlags, "hub-flag", nil, "extra flag for the hub the sim starts, e.g. --hub-flag=--pprof-listen=127.0.0.1:6060 (repeatable)")
	f.StringVar(&hubConfig, "hub-config", "", "admin.yaml of a running hub to measure instead of starting one")
	return cmd
}
