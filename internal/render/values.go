package render

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"strings"
	"text/template"
	"text/template/parse"

	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"

	"flotilla.io/flotilla/internal/bundle"
)

// clusterLabelPrefix marks a Helm value Fleet replaces with a cluster label.
const clusterLabelPrefix = "global.fleet.clusterLabels."

// What a values template may build: its output, and the result of any
// one call of a function that builds (see cappedBuilders), hold at most
// as many bytes as one file of a checkout; a list, as many numbers as
// fill those bytes.
const (
	maxBuiltBytes = bundle.MaxFileBytes
	maxBuiltItems = bundle.MaxFileBytes / 8
)

// clusterValues gives one cluster's Helm values (helm.values and the
// contents of helm.valuesFiles, merged), as Fleet pre-processes them
// before it hands them to the agent: a string value
// "global.fleet.clusterLabels.X" becomes the cluster's label X (an error
// if the cluster has none), then, unless helm.disablePreProcess, the
// values are a template with ${ } delimiters over .ClusterName,
// .ClusterLabels, .ClusterAnnotations, .ClusterValues and
// .ClusterNamespace. Only the substitution happens here, bounded by the
// values' size; when the values hold a template, tpl is what it reads of
// the cluster and RenderEffective runs it (see templateValues), under
// the render's limits.
func clusterValues(values map[string]any, h *bundle.HelmOptions, t Target) (_ map[string]any, tpl *ValuesTemplate, err error) {
	out, err := substituteLabels(values, t.Labels, "")
	if err != nil {
		return nil, nil, err
	}
	m, _ := out.(map[string]any)
	if h != nil && h.DisablePreProcess {
		return m, nil, nil
	}
	data, err := yaml.Marshal(m)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding helm.values: %w", err)
	}
	if !bytes.Contains(data, []byte("${")) {
		return m, nil, nil
	}
	return m, templateInput(string(data), t), nil
}

func substituteLabels(v any, labels map[string]string, path string) (any, error) {
	switch x := v.(type) {
	case string:
		name, ok := strings.CutPrefix(x, clusterLabelPrefix)
		if !ok {
			return x, nil
		}
		val, ok := labels[name]
		if !ok {
			return nil, fmt.Errorf("helm.values%s: %s: the cluster has no label %q", path, x, name)
		}
		return val, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			s, err := substituteLabels(e, labels, path+"."+k)
			if err != nil {
				return nil, err
			}
			out[k] = s
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			s, err := substituteLabels(e, labels, fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return nil, err
			}
			out[i] = s
		}
		return out, nil
	}
	return v, nil
}

// templateValues runs Fleet's ${ } templating over values, only when they
// hold a "${" at all, so plain values keep their exact types. The
// template sees in only, and writes at most bundle.MaxFileBytes; it stops
// at its next write once ctx is done.
func templateValues(ctx context.Context, values map[string]any, in ValuesTemplate) (map[string]any, error) {
	data, err := yaml.Marshal(values)
	if err != nil {
		return nil, fmt.Errorf("encoding helm.values: %w", err)
	}
	if !bytes.Contains(data, []byte("${")) {
		return values, nil
	}
	tpl, err := template.New("values").Delims("${", "}").Option("missingkey=error").Funcs(valuesFuncs()).Parse(string(data))
	if err != nil {
		return nil, fmt.Errorf("parsing helm.values template: %w", err)
	}
	labels := maps.Clone(in.ClusterLabels)
	if labels == nil {
		labels = map[string]string{}
	}
	out := &cappedWriter{ctx: ctx, max: maxBuiltBytes}
	err = tpl.Execute(out, map[string]any{
		"ClusterName":        in.ClusterName,
		"ClusterLabels":      labels,
		"ClusterAnnotations": map[string]string{},
		"ClusterValues":      map[string]any{},
		"ClusterNamespace":   "",
	})
	if err != nil {
		return nil, fmt.Errorf("templating helm.values: %w", err)
	}
	js, err := yaml.YAMLToJSON(out.buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("templated helm.values are not YAML: %w", err)
	}
	// Decoded as fleet.yaml values are, integers as int64.
	v, err := decodeJSON(js)
	if err != nil {
		return nil, fmt.Errorf("templated helm.values: %w", err)
	}
	m, ok := v.(map[string]any)
	if !ok && v != nil {
		return nil, fmt.Errorf("templated helm.values are not a map")
	}
	return m, nil
}

