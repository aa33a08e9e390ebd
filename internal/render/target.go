package render

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"flotilla.io/flotilla/internal/bundle"
)

// Target is what a render may know about one cluster.
type Target struct {
	// Name is the cluster's name, matched by clusterName.
	Name string
	// Labels are the cluster's labels, including the reserved fact labels.
	Labels map[string]string
	// Groups maps the name of every cluster group the cluster is in to that
	// group's labels, for clusterGroup and clusterGroupSelector.
	Groups map[string]map[string]string
	// KubeVersion is the cluster's Kubernetes version, e.g. "v1.37.2";
	// empty means Helm's default.
	KubeVersion string
	// APIVersions are the group/versions the cluster serves; nil means
	// Helm's default set.
	APIVersions []string
}

// Effective is what one bundle renders for one cluster: its options after
// the first matching target customization, and the cluster facts Helm
// reads. Two clusters with equal Keys render identically.
type Effective struct {
	// Path is the bundle directory relative to the checkout root.
	Path string `json:"path"`
	// Exclude lists the directories of other bundles under Path.
	Exclude []string `json:"exclude,omitempty"`
	// Customization names the target customization that matched; empty
	// when none did.
	Customization string `json:"customization,omitempty"`
	// Options are the bundle's deployment options after customization,
	// without Helm values and values files: those are merged into Values.
	Options bundle.DeploymentOptions `json:"options"`
	// Values are the Helm values, merged in Fleet's order (helm.values,
	// then the helm.valuesFiles in order, of the bundle, then of the
	// customization; Helm lays them over the chart's defaults) and, by
	// Resolve, pre-processed for the cluster as Fleet does (see
	// clusterValues): the contents of values files included, so that Key
	// changes exactly when what Helm is given does. When ValuesTemplate
	// is set they are still a ${ } template, which RenderEffective runs.
	Values map[string]any `json:"values,omitempty"`
	// ValuesTemplate is set when Values are a ${ } template still to run:
	// it holds what the template reads of the cluster. The template runs
	// in the render, under the render's limits, not in Resolve.
	ValuesTemplate *ValuesTemplate `json:"valuesTemplate,omitempty"`
	// ReleaseName is the Helm release name, set only when the bundle
	// renders with Helm (nothing else reads it, and renders of other
	// bundles then share keys across sources). Resolve sets
	// helm.releaseName, else the bundle name without a source prefix; the
	// hub, which knows the source, may set Fleet's bundle name before
	// calling Key.
	ReleaseName string `json:"releaseName,omitempty"`
	// KubeVersion and APIVersions are the target's facts, kept only when
	// the bundle renders with Helm (nothing else reads them).
	KubeVersion string   `json:"kubeVersion,omitempty"`
	APIVersions []string `json:"apiVersions,omitempty"`
}

// ValuesTemplate is what a ${ } template in Helm values reads of the
// cluster: only that, so that clusters whose templates read alike share
// a render (Key hashes it). Fields the template does not read are empty.
// Its data also has .ClusterAnnotations and .ClusterValues (empty maps)
// and .ClusterNamespace (empty): clusters carry no annotations, values or
// namespace yet.
type ValuesTemplate struct {
	// ClusterName is the cluster's name, if the template reads it.
	ClusterName string `json:"clusterName,omitempty"`
	// ClusterLabels are the cluster's labels the template reads: those it
	// names (.ClusterLabels.env), or all of them when it reads the map
	// as a whole.
	ClusterLabels map[string]string `json:"clusterLabels,omitempty"`
}

// UseBundleName makes the bundle's full name (Fleet's "<source>-<path>",
// or fleet.yaml's name) the Helm release name, unless helm.releaseName
// sets one, as Fleet names releases. Callers that know the source call it
// before Key.
func (e *Effective) UseBundleName(name string) {
	if e.ReleaseName == "" || (e.Options.Helm != nil && e.Options.Helm.ReleaseName != "") {
		return // not a Helm render, or the release is named
	}
	e.ReleaseName = shortReleaseName(name)
}

