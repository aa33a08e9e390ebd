package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"

	"golang.org/x/sync/errgroup"

	"flotilla.io/flotilla/internal/store"
	"flotilla.io/flotilla/internal/wire"
)

// manifestBatch bounds the manifests stored in one transaction; clusters
// are woken as each batch lands.
const manifestBatch = 500

// fewClusters is the size of a pass below which current manifests are
// read one by one rather than listed whole (an enrollment recomputes one
// cluster of ten thousand).
const fewClusters = 16

// pass is one manifest computation over many clusters.
type pass struct {
	t targets
	// contents holds encodings by shape: clusters of a group share them.
	contents map[string]encoded
	// byTarget holds resolved bundle refs by cluster fingerprint, for
	// clusters whose bundles do not depend on the cluster's name.
	byTarget map[string]resolvedRefs
}

type resolvedRefs struct {
	refs     []wire.BundleRef
	shape    string
	complete bool
}

// issue is a manifest to sign and store.
type issue struct {
	c   store.Cluster
	gen int64
	enc encoded
}

// recompute gives each cluster a new signed manifest when its targeted
// bundles changed, and wakes its long-poll.
func (h *Hub) recompute(ctx context.Context, clusters []store.Cluster) error {
	return h.recomputeAbove(ctx, clusters, 0)
}

// recomputeAbove is recompute that also reissues, with the same content,
// every manifest whose generation is not above floor.
func (h *Hub) recomputeAbove(ctx context.Context, clusters []store.Cluster, floor int64) error {
	h.manifestMu.Lock()
	defer h.manifestMu.Unlock()
	t, err := h.loadTargets(ctx)
	if err != nil {
		return err
	}
	heads, err := h.manifestHeads(ctx, clusters)
	if err != nil {
		return err
	}
	p := &pass{t: t, contents: map[string]encoded{}, byTarget: map[string]resolvedRefs{}}
	var todo []issue
	for _, c := range clusters {
		r := h.resolveFor(ctx, p, c)
		if !r.complete {
			h.log.Debug("manifest waits for sources to load", "cluster", c.Name)
			continue
		}
		enc, err := contentFor(p.contents, r.shape, r.refs)
		if err != nil {
			return fmt.Errorf("cluster %s: %w", c.Name, err)
		}
		cur := heads[c.ID]
		if cur.Digest == enc.digest && cur.Generation > floor {
			continue
		}
		if err := h.storeContent(ctx, enc.digest, enc.content); err != nil {
			return err
		}
		todo = append(todo, issue{c: c, gen: max(cur.Generation, floor) + 1, enc: enc})
	}
	return h.issue(ctx, todo)
}

// manifestHeads returns the current generation and digest of clusters'
// manifests.
func (h *Hub) manifestHeads(ctx context.Context, clusters []store.Cluster) (map[string]store.ManifestHead, error) {
	if len(clusters) > fewClusters {
		heads, err := h.store.ListManifestHeads(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing manifests: %w", err)
		}
		return heads, nil
	}
	heads := map[string]store.ManifestHead{}
	for _, c := range clusters {
		m, err := h.store.GetManifest(ctx, c.ID)
		switch {
		case err == nil:
			heads[c.ID] = store.ManifestHead{Generation: m.Generation, Digest: m.Digest}
		case !errors.Is(err, store.ErrNotFound):
			return nil, fmt.Errorf("loading manifest of %s: %w", c.Name, err)
		}
	}
	return heads, nil
}

// resolveFor resolves the bundle refs of c, reusing those of a cluster with
// the same labels and facts when no targeted bundle depends on the name.
func (h *Hub) resolveFor(ctx context.Context, p *pass, c store.Cluster) resolvedRefs {
	key := fingerprint(c)
	if r, ok := p.byTarget[key]; ok {
		return r
	}
	refs, shape, complete, byName := h.bundlesFor(ctx, p.t, c)
	r := resolvedRefs{refs: refs, shape: shape, complete: complete}
	if !byName {
		p.byTarget[key] = r
	}
	return r
}

// fingerprint is everything but the name that resolving bundles for a
// cluster reads: its labels (operator's and reserved, from which group
// membership follows) and its facts.
func fingerprint(c store.Cluster) string {
	set := clusterLabels(c)
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(set[k])
		b.WriteByte(0)
	}
	b.WriteByte(0)
	b.Write(c.Facts)
	return b.String()
}

// issue signs the manifests (on every core: each signature is tens of
// microseconds and a commit may move ten thousand clusters), stores them
// in batches and wakes each cluster's long-poll once its batch landed.
func (h *Hub) issue(ctx context.Context, todo []issue) error {
	if len(todo) == 0 {
		return nil
	}
	now := h.now().UTC()
	ms := make([]store.Manifest, len(todo))
	var g errgroup.Group
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i := range todo {
		g.Go(func() error {
			it := todo[i]
			// The content is stored once by digest; each cluster keeps
			// only its envelope and signature.
			sm, err := wire.SignDigest(h.key, it.c.ID, it.gen, it.enc.digest)
			if err != nil {
				return fmt.Errorf("signing manifest of %s: %w", it.c.Name, err)
			}
			signed, err := json.Marshal(sm)
			if err != nil {
				return fmt.Errorf("encoding signed manifest of %s: %w", it.c.Name, err)
			}
			ms[i] = store.Manifest{ClusterID: it.c.ID, Generation: it.gen, Signed: signed, Digest: it.enc.digest, CreatedAt: now}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for start := 0; start < len(ms); start += manifestBatch {
		batch := ms[start:min(start+manifestBatch, len(ms))]
		if err := h.store.PutManifests(ctx, batch); err != nil {
			return fmt.Errorf("storing manifests: %w", err)
		}
		h.metrics.manifests.Add(float64(len(batch)))
		for _, m := range batch {
			h.waiters.wake(m.ClusterID)
		}
	}
	h.log.Debug("manifests issued", "clusters", len(ms))
	return nil
}

// reissueAbove gives a cluster a manifest with a generation above applied.
// An agent that applied a generation this hub does not have (the hub was
// restored from an older backup) refuses everything below it; the same
// content issued above it lets the cluster follow the hub again.
func (h *Hub) reissueAbove(ctx context.Context, clusterID string, applied int64) error {
	c, err := h.store.GetCluster(ctx, clusterID)
	if err != nil {
		return fmt.Errorf("loading cluster: %w", err)
	}
	h.log.Warn("agent is ahead of the hub, reissuing", "cluster", c.Name, "applied", applied)
	return h.recomputeAbove(ctx, []store.Cluster{c}, applied)
}