// cappedWriter keeps what a values template writes, refusing to keep
// more than max bytes or to go on once ctx is done.
type cappedWriter struct {
	ctx context.Context
	buf bytes.Buffer
	max int
}

func (w *cappedWriter) Write(p []byte) (int, error) {
	if err := w.ctx.Err(); err != nil {
		return 0, err
	}
	if len(p) > w.max-w.buf.Len() {
		return 0, fmt.Errorf("the template writes more than %s, the most a helm.values template may write", resource.NewQuantity(int64(w.max), resource.BinarySI))
	}
	return w.buf.Write(p)
}

// templateInput is what the values template text reads of t: the
// cluster's name and labels, or only those of them it names. A template
// that does not parse reads nothing (the render reports the error).
func templateInput(text string, t Target) *ValuesTemplate {
	tree := parse.New("values")
	tree.Mode = parse.SkipFuncCheck
	trees := map[string]*parse.Tree{}
	if _, err := tree.Parse(text, "${", "}", trees); err != nil {
		return &ValuesTemplate{}
	}
	r := templateReads{labels: map[string]bool{}}
	for _, tr := range trees {
		r.node(tr.Root)
	}
	in := &ValuesTemplate{}
	if r.name {
		in.ClusterName = t.Name
	}
	for k, v := range t.Labels {
		if r.allLabels || r.labels[k] {
			if in.ClusterLabels == nil {
				in.ClusterLabels = map[string]string{}
			}
			in.ClusterLabels[k] = v
		}
	}
	return in
}

// templateReads collects what a values template may read of its data.
// It errs on the side of reading: a field of a value other than the data
// counts as read when it is named like one (inside `with .ClusterLabels`,
// .ClusterName), and the data as a whole (. or $ in any place) reads all.
// That is sound because a template reaches its data only through
// ., $ and fields of them; functions see only what is passed to them.
type templateReads struct {
	name      bool
	allLabels bool
	labels    map[string]bool // the labels read by name
}

func (r *templateReads) node(n parse.Node) {
	switch x := n.(type) {
	case *parse.ListNode:
		if x != nil {
			for _, c := range x.Nodes {
				r.node(c)
			}
		}
	case *parse.ActionNode:
		r.node(x.Pipe)
	case *parse.PipeNode:
		if x != nil { // Decl only names the variables set
			for _, c := range x.Cmds {
				r.node(c)
			}
		}
	case *parse.CommandNode:
		for _, a := range x.Args {
			r.node(a)
		}
	case *parse.IfNode:
		r.branch(&x.BranchNode)
	case *parse.RangeNode:
		r.branch(&x.BranchNode)
	case *parse.WithNode:
		r.branch(&x.BranchNode)
	case *parse.TemplateNode:
		r.node(x.Pipe)
	case *parse.ChainNode:
		r.node(x.Node) // its fields are of that node's value
	case *parse.DotNode:
		r.path(nil)
	case *parse.FieldNode:
		r.path(x.Ident)
	case *parse.VariableNode:
		if x.Ident[0] == "$" {
			r.path(x.Ident[1:])
		} // other variables hold what their declaration read
	}
}

func (r *templateReads) branch(b *parse.BranchNode) {
	r.node(b.Pipe)
	r.node(b.List)
	r.node(b.ElseList)
}

// path notes a read of the data's fields ident; none is the whole data.
func (r *templateReads) path(ident []string) {
	switch {
	case len(ident) == 0:
		r.name, r.allLabels = true, true
	case ident[0] == "ClusterName":
		r.name = true
	case ident[0] == "ClusterLabels" && len(ident) > 1:
		r.labels[ident[1]] = true
	case ident[0] == "ClusterLabels":
		r.allLabels = true
	}
}

// copyValues copies maps and lists of a value tree, so that what Helm
// does to its values never reaches the bundle's.
func copyValues(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = copyValues(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = copyValues(e)
		}
		return out
	}
	return v
}
