package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"flotilla.io/flotilla/internal/agent"
)

func newAgentCmd(g *globals) *cobra.Command {
	var (
		opts       agent.Options
		kubeconfig string
		supervise  bool
		installDir string
		deadline   time.Duration
	)
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run the agent in or beside an edge cluster",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger()
			if err != nil {
				return err
			}
			if supervise {
				exe, err := os.Executable()
				if err != nil {
					return fmt.Errorf("finding the agent binary: %w", err)
				}
				return agent.Supervise(cmd.Context(), agent.SuperviseOptions{Binary: exe, Args: agent.ChildArgs(os.Args[1:]), StateDir: opts.StateDir,
					InstallDir: installDir, Deadline: deadline, Logger: log.With("role", "supervisor")})
			}
			if installDir != "" {
				return errors.New("--install-dir needs --supervise")
			}
			opts.Logger = log
			opts.Version = version
			err = agent.RunCluster(cmd.Context(), kubeconfig, "flotilla-agent/"+version, opts)
			if errors.Is(err, agent.ErrUpdateReady) {
				os.Exit(agent.ExitUpdate) // the supervisor starts the release
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Token, "token", os.Getenv("FLOTILLA_TOKEN"), "bootstrap token from `flotilla token create` (first start only; default $FLOTILLA_TOKEN)")
	f.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig of the cluster to manage (default: in-cluster config)")
	f.StringVar(&opts.StateDir, "state-dir", "/var/lib/flotilla/agent", "directory for identity, manifest and objects")
	f.StringVar(&opts.Name, "name", "", "cluster name to enroll as (default: chosen by the hub)")
	f.BoolVar(&supervise, "supervise", false, "run the agent under a supervisor that updates it to the releases the hub names and rolls a failing one back")
	f.StringVar(&installDir, "install-dir", "", "with --supervise: a writable directory the agent's binary is copied to and updated in, for a binary that cannot be replaced (a container image's)")
	f.DurationVar(&deadline, "update-deadline", agent.DefaultUpdateDeadline, "with --supervise: how long a new release has to report healthy before it is rolled back")
	cmd.AddCommand(newAgentManifestCmd())
	cmd.AddCommand(newReleaseCmd(g))
	return cmd
}

// newAgentManifestCmd prints the YAML that runs the agent inside a K3s
// (or any Kubernetes) cluster.
func newAgentManifestCmd() *cobra.Command {
	var o agent.DeployOptions
	cmd := &cobra.Command{
		Use:   "manifest",
		Short: "Print the YAML that runs the agent in the cluster it manages (K3s: drop it in /var/lib/rancher/k3s/server/manifests/)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, err := agent.DeployManifest(o)
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Token, "token", "", "bootstrap token from `flotilla token create` (required)")
	f.StringVar(&o.Image, "image", "", "agent image (default ghcr.io/flotilla-io/flotilla-agent:latest)")
	f.StringVar(&o.Namespace, "namespace", "", "namespace for the agent (default flotilla-system)")
	f.StringVar(&o.StateDir, "state-dir", "", "state directory on the node, a hostPath (default /var/lib/flotilla/agent)")
	f.StringVar(&o.Name, "name", "", "cluster name to enroll as (default: chosen by the hub)")
	_ = cmd.MarkFlagRequired("token")
	return cmd
}
