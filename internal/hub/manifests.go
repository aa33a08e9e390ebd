package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	"flotilla.io/flotilla/internal/store"
	"flotilla.io/flotilla/internal/wire"
)

// recomputeAll recomputes the manifest of every cluster.
func (h *Hub) recomputeAll(ctx context.Context) error {
	cs, err := h.store.ListClusters(ctx)
	if err != nil {
		return fmt.Errorf("listing clusters: %w", err)
	}
	return h.recompute(ctx, cs)
}

// recompute gives each cluster a new signed manifest when its targeted
// bundles changed, and wakes its long-poll.
func (h *Hub) recompute(ctx context.Context, clusters []store.Cluster) error {
	h.manifestMu.Lock()
	defer h.manifestMu.Unlock()
	t, err := h.loadTargets(ctx)
	if err != nil {
		return err
	}
	for _, c := range clusters {
		if err := h.recomputeOne(ctx, t, c, 0); err != nil {
			return fmt.Errorf("cluster %s: %w", c.Name, err)
		}
	}
	return nil
}

// targets is a snapshot of sources and bundles to compute manifests from.
type targets struct {
	selectors map[string][]labels.Selector // by source name
	bundles   []store.Bundle               // sorted by name
}

func (h *Hub) loadTargets(ctx context.Context) (targets, error) {
	ss, err := h.store.ListSources(ctx)
	if err != nil {
		return targets{}, fmt.Errorf("listing sources: %w", err)
	}
	bs, err := h.store.ListBundles(ctx)
	if err != nil {
		return targets{}, fmt.Errorf("listing bundles: %w", err)
	}
	t := targets{selectors: map[string][]labels.Selector{}, bundles: bs}
	for _, s := range ss {
		for _, raw := range s.Targets {
			sel, err := labels.Parse(raw)
			if err != nil {
				// Validated on input; a bad one in the store targets nothing.
				h.log.Error("source has an invalid target", "source", s.Name, "target", raw, "err", err)
				continue
			}
			t.selectors[s.Name] = append(t.selectors[s.Name], sel)
		}
	}
	return t, nil
}

// bundlesFor returns the bundles whose source targets the cluster.
func (t targets) bundlesFor(c store.Cluster) []wire.BundleRef {
	set := labels.Set(c.Labels)
	refs := []wire.BundleRef{}
	for _, b := range t.bundles {
		if !matchesAny(t.selectors[b.Source], set) {
			continue
		}
		objs := b.Objects
		if objs == nil {
			objs = []string{}
		}
		refs = append(refs, wire.BundleRef{Name: b.Name, Source: b.Source, Commit: b.Commit, Objects: objs, Error: b.Error})
	}
	return refs
}

func matchesAny(sels []labels.Selector, set labels.Set) bool {
	for _, s := range sels {
		if s.Matches(set) {
			return true
		}
	}
	return false
}

// recomputeOne issues a new manifest when the content changed or when the
// current generation is not above floor.
func (h *Hub) recomputeOne(ctx context.Context, t targets, c store.Cluster, floor int64) error {
	refs := t.bundlesFor(c)
	content, err := wire.Canonical(refs)
	if err != nil {
		return err
	}
	digest := wire.Hash(content)
	cur, err := h.store.GetManifest(ctx, c.ID)
	switch {
	case err == nil && cur.Digest == digest && cur.Generation > floor:
		return nil
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("loading manifest: %w", err)
	}
	m := wire.Manifest{ClusterID: c.ID, Generation: max(cur.Generation, floor) + 1, Bundles: refs}
	sm, err := wire.SignManifest(h.key, m)
	if err != nil {
		return fmt.Errorf("signing manifest: %w", err)
	}
	signed, err := json.Marshal(sm)
	if err != nil {
		return fmt.Errorf("encoding signed manifest: %w", err)
	}
	if err := h.store.PutManifest(ctx, store.Manifest{ClusterID: c.ID, Generation: m.Generation, Signed: signed, Digest: digest, CreatedAt: h.now().UTC()}); err != nil {
		return fmt.Errorf("storing manifest: %w", err)
	}
	h.log.Info("manifest issued", "cluster", c.Name, "generation", m.Generation, "bundles", len(refs))
	h.waiters.wake(c.ID)
	return nil
}

// reissueAbove gives a cluster a manifest with a generation above applied.
// An agent that applied a generation this hub does not have (the hub was
// restored from an older backup) refuses everything below it; the same
// content issued above it lets the cluster follow the hub again.
func (h *Hub) reissueAbove(ctx context.Context, clusterID string, applied int64) error {
	h.manifestMu.Lock()
	defer h.manifestMu.Unlock()
	c, err := h.store.GetCluster(ctx, clusterID)
	if err != nil {
		return fmt.Errorf("loading cluster: %w", err)
	}
	t, err := h.loadTargets(ctx)
	if err != nil {
		return err
	}
	h.log.Warn("agent is ahead of the hub, reissuing", "cluster", c.Name, "applied", applied)
	return h.recomputeOne(ctx, t, c, applied)
}

// WaitManifest answers an agent's long-poll: the cluster's signed manifest
// as soon as its generation differs from have, or ok=false when the wait
// ends with nothing new.
func (h *Hub) WaitManifest(ctx context.Context, clusterID string, have int64) (signed []byte, ok bool, err error) {
	h.waiters.enter(clusterID)
	defer h.waiters.leave(clusterID)
	timer := time.NewTimer(h.longPoll)
	defer timer.Stop()
	for {
		changed := h.waiters.channel(clusterID)
		m, err := h.store.GetManifest(ctx, clusterID)
		switch {
		case err == nil && m.Generation != have:
			return m.Signed, true, nil
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return nil, false, fmt.Errorf("loading manifest: %w", err)
		}
		select {
		case <-changed:
		case <-timer.C:
			return nil, false, nil
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
	}
}

// Objects returns the objects the cluster asks for, only among those its
// current manifest names: a cluster sees its own desired state, no other.
func (h *Hub) Objects(ctx context.Context, clusterID string, hashes []string) (map[string][]byte, error) {
	m, err := h.store.GetManifest(ctx, clusterID)
	if err != nil {
		return nil, fmt.Errorf("loading manifest: %w", err)
	}
	var sm wire.SignedManifest
	if err := json.Unmarshal(m.Signed, &sm); err != nil {
		return nil, fmt.Errorf("decoding stored manifest: %w", err)
	}
	var man wire.Manifest
	if err := json.Unmarshal(sm.Payload, &man); err != nil {
		return nil, fmt.Errorf("decoding stored manifest payload: %w", err)
	}
	allowed := map[string]bool{}
	for _, b := range man.Bundles {
		for _, o := range b.Objects {
			allowed[o] = true
		}
	}
	for _, hash := range hashes {
		if !allowed[hash] {
			return nil, errorf(NotFound, "object %.12s is not in this cluster's manifest", hash)
		}
	}
	objs, err := h.store.GetObjects(ctx, hashes)
	if err != nil {
		return nil, fmt.Errorf("loading objects: %w", err)
	}
	return objs, nil
}
