package render

import (
	"context"
	"fmt"
	"log/slog"
	"path"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"flotilla.io/flotilla/internal/bundle"
	"flotilla.io/flotilla/internal/egress"
	"flotilla.io/flotilla/internal/helmrepo"
)

// Options tune RenderEffective; the zero value renders local content only.
type Options struct {
	// ChartCacheDir keeps remote Helm charts by digest (the hub passes
	// DATA-DIR/charts); empty fetches them every time.
	ChartCacheDir string
	// AllowRemoteKustomize lets kustomizations name remote resources;
	// otherwise they are refused before Kustomize runs.
	AllowRemoteKustomize bool
	// Egress governs every request a render makes (remote Helm
	// repositories and charts): the hosts allowed beyond public addresses
	// (--allow-chart-host) and the time limits. It is plain data, so
	// Options can travel to a render worker as JSON; the zero value
	// refuses internal addresses.
	Egress egress.Policy
	// ChartLimits bound what a chart repository may send; zero fields
	// mean the defaults.
	ChartLimits helmrepo.Limits
	// Limits bound each render; the zero value means the defaults.
	Limits Limits
	Logger *slog.Logger
}

// RenderEffective renders one bundle of the checkout at root with the
// options Resolve chose for a group of clusters. Objects come back sorted
// by group, kind, namespace and name, exactly as the agent applies them.
//
// A Helm chart (helm.chart, helm.repo, or a Chart.yaml in the bundle) is
// rendered with Helm, then with Kustomize when kustomize.dir (or the
// bundle directory) holds a kustomization, as Fleet post-renders; else a
// kustomization is built; else every manifest file is read and
// yaml.overlays applied. Helm values that are a ${ } template
// (e.ValuesTemplate) are templated first, as part of the render, so under
// its limits. Failures located in a file are *Error. Objects
// and bytes are counted against opts.Limits while they are decoded, and a
// render past one is refused with a *LimitError; the time limit is the
// caller's (see Renderer).
func RenderEffective(ctx context.Context, root string, b bundle.Bundle, e Effective, opts Options) ([]*unstructured.Unstructured, error) {
	if b.Err != nil {
		return nil, fmt.Errorf("rendering bundle %s: %w", b.Path, b.Err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	c, err := bundle.OpenCheckout(root)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	dir, err := bundle.CleanRel(b.Path)
	if err != nil {
		return nil, fmt.Errorf("rendering bundle %s: %w", b.Path, err)
	}
	b.Path = dir
	b.Exclude = e.Exclude
	if e.ValuesTemplate != nil {
		v, err := templateValues(ctx, e.Values, *e.ValuesTemplate)
		if err != nil {
			return nil, errorf(path.Join(b.Path, "fleet.yaml"), 0, "%w", err)
		}
		e.Values, e.ValuesTemplate = v, nil
	}
	bg := newBudget(opts.Limits)
	items, err := renderItems(ctx, c, b, e, opts, bg)
	if err != nil {
		return nil, err
	}
	if err := setNamespaces(items, e.Options); err != nil {
		return nil, err
	}
	n := len(items)
	if items = ensureNamespace(items, e.Options); len(items) > n {
		// The release namespace counts like any other object.
		if err := bg.object(); err != nil {
			return nil, errorf(path.Join(b.Path, "fleet.yaml"), 0, "%w", err)
		}
	}
	return sortObjects(items)
}

func renderItems(ctx context.Context, c *bundle.Checkout, b bundle.Bundle, e Effective, opts Options, bg *budget) ([]item, error) {
	kdir, kfile, err := kustomization(c, b, e.Options)
	if err != nil {
		return nil, err
	}
	k := kustomizeRun{kdir: kdir, kfile: kfile, allowRemote: opts.AllowRemoteKustomize, budget: bg}
	if h := helmChart(c, b, e); h != nil {
		manifest, where, err := renderHelm(ctx, c, b, e, h, opts)
		if err != nil {
			return nil, err
		}
		if kfile == "" {
			return decodeManifests(nil, where, manifest, bg)
		}
		k.helmOutput = manifest
		return renderKustomize(ctx, c, k)
	}
	if kfile != "" {
		return renderKustomize(ctx, c, k)
	}
	var overlays []string
	if e.Options.YAML != nil {
		overlays = e.Options.YAML.Overlays
	}
	return renderRaw(ctx, c, b, overlays, bg)
}
