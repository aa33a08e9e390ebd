package render

import (
	"bytes"
	"context"
	"fmt"
	"sort"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"flotilla.io/flotilla/internal/bundle"
)

// Result is what one bundle gives one cluster.
type Result struct {
	Bundle bundle.Bundle
	// Name is Fleet's bundle name for the source.
	Name string
	// Skipped is true when the bundle does not deploy to the cluster
	// (doNotDeploy).
	Skipped bool
	Objects []*unstructured.Unstructured
	Err     error
}

// TreeOptions tune RenderTree.
type TreeOptions struct {
	Options
	// Source names the source, for bundle names (dependsOn matches them).
	Source string
	// Paths limit discovery as a source's paths do; empty means the root.
	Paths []string
}

// RenderTree discovers the bundles under root as the hub does and renders
// each for one cluster. Results are ordered so that a bundle comes after
// the bundles it depends on, else by path; a dependency cycle keeps path
// order. A bundle that fails carries its error and the others go on.
func RenderTree(ctx context.Context, root string, t Target, opts TreeOptions) ([]Result, error) {
	found, err := bundle.Discover(root, opts.Paths)
	if err != nil {
		return nil, err
	}
	results := make([]Result, 0, len(found))
	for _, b := range found {
		r := Result{Bundle: b, Name: bundleName(opts.Source, b)}
		if b.Err != nil {
			r.Err = b.Err
			results = append(results, r)
			continue
		}
		eff, skip, err := Resolve(b, t)
		switch {
		case err != nil:
			r.Err = err
		case skip:
			r.Skipped = true
		default:
			eff.UseBundleName(r.Name)
			if !ReadsCapabilities(root, b) {
				eff.WithoutCapabilities() // as the hub renders it
			}
			r.Objects, r.Err = RenderEffective(ctx, root, b, eff, opts.Options)
		}
		results = append(results, r)
	}
	return orderByDependencies(results), nil
}

func bundleName(source string, b bundle.Bundle) string {
	if b.Options.Name != "" {
		return b.Options.Name
	}
	return bundle.Name(source, b.Path)
}

// orderByDependencies sorts results topologically by dependsOn, keeping
// path order among bundles that do not depend on each other.
func orderByDependencies(in []Result) []Result {
	deps := make([][]int, len(in))
	for i, r := range in {
		for _, d := range r.Bundle.Options.DependsOn {
			for j, o := range in {
				if j != i && dependsOn(d, o) {
					deps[i] = append(deps[i], j)
				}
			}
		}
	}
	out := make([]Result, 0, len(in))
	state := make([]int, len(in)) // 0 new, 1 visiting, 2 done
	var visit func(i int)
	visit = func(i int) {
		if state[i] != 0 {
			return // done, or a cycle: leave it where it is
		}
		state[i] = 1
		sort.Ints(deps[i])
		for _, j := range deps[i] {
			visit(j)
		}
		state[i] = 2
		out = append(out, in[i])
	}
	for i := range in {
		visit(i)
	}
	return out
}

func dependsOn(d bundle.DependsOn, r Result) bool {
	if d.Name != "" {
		return d.Name == r.Name
	}
	if d.Selector == nil {
		return false
	}
	s, err := metav1.LabelSelectorAsSelector(d.Selector)
	if err != nil {
		return false
	}
	return s.Matches(labels.Set(r.Bundle.Options.Labels))
}

// WriteYAML writes objects as multi-document YAML, keys sorted, one
// document per object, in the order given.
func WriteYAML(buf *bytes.Buffer, objs []*unstructured.Unstructured) error {
	for _, o := range objs {
		data, err := yaml.Marshal(o.Object)
		if err != nil {
			return fmt.Errorf("encoding %s: %w", describe(o), err)
		}
		buf.WriteString("---\n")
		buf.Write(data)
	}
	return nil
}
