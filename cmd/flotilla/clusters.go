package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"flotilla.io/flotilla/internal/hubclient"
	"flotilla.io/flotilla/internal/wire"
)

func newClustersCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "clusters", Aliases: []string{"cluster"}, Short: "Enrolled edge clusters"}
	cmd.AddCommand(listCmd(g, "List clusters with their state and generations", (*hubclient.Operator).Clusters,
		func(w io.Writer, cs []wire.ClusterInfo) {
			fmt.Fprintln(w, "NAME\tSTATE\tCONNECTED\tLAST SEEN\tDESIRED\tAPPLIED\tAGENT\tLABELS\tMESSAGE")
			for _, c := range cs {
				fmt.Fprintf(w, "%s\t%s\t%t\t%s\t%d\t%d\t%s\t%s\t%s\n", c.Name, c.State, c.Connected, age(c.LastSeen),
					c.DesiredGeneration, c.AppliedGeneration, agentColumn(c), formatLabels(c.Labels), c.Message)
			}
		}))
	return cmd
}

func newBundlesCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "bundles", Aliases: []string{"bundle"}, Short: "Bundles rendered from sources"}
	cmd.AddCommand(listCmd(g, "List bundles with how many clusters are in each state", (*hubclient.Operator).Bundles,
		func(w io.Writer, bs []wire.BundleInfo) {
			fmt.Fprintln(w, "NAME\tSOURCE\tCOMMIT\tOBJECTS\tCLUSTERS\tREADY\tNOT READY\tERROR")
			for _, b := range bs {
				notReady := b.Clusters - b.States[wire.StateReady]
				fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\n", b.Name, b.Source, short(b.Commit), b.Objects, b.Clusters,
					b.States[wire.StateReady], notReady, b.Error)
			}
		}))
	return cmd
}

// agentColumn is the agent's version, and the release it is moving to or
// failed to run: "v3 (v4 Failed)".
func agentColumn(c wire.ClusterInfo) string {
	v := orNone(c.AgentVersion)
	switch u := c.AgentUpdate; {
	case u != nil && u.Version != c.AgentVersion && u.State != wire.UpdateDone:
		return fmt.Sprintf("%s (%s %s)", v, u.Version, u.State)
	case c.DesiredAgentVersion != "" && c.DesiredAgentVersion != c.AgentVersion:
		return fmt.Sprintf("%s (to %s)", v, c.DesiredAgentVersion)
	}
	return v
}
