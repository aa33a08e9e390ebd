package main

import (
	"errors"
	"os"
	"time"

	"github.com/spf13/cobra"

	"flotilla.io/flotilla/internal/agent"
)

// errAgentUpdates refuses the update flags: a release replaces the binary
// the supervisor runs with a flotilla-agent build, which is not this
// binary and takes no "agent" subcommand.
var errAgentUpdates = errors.New("--supervise, --install-dir and --update-deadline are flotilla-agent's: " +
	"updates replace the running binary with a flotilla-agent build, so run the supervised agent as `flotilla-agent --supervise` (docs/agent.md)")

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
		Short: "Run the agent in or beside an edge cluster (unsupervised; flotilla-agent --supervise updates itself)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := cmd.Flags()
			if f.Changed("supervise") || f.Changed("install-dir") || f.Changed("update-deadline") {
				return errAgentUpdates
			}
			log, err := g.logger()
			if err != nil {
				return err
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
	// Known, so that using them says why they do not work here; hidden,
	// so that the help does not offer them.
	f.BoolVar(&supervise, "supervise", false, "flotilla-agent's only")
	f.StringVar(&installDir, "install-dir", "", "flotilla-agent's only")
	f.DurationVar(&deadline, "update-deadline", 0, "flotilla-agent's only")
	for _, name := range []string{"supervise", "install-dir", "update-deadline"} {
		_ = f.MarkHidden(name)
	}
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
