package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"flotilla.io/flotilla/internal/store"
	"flotilla.io/flotilla/internal/wire"
)

// Reserved label keys derived from agent-reported facts.
const (
	labelArch        = wire.FactLabelPrefix + "arch"
	labelOS          = wire.FactLabelPrefix + "os"
	labelKubeVersion = wire.FactLabelPrefix + "kubernetes-version"
	labelNodes       = wire.FactLabelPrefix + "nodes"
	labelMemoryGiB   = wire.FactLabelPrefix + "memory-gib"
)

// reserved reports whether a label key belongs to facts.
func reserved(key string) bool {
	return strings.HasPrefix(key, wire.FactLabelPrefix) || strings.HasPrefix(key, wire.RuntimeClassLabelSuffix)
}

// factLabels turns facts into the reserved labels selectors match.
func factLabels(f wire.Facts) map[string]string {
	out := map[string]string{}
	set := func(k, v string) {
		if v = labelValue(v); v != "" {
			out[k] = v
		}
	}
	set(labelArch, f.Arch)
	set(labelOS, f.OS)
	set(labelKubeVersion, f.KubernetesVersion)
	if f.Nodes > 0 {
		out[labelNodes] = strconv.Itoa(f.Nodes)
	}
	if f.MemoryGiB > 0 {
		out[labelMemoryGiB] = strconv.Itoa(f.MemoryGiB)
	}
	for _, rc := range f.RuntimeClasses {
		key := wire.RuntimeClassLabelSuffix + rc
		if len(validation.IsQualifiedName(key)) == 0 {
			out[key] = "true"
		}
	}
	return out
}

// labelValue makes a fact usable as a label value: characters a label
// value cannot hold ("+" in "v1.30.2+k3s1") become "_"; too long is dropped.
func labelValue(v string) string {
	b := []byte(v)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			b[i] = '_'
		}
	}
	v = strings.Trim(string(b), "_.-")
	if len(validation.IsValidLabelValue(v)) > 0 {
		return ""
	}
	return v
}

// clusterLabels are the labels selectors see: the operator's and the
// reserved fact labels.
func clusterLabels(c store.Cluster) map[string]string {
	out := maps.Clone(c.Labels)
	if out == nil {
		out = map[string]string{}
	}
	if len(c.Facts) == 0 {
		return out
	}
	var f wire.Facts
	if err := json.Unmarshal(c.Facts, &f); err != nil {
		return out
	}
	maps.Copy(out, factLabels(f))
	return out
}

// recordFacts keeps new facts and recomputes the cluster's manifest, since
// its reserved labels may have changed what targets it.
func (h *Hub) recordFacts(ctx context.Context, clusterID string, f wire.Facts) error {
	data, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("encoding facts: %w", err)
	}
	c, err := h.store.GetCluster(ctx, clusterID)
	if err != nil {
		return fmt.Errorf("loading cluster: %w", err)
	}
	if bytes.Equal(c.Facts, data) {
		return nil
	}
	if err := h.store.SetClusterFacts(ctx, clusterID, data); err != nil {
		return fmt.Errorf("storing facts: %w", err)
	}
	c.Facts = data
	h.log.Info("cluster facts changed", "cluster", c.Name, "facts", string(data))
	return h.recompute(ctx, []store.Cluster{c})
}
