package render

import (
	"bytes"
	"fmt"
	"maps"
	"strings"
	"text/template"

	"sigs.k8s.io/yaml"

	"flotilla.io/flotilla/internal/bundle"
)

// clusterLabelPrefix marks a Helm value Fleet replaces with a cluster label.
const clusterLabelPrefix = "global.fleet.clusterLabels."

// clusterValues gives one cluster's Helm values (helm.values and the
// contents of helm.valuesFiles, merged), as Fleet does before it hands
// them to the agent: a string value "global.fleet.clusterLabels.X"
// becomes the cluster's label X (an error if the cluster has none), then,
// unless helm.disablePreProcess, the values are a template with ${ }
// delimiters over .ClusterName, .ClusterLabels, .ClusterAnnotations,
// .ClusterValues and .ClusterNamespace. The result is what Key hashes, so
// clusters share a render only when their values came out the same.
func clusterValues(values map[string]any, h *bundle.HelmOptions, t Target) (map[string]any, error) {
	out, err := substituteLabels(values, t.Labels, "")
	if err != nil {
		return nil, err
	}
	m, _ := out.(map[string]any)
	if h != nil && h.DisablePreProcess {
		return m, nil
	}
	return templateValues(m, t)
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
// hold a "${" at all, so plain values keep their exact types.
func templateValues(values map[string]any, t Target) (map[string]any, error) {
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
	labels := maps.Clone(t.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	var buf bytes.Buffer
	err = tpl.Execute(&buf, map[string]any{
		"ClusterName":        t.Name,
		"ClusterLabels":      labels,
		"ClusterAnnotations": map[string]string{},
		"ClusterValues":      map[string]any{},
		"ClusterNamespace":   "",
	})
	if err != nil {
		return nil, fmt.Errorf("templating helm.values: %w", err)
	}
	js, err := yaml.YAMLToJSON(buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("templated helm.values are not YAML: %w", err)
	}
	// Decoded as fleet.yaml values are, integers as int64.
	v, err := decodeJSON(js)
	if err != nil {
		return nil, fmt.Errorf("templated helm.values: %w", err)
	}
	out, ok := v.(map[string]any)
	if !ok && v != nil {
		return nil, fmt.Errorf("templated helm.values are not a map")
	}
	return out, nil
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
