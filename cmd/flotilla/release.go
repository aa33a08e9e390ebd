package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"flotilla.io/flotilla/internal/hubclient"
	"flotilla.io/flotilla/internal/wire"
)

// newReleaseCmd is `flotilla agent release`: agent builds the hub serves.
func newReleaseCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "release", Aliases: []string{"releases"}, Short: "Agent builds the hub rolls out to supervised agents"}
	cmd.AddCommand(newReleasePushCmd(g))
	cmd.AddCommand(listCmd(g, "List agent releases, oldest first, with how many clusters want and run each", (*hubclient.Operator).Releases, releaseTable))
	return cmd
}

func releaseTable(w io.Writer, rs []wire.ReleaseInfo) {
	fmt.Fprintln(w, "VERSION\tARCH\tDIGEST\tSIZE\tTARGETS\tCLUSTERS\tRUNNING\tDELTAS FROM\tPUSHED")
	for _, r := range rs {
		targets := append(append([]string{}, r.Targets...), prefixed("group:", r.TargetGroups)...)
		fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%d\t%d\t%s\t%s\n", r.Version, r.Arch, short(r.Digest), r.Size,
			orNone(strings.Join(targets, " ")), r.Clusters, r.Running, orNone(strings.Join(r.Deltas, ",")), age(&r.CreatedAt))
	}
}

func newReleasePushCmd(g *globals) *cobra.Command {
	var (
		spec wire.ReleaseSpec
		out  string
	)
	cmd := &cobra.Command{
		Use:   "push FILE --version V --arch amd64|arm64",
		Short: "Push an agent build; clusters it targets update to it and roll back on their own if it fails",
		Example: `  flotilla agent release push bin/linux-arm64/flotilla-agent --version v1.5.0 --arch arm64 --target env=dev
  flotilla agent release push flotilla-agent --version v1.5.0 --arch amd64 --target-group canary`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			binary, err := readRelease(args[0])
			if err != nil {
				return err
			}
			op, err := g.operator()
			if err != nil {
				return err
			}
			info, err := op.PushRelease(cmd.Context(), spec, binary)
			if err != nil {
				return err
			}
			return printAs(cmd.OutOrStdout(), out, info, func(w io.Writer) {
				fmt.Fprintf(w, "agent release %s (%s) pushed: %d bytes, sha256 %s\n", info.Version, info.Arch, info.Size, info.Digest)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&spec.Version, "version", "", "the build's version, as it reports it (required)")
	f.StringVar(&spec.Arch, "arch", "", "architecture the build runs on: amd64 or arm64 (required)")
	f.StringArrayVar(&spec.Targets, "target", nil, "label selector over cluster labels and facts (repeatable; a cluster matching any gets the release)")
	f.StringArrayVar(&spec.TargetGroups, "target-group", nil, "cluster group whose members get the release (repeatable)")
	_ = cmd.MarkFlagRequired("version")
	_ = cmd.MarkFlagRequired("arch")
	addOutputFlag(cmd, &out)
	return cmd
}

// readRelease reads a build, refusing one larger than a hub keeps before
// it is read whole.
func readRelease(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("reading agent build: %w", err)
	}
	if fi.Size() > wire.MaxReleaseSize {
		return nil, fmt.Errorf("reading agent build %s: %d bytes is more than the %d a hub keeps", path, fi.Size(), wire.MaxReleaseSize)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading agent build: %w", err)
	}
	return b, nil
}
