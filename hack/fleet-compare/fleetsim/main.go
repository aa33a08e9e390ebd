//go:build fleetsim

// Command fleetsim emulates, for ONE Fleet Bundle and ONE cluster, what Rancher
// Fleet v0.12.0 deploys: the controller's target matching, doNotDeploy, the
// merge of the bundle's and the matched customization's options and the Helm
// values pre-processing (global.fleet.clusterLabels.*, ${ } templating) of
// internal/cmd/controller/target, then the agent's rendering through
// helmdeployer.Template, the same call `fleet test` makes.
//
// It is not part of Flotilla: hack/fleet-compare/run.sh copies it into a copy
// of the Fleet module (as cmd/flotilla-fleetsim) and builds it there with
// -tags fleetsim, because it needs Fleet's internal packages. The build tag
// keeps Flotilla's own `go build ./...` and `go vet ./...` away from it.
//
// The manifest goes to stdout as `fleet test` prints it; one line
// "# fleetsim: {json}" with the match goes to stderr.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/rancher/fleet/internal/cmd/controller/options"
	"github.com/rancher/fleet/internal/cmd/controller/target"
	"github.com/rancher/fleet/internal/cmd/controller/target/matcher"
	"github.com/rancher/fleet/internal/helmdeployer"
	"github.com/rancher/fleet/internal/manifest"
	fleet "github.com/rancher/fleet/pkg/apis/fleet.cattle.io/v1alpha1"
	"github.com/rancher/wrangler/v3/pkg/yaml"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

type kv map[string]string

func (m kv) String() string { return fmt.Sprint(map[string]string(m)) }
func (m kv) Set(s string) error {
	k, v, _ := strings.Cut(s, "=")
	m[k] = v
	return nil
}

type groups map[string]map[string]string

func (g groups) String() string { return fmt.Sprint(map[string]map[string]string(g)) }

// NAME or NAME:k=v,k=v
func (g groups) Set(s string) error {
	name, rest, _ := strings.Cut(s, ":")
	g[name] = map[string]string{}
	if rest != "" {
		for _, p := range strings.Split(rest, ",") {
			k, v, _ := strings.Cut(p, "=")
			g[name][k] = v
		}
	}
	return nil
}

func main() {
	bundleFile := flag.String("b", "", "Bundle yaml (from fleet apply -o)")
	name := flag.String("N", "", "cluster name")
	clusterNS := flag.String("cluster-namespace", "fleet-default", "namespace of the Cluster resource")
	kubeVersion := flag.String("kube-version", "", "kube version for helm (default Fleet's v1.25.0)")
	labels := kv{}
	gs := groups{}
	flag.Var(labels, "l", "cluster label k=v (repeatable)")
	flag.Var(gs, "g", "cluster group NAME[:k=v,...] (repeatable)")
	flag.Parse()

	data, err := os.ReadFile(*bundleFile)
	must(err)
	bundle := &fleet.Bundle{}
	must(yaml.Unmarshal(data, bundle))

	bm, err := matcher.New(bundle)
	must(err)
	groupMap := map[string]map[string]string(gs)
	meta := map[string]any{"bundle": bundle.Name}
	t := bm.Match(*name, groupMap, labels)
	if t == nil {
		meta["matched"] = nil
		emit(meta)
		return
	}
	meta["matched"] = t.Name
	targetOpts := t.BundleDeploymentOptions
	if tc := bm.MatchTargetCustomizations(*name, groupMap, labels); tc != nil {
		meta["customization"] = tc.Name
		if tc.DoNotDeploy {
			meta["doNotDeploy"] = true
			emit(meta)
			return
		}
		targetOpts = tc.BundleDeploymentOptions
	}
	opts := options.Merge(bundle.Spec.BundleDeploymentOptions, targetOpts)
	cluster := &fleet.Cluster{ObjectMeta: metav1.ObjectMeta{Name: *name, Namespace: *clusterNS, Labels: labels}}
	must(target.FlotillaPreprocessHelmValues(&opts, cluster))
	ns := opts.DefaultNamespace
	if opts.TargetNamespace != "" {
		ns = opts.TargetNamespace
	}
	if ns == "" {
		ns = "default"
	}
	meta["namespace"] = ns
	meta["releaseName"] = ""
	if opts.Helm != nil {
		meta["releaseName"] = opts.Helm.ReleaseName
	}
	emit(meta)

	m := manifest.New(bundle.Spec.Resources)
	rel, err := helmdeployer.Template(context.Background(), bundle.Name, m, opts, *kubeVersion)
	must(err)
	objs, err := yaml.ToObjects(bytes.NewBufferString(rel.Manifest))
	must(err)
	out, err := yaml.Export(objs...)
	must(err)
	os.Stdout.Write(out)
}

func emit(m map[string]any) {
	b, _ := json.Marshal(m)
	fmt.Fprintf(os.Stderr, "# fleetsim: %s\n", b)
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}
