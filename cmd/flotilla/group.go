package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"flotilla.io/flotilla/internal/hubclient"
	"flotilla.io/flotilla/internal/wire"
)

func newGroupCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "group", Aliases: []string{"groups"}, Short: "Cluster groups: named selectors whose members follow cluster labels"}
	cmd.AddCommand(newGroupCreateCmd(g), newGroupDeleteCmd(g), listCmd(g, "List groups and their members", (*hubclient.Operator).Groups,
		func(w io.Writer, gs []wire.GroupInfo) {
			fmt.Fprintln(w, "NAME\tSELECTOR\tLABELS\tCLUSTERS\tMEMBERS")
			for _, gr := range gs {
				fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\n", gr.Name, gr.Selector, formatLabels(gr.Labels), len(gr.Members), orNone(strings.Join(gr.Members, ",")))
			}
		}))
	return cmd
}

func newGroupCreateCmd(g *globals) *cobra.Command {
	var (
		spec   wire.GroupSpec
		labels []string
		out    string
	)
	cmd := &cobra.Command{
		Use:   "create NAME --selector SELECTOR [--label k=v]...",
		Short: "Create or replace a cluster group",
		Example: `  flotilla group create eu-edge --selector 'region in (eu-west,eu-north),flotilla.io/arch=arm64'
  flotilla group create core --selector env=prod --label tier=core   # fleet.yaml clusterGroupSelector matches tier=core`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec.Name = args[0]
			var err error
			if spec.Labels, err = parsePairs(labels, "--label"); err != nil {
				return err
			}
			if len(spec.Labels) == 0 {
				spec.Labels = nil
			}
			op, err := g.operator()
			if err != nil {
				return err
			}
			info, err := op.PutGroup(cmd.Context(), spec)
			if err != nil {
				return err
			}
			return printAs(cmd.OutOrStdout(), out, info, func(w io.Writer) {
				fmt.Fprintf(w, "group %s saved: %d clusters\n", info.Name, len(info.Members))
			})
		},
	}
	cmd.Flags().StringVar(&spec.Selector, "selector", "", "label selector over cluster labels and facts")
	cmd.Flags().StringArrayVar(&labels, "label", nil, "the group's own label, key=value (repeatable), which fleet.yaml clusterGroupSelector matches")
	_ = cmd.MarkFlagRequired("selector")
	addOutputFlag(cmd, &out)
	return cmd
}

func newGroupDeleteCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a cluster group",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			op, err := g.operator()
			if err != nil {
				return err
			}
			if err := op.DeleteGroup(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "group %s deleted\n", args[0])
			return nil
		},
	}
}
