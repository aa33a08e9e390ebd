package hub

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"sync"
	"time"

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

// Facts come from agents, so from devices that may be stolen: they are
// bounded in size, and a cluster whose facts keep changing causes at most
// one manifest computation per FactsInterval.
const (
	// DefaultFactsInterval is the least time between two computations a
	// cluster's changing facts cause.
	DefaultFactsInterval = time.Minute
	maxFactsBytes        = 32 << 10
	maxAPIVersions       = 2000
	maxRuntimeClasses    = 100
	maxFactString        = 253 // a DNS subdomain; longer is no real fact
)

// validateFacts refuses facts past the limits, naming the one passed.
func validateFacts(f wire.Facts, encoded int) error {
	switch {
	case encoded > maxFactsBytes:
		return errorf(Invalid, "facts take %d bytes, more than the %d a cluster may report", encoded, maxFactsBytes)
	case len(f.APIVersions) > maxAPIVersions:
		return errorf(Invalid, "facts list %d API versions, more than %d", len(f.APIVersions), maxAPIVersions)
	case len(f.RuntimeClasses) > maxRuntimeClasses:
		return errorf(Invalid, "facts list %d RuntimeClasses, more than %d", len(f.RuntimeClasses), maxRuntimeClasses)
	case f.Nodes < 0 || f.MemoryGiB < 0:
		return errorf(Invalid, "facts: node count and memory must not be negative")
	}
	strs := []string{f.Arch, f.OS, f.KubernetesVersion}
	if f.Agent != nil {
		strs = append(strs, f.Agent.Version, f.Agent.Arch)
	}
	for _, v := range append(strs, append(f.APIVersions, f.RuntimeClasses...)...) {
		if len(v) > maxFactString {
			return errorf(Invalid, "facts: a value of %d bytes is longer than %d", len(v), maxFactString)
		}
	}
	return nil
}

// factsLimiter remembers when each cluster's facts last caused a
// computation.
type factsLimiter struct {
	every time.Duration

	mu   sync.Mutex // guards last
	last map[string]time.Time
}

func newFactsLimiter(every time.Duration) *factsLimiter {
	if every <= 0 {
		every = DefaultFactsInterval
	}
	return &factsLimiter{every: every, last: map[string]time.Time{}}
}

// next returns when a facts change of cluster id may be computed: now, or
// later when the previous one was less than the interval ago.
func (l *factsLimiter) next(id string, now time.Time) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	at := now
	if prev, ok := l.last[id]; ok && prev.Add(l.every).After(now) {
		at = prev.Add(l.every)
	}
	l.last[id] = at
	return at
}

// factsDigest names facts in logs without repeating what an agent sent.
func factsDigest(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:6])
}

// recordFacts keeps new facts and queues the cluster's manifest, since its
// reserved labels may have changed what targets it and Helm renders may
// read them.
func (h *Hub) recordFacts(ctx context.Context, clusterID string, f wire.Facts) error {
	data, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("encoding facts: %w", err)
	}
	if err := validateFacts(f, len(data)); err != nil {
		return err
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
	now := h.now()
	at := h.facts.next(clusterID, now)
	h.log.Info("cluster facts changed", "cluster", c.Name, "facts", factsDigest(data), "bytes", len(data), "computeAt", at.UTC().Format(time.RFC3339))
	if at.After(now) {
		h.metrics.factsDelays.Inc()
		h.queue.markLater(clusterID, at)
		return nil
	}
	h.queue.markClusters(0, clusterID)
	return nil
}
