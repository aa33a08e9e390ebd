package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"flotilla.io/flotilla/internal/clientconfig"
	"flotilla.io/flotilla/internal/hubclient"
)

// addOutputFlag adds -o table|json.
func addOutputFlag(cmd *cobra.Command, out *string) {
	cmd.Flags().StringVarP(out, "output", "o", "table", "output format: table or json")
}

// printAs writes v as JSON, or calls table with a tab-aligned writer.
func printAs(w io.Writer, format string, v any, table func(w io.Writer)) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case "table":
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		table(tw)
		return tw.Flush()
	default:
		return fmt.Errorf("unknown output format %q: use table or json", format)
	}
}

// operator connects to the hub the client config names.
func (g *globals) operator() (*hubclient.Operator, error) {
	path, err := clientconfig.Resolve(g.config)
	if err != nil {
		return nil, err
	}
	cfg, err := clientconfig.Load(path)
	if err != nil {
		return nil, err
	}
	return hubclient.NewOperator(cfg)
}

// listCmd builds a `<noun> list` command over one operator call.
func listCmd[T any](g *globals, short string, fetch func(*hubclient.Operator, context.Context) (T, error), table func(io.Writer, T)) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "list",
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			op, err := g.operator()
			if err != nil {
				return err
			}
			v, err := fetch(op, cmd.Context())
			if err != nil {
				return err
			}
			return printAs(cmd.OutOrStdout(), out, v, func(w io.Writer) { table(w, v) })
		},
	}
	addOutputFlag(cmd, &out)
	return cmd
}

func formatLabels(l map[string]string) string {
	if len(l) == 0 {
		return "<none>"
	}
	parts := make([]string, 0, len(l))
	for _, k := range slices.Sorted(maps.Keys(l)) {
		parts = append(parts, k+"="+l[k])
	}
	return strings.Join(parts, ",")
}

// age formats how long ago t was, as kubectl's AGE column does: one word.
func age(t *time.Time) string {
	if t == nil {
		return "never"
	}
	d := time.Since(*t)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	default:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	}
}

func short(commit string) string {
	if len(commit) > 12 {
		return commit[:12]
	}
	return commit
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}
