package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"flotilla.io/flotilla/internal/hubclient"
	"flotilla.io/flotilla/internal/wire"
)

func newSourceCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "source", Aliases: []string{"sources"}, Short: "Git repositories the hub renders bundles from"}
	cmd.AddCommand(newSourceAddCmd(g), newSourceDeleteCmd(g), listCmd(g, "List sources", (*hubclient.Operator).Sources,
		func(w io.Writer, ss []wire.SourceInfo) {
			fmt.Fprintln(w, "NAME\tREPO\tBRANCH\tPATHS\tTARGETS\tCOMMIT\tBUNDLES\tFETCHED\tNEXT TRY\tERROR")
			for _, s := range ss {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", s.Name, s.Repo, s.Branch, orNone(strings.Join(s.Paths, ",")),
					orNone(strings.Join(append(s.Targets, prefixed("group:", s.TargetGroups)...), " | ")), short(s.Commit), s.Bundles, age(s.FetchedAt), nextTry(s), s.Error)
			}
		}))
	return cmd
}

func newSourceAddCmd(g *globals) *cobra.Command {
	var (
		spec wire.SourceSpec
		poll time.Duration
		out  string
	)
	cmd := &cobra.Command{
		Use:   "add NAME --repo URL",
		Short: "Add or replace a Git source",
		Example: `  flotilla source add apps --repo https://git.example.com/fleet.git --path apps --target env=dev
  flotilla source add edge --repo file:///srv/git/edge.git --branch main --target 'env in (dev,test)' --poll 30s`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec.Name, spec.Poll = args[0], wire.Duration(poll)
			op, err := g.operator()
			if err != nil {
				return err
			}
			info, err := op.AddSource(cmd.Context(), spec)
			if err != nil {
				return err
			}
			return printAs(cmd.OutOrStdout(), out, info, func(w io.Writer) {
				fmt.Fprintf(w, "source %s saved\n", info.Name)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&spec.Repo, "repo", "", "Git URL: https://, ssh:// or file://")
	f.StringVar(&spec.Branch, "branch", "main", "branch to follow")
	f.StringArrayVar(&spec.Paths, "path", nil, "directory in the repository to look for bundles in (repeatable; default: the root)")
	f.DurationVar(&poll, "poll", time.Minute, "how often to fetch")
	f.StringArrayVar(&spec.Targets, "target", nil, "label selector over cluster labels, e.g. 'env=dev,region in (eu,us)' (repeatable; a cluster matching any receives the bundles)")
	f.StringArrayVar(&spec.TargetGroups, "target-group", nil, "cluster group whose members receive the bundles (repeatable)")
	addOutputFlag(cmd, &out)
	_ = cmd.MarkFlagRequired("repo")
	return cmd
}

func newSourceDeleteCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a source; its bundles are pruned from every cluster",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			op, err := g.operator()
			if err != nil {
				return err
			}
			if err := op.DeleteSource(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "source %s deleted\n", args[0])
			return nil
		},
	}
}

func prefixed(p string, ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = p + s
	}
	return out
}

// nextTry says when the hub fetches a failing source again.
func nextTry(s wire.SourceInfo) string {
	if s.NextFetch == nil {
		return "-"
	}
	d := time.Until(*s.NextFetch).Round(time.Second)
	if d <= 0 {
		return fmt.Sprintf("now (failed %dx)", s.Failures)
	}
	return fmt.Sprintf("in %s (failed %dx)", d, s.Failures)
}