// Key is a stable hash of everything the render reads besides the
// checkout's content: the hub adds the commit.
func (e Effective) Key() string {
	// encoding/json sorts map keys, so equal options encode equally.
	data, err := json.Marshal(e)
	if err != nil {
		// Only values JSON cannot hold (a YAML .nan) get here; fmt also
		// prints maps in key order.
		data = fmt.Appendf(nil, "%#v", e)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// Resolve picks the first target customization of b that matches t and
// returns the effective options; skip is true when that customization
// says doNotDeploy. It reads no files: the contents of valuesFiles come
// from b.ValuesFiles, read when the bundle was discovered. It runs no
// ${ } template either: its cost is bounded by the bundle's size, and
// templates run in RenderEffective (see Effective.ValuesTemplate).
func Resolve(b bundle.Bundle, t Target) (eff Effective, skip bool, err error) {
	opts := b.Options.DeploymentOptions
	eff = Effective{Path: b.Path, Exclude: b.Exclude}
	var custom *bundle.TargetCustomization
	customizations := b.Options.Customizations()
	for i := range customizations {
		tc := &customizations[i]
		ok, err := matches(tc.Target, t)
		if err != nil {
			return Effective{}, false, fmt.Errorf("matching target customization %d %q: %w", i, tc.Name, err)
		}
		if ok {
			custom = tc
			break
		}
	}
	values, missing := mergedValues(nil, b, opts.Helm)
	if custom != nil {
		eff.Customization = custom.Name
		if custom.DoNotDeploy {
			return eff, true, nil
		}
		var more []string
		values, more = mergedValues(values, b, custom.Helm)
		missing = append(missing, more...)
		opts = mergeOptions(opts, custom.DeploymentOptions)
	}
	if len(missing) > 0 {
		return Effective{}, false, fmt.Errorf("helm.valuesFiles: %q was not read with the bundle", missing[0])
	}
	opts.Helm = withoutValues(opts.Helm)
	if len(values) > 0 {
		// Fleet pre-processes the values after merging them, so a value
		// a later layer replaces is never substituted or templated.
		v, tpl, err := clusterValues(values, opts.Helm, t)
		if err != nil {
			return Effective{}, false, err
		}
		eff.Values, eff.ValuesTemplate = v, tpl
	}
	eff.Options = opts
	if usesHelm(b, opts) {
		eff.ReleaseName = releaseName(b, opts)
		eff.KubeVersion = t.KubeVersion
		if t.APIVersions != nil {
			eff.APIVersions = slices.Sorted(slices.Values(t.APIVersions))
			eff.APIVersions = slices.Compact(eff.APIVersions)
		}
	}
	return eff, false, nil
}

// Base is the effective options of b with no target customization, for
// callers that render a bundle without a cluster in mind. Its values are
// not pre-processed; values files b.ValuesFiles lacks are left out.
func Base(b bundle.Bundle) Effective {
	eff := Effective{Path: b.Path, Exclude: b.Exclude, Options: b.Options.DeploymentOptions}
	values, _ := mergedValues(nil, b, eff.Options.Helm)
	if len(values) > 0 {
		eff.Values = copyValues(values).(map[string]any)
	}
	eff.Options.Helm = withoutValues(eff.Options.Helm)
	if usesHelm(b, eff.Options) {
		eff.ReleaseName = releaseName(b, eff.Options)
	}
	return eff
}

// mergedValues lays h's values, then its valuesFiles in order, over dest,
// as `fleet apply` merges them. File contents come from b.ValuesFiles;
// missing names the files not there (b was not discovered, and
// bundle.ReadValuesFiles was not called). Maps in the result are dest's or
// fresh; other values may be shared with b.
func mergedValues(dest map[string]any, b bundle.Bundle, h *bundle.HelmOptions) (_ map[string]any, missing []string) {
	if h == nil {
		return dest, nil
	}
	if len(h.Values) > 0 {
		dest = mergeValues(dest, h.Values)
	}
	for _, f := range h.ValuesFiles {
		v, ok := b.ValuesFiles[f]
		if !ok {
			missing = append(missing, f)
			continue
		}
		dest = mergeValues(dest, v)
	}
	return dest, missing
}

// withoutValues returns h without its values and values files, which
// Effective keeps merged in Values.
func withoutValues(h *bundle.HelmOptions) *bundle.HelmOptions {
	if h == nil {
		return nil
	}
	out := *h
	out.Values, out.ValuesFiles = nil, nil
	return &out
}

// releaseName is Fleet's: helm.releaseName, else the bundle's name.
func releaseName(b bundle.Bundle, opts bundle.DeploymentOptions) string {
	if opts.Helm != nil && opts.Helm.ReleaseName != "" {
		return opts.Helm.ReleaseName
	}
	if b.Options.Name != "" {
		return shortReleaseName(b.Options.Name)
	}
	return shortReleaseName(bundle.Name("", b.Path))
}

// usesHelm reports whether the render runs Helm, the only reader of the
// cluster's version facts: leaving them out of other keys lets clusters
// of every version share one render.
func usesHelm(b bundle.Bundle, opts bundle.DeploymentOptions) bool {
	return opts.Helm != nil || b.Chart
}

// matches reports whether a target customization selects the cluster, as
// Fleet matches: every criterion given must hold, and a customization with
// none matches nothing.
func matches(sel bundle.Target, t Target) (bool, error) {
	if sel.ClusterName == "" && sel.ClusterSelector == nil && sel.ClusterGroup == "" && sel.ClusterGroupSelector == nil {
		return false, nil
	}
	if sel.ClusterName != "" && sel.ClusterName != t.Name {
		return false, nil
	}
	if sel.ClusterSelector != nil {
		ok, err := selects(sel.ClusterSelector, t.Labels)
		if err != nil || !ok {
			return false, err
		}
	}
	if sel.ClusterGroup == "" && sel.ClusterGroupSelector == nil {
		return true, nil
	}
	// One group must satisfy both the name and the selector.
	for name, groupLabels := range t.Groups {
		if sel.ClusterGroup != "" && name != sel.ClusterGroup {
			continue
		}
		if sel.ClusterGroupSelector != nil {
			ok, err := selects(sel.ClusterGroupSelector, groupLabels)
			if err != nil {
				return false, err
			}
			if !ok {
				continue
			}
		}
		return true, nil
	}
	return false, nil
}

func selects(ls *metav1.LabelSelector, set map[string]string) (bool, error) {
	s, err := metav1.LabelSelectorAsSelector(ls)
	if err != nil {
		return false, err
	}
	return s.Matches(labels.Set(set)), nil
}

// NameSensitive reports whether two clusters that differ only in name may
// resolve b differently: a target customization chooses by clusterName,
// or Helm values (the bundle's or a customization's, inline or in a
// values file) use ${ } templating, which may read .ClusterName. Callers
// resolve other bundles once for all clusters with the same labels,
// groups and facts.
func NameSensitive(b bundle.Bundle) bool {
	if b.Options.Helm != nil && templated(b.Options.Helm.Values) {
		return true
	}
	for _, v := range b.ValuesFiles {
		if templated(v) {
			return true
		}
	}
	for _, tc := range b.Options.Customizations() {
		if tc.ClusterName != "" || (tc.Helm != nil && templated(tc.Helm.Values)) {
			return true
		}
	}
	return false
}

// templated reports whether values hold ${ } templating; values that do
// not encode are taken to.
func templated(values map[string]any) bool {
	data, err := json.Marshal(values)
	return err != nil || bytes.Contains(data, []byte("${"))
}
