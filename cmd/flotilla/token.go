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

func newTokenCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "token", Aliases: []string{"tokens"}, Short: "Bootstrap tokens that enroll agents"}
	cmd.AddCommand(newTokenCreateCmd(g), listCmd(g, "List tokens (never their secrets)", (*hubclient.Operator).Tokens,
		func(w io.Writer, ts []wire.TokenInfo) {
			fmt.Fprintln(w, "ID\tLABELS\tUSES\tMAX USES\tEXPIRES")
			for _, t := range ts {
				expires := "never"
				if t.ExpiresAt != nil {
					expires = t.ExpiresAt.Format(time.RFC3339)
				}
				fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%s\n", t.ID, formatLabels(t.Labels), t.Uses, t.MaxUses, expires)
			}
		}))
	return cmd
}

func newTokenCreateCmd(g *globals) *cobra.Command {
	var (
		labels  []string
		ttl     time.Duration
		maxUses int
		out     string
	)
	cmd := &cobra.Command{
		Use:     "create",
		Short:   "Create a bootstrap token; prints only the token",
		Example: `  flotilla agent --token "$(flotilla token create --label env=dev --ttl 1h --max-uses 1)" --kubeconfig ~/.kube/config`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req := wire.TokenRequest{TTL: wire.Duration(ttl), MaxUses: maxUses}
			if len(labels) > 0 {
				req.Labels = map[string]string{}
			}
			for _, l := range labels {
				k, v, ok := strings.Cut(l, "=")
				if !ok || k == "" {
					return fmt.Errorf("--label %q: want key=value", l)
				}
				req.Labels[k] = v
			}
			op, err := g.operator()
			if err != nil {
				return err
			}
			resp, err := op.CreateToken(cmd.Context(), req)
			if err != nil {
				return err
			}
			return printAs(cmd.OutOrStdout(), out, resp, func(w io.Writer) { fmt.Fprintln(w, resp.Token) })
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&labels, "label", nil, "label the enrolled cluster gets, key=value (repeatable)")
	f.DurationVar(&ttl, "ttl", 24*time.Hour, "how long the token is valid (0: forever)")
	f.IntVar(&maxUses, "max-uses", 0, "how many clusters may enroll with it (0: unlimited)")
	addOutputFlag(cmd, &out)
	return cmd
}
