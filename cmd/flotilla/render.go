package main

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"flotilla.io/flotilla/internal/egress"
	"flotilla.io/flotilla/internal/render"
)

// renderFlags describe the cluster `flotilla render` renders for.
type renderFlags struct {
	labels      []string
	clusterName string
	groups      []string
	source      string
	paths       []string
	kubeVersion string
	apiVersions []string
	chartCache  string
	allowRemote bool
	chartHosts  []string
}

func newRenderCmd(g *globals) *cobra.Command {
	var rf renderFlags
	cmd := &cobra.Command{
		Use:   "render DIR",
		Short: "Print what a cluster with given labels receives from the bundles under DIR, without a hub",
		Long: "render discovers the bundles under DIR as the hub does, applies each fleet.yaml's targetCustomizations\n" +
			"for a cluster with the given name, labels and groups, and prints the objects the agent would apply,\n" +
			"as multi-document YAML in a stable order (bundles after those they depend on). A bundle that fails\n" +
			"is reported on stderr, the others are still printed, and the command exits non-zero.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRender(cmd, g, args[0], rf)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&rf.labels, "label", nil, "cluster label k=v (repeatable); reserved fact labels such as flotilla.io/arch too")
	f.StringVar(&rf.clusterName, "cluster-name", "", "cluster name, for clusterName in targetCustomizations")
	f.StringArrayVar(&rf.groups, "group", nil, "cluster group the cluster is in, NAME or NAME:k=v,k=v with the group's labels (repeatable)")
	f.StringVar(&rf.source, "source", "", "source name used for bundle and release names (default: DIR's base name)")
	f.StringArrayVar(&rf.paths, "path", nil, "only discover bundles under this path of DIR (repeatable)")
	f.StringVar(&rf.kubeVersion, "kube-version", "", "Kubernetes version Helm charts see (default: Helm's)")
	f.StringArrayVar(&rf.apiVersions, "api-version", nil, "served group/version Helm charts see, added to Helm's defaults (repeatable)")
	f.StringVar(&rf.chartCache, "chart-cache", "", "directory caching remote Helm charts by digest")
	f.BoolVar(&rf.allowRemote, "allow-remote-kustomize", false, "let kustomizations name remote resources (URLs)")
	f.StringArrayVar(&rf.chartHosts, "allow-chart-host", nil, "fetch Helm charts from this host even if its address is loopback, link-local or private, as the hub's flag (repeatable)")
	return cmd
}

func runRender(cmd *cobra.Command, g *globals, dir string, rf renderFlags) error {
	log, err := g.logger()
	if err != nil {
		return err
	}
	target, err := rf.target()
	if err != nil {
		return err
	}
	if err := (egress.Policy{AllowHosts: rf.chartHosts}).Validate(); err != nil {
		return err // names the flag and the pattern
	}
	if rf.source == "" {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return fmt.Errorf("resolving %s: %w", dir, err)
		}
		rf.source = filepath.Base(abs)
	}
	results, err := render.RenderTree(cmd.Context(), dir, target, render.TreeOptions{
		Source: rf.source,
		Paths:  rf.paths,
		Options: render.Options{
			ChartCacheDir:        rf.chartCache,
			AllowRemoteKustomize: rf.allowRemote,
			Egress:               egress.Policy{AllowHosts: rf.chartHosts},
			Logger:               log,
		},
	})
	if err != nil {
		return err
	}
	var out bytes.Buffer
	failed := 0
	for _, r := range results {
		if r.Err != nil {
			failed++
			fmt.Fprintf(cmd.ErrOrStderr(), "bundle %s (%s): %v\n", r.Bundle.Path, r.Name, r.Err)
			continue
		}
		for _, w := range r.Bundle.Warnings {
			fmt.Fprintf(cmd.ErrOrStderr(), "warning: bundle %s: %s\n", r.Bundle.Path, w)
		}
		if err := render.WriteYAML(&out, r.Objects); err != nil {
			return err
		}
	}
	if _, err := cmd.OutOrStdout().Write(out.Bytes()); err != nil {
		return fmt.Errorf("writing output: %w", err)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d bundles failed to render", failed, len(results))
	}
	return nil
}

// target turns the flags into the cluster to render for.
func (rf renderFlags) target() (render.Target, error) {
	t := render.Target{Name: rf.clusterName, KubeVersion: rf.kubeVersion, APIVersions: rf.apiVersions}
	var err error
	if t.Labels, err = parsePairs(rf.labels, "--label"); err != nil {
		return t, err
	}
	for _, g := range rf.groups {
		name, spec, _ := strings.Cut(g, ":")
		if name == "" {
			return t, fmt.Errorf("--group %q: missing name", g)
		}
		var pairs []string
		if spec != "" {
			pairs = strings.Split(spec, ",")
		}
		gl, err := parsePairs(pairs, "--group "+name)
		if err != nil {
			return t, err
		}
		if t.Groups == nil {
			t.Groups = map[string]map[string]string{}
		}
		t.Groups[name] = gl
	}
	return t, nil
}

func parsePairs(pairs []string, flag string) (map[string]string, error) {
	out := make(map[string]string, len(pairs))
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%s %q: want key=value", flag, p)
		}
		out[k] = v
	}
	return out, nil
}
