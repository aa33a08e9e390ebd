package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"time"

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
	byTarget map[string]*resolvedRefs
	// agents holds the agent release by cluster fingerprint (nil for
	// none): targeting reads only labels and facts.
	agents map[string]*targetRelease
	// jobs are the renders the pass needs that the cache lacks.
	jobs map[renderID]renderJob
}

// resolvedRefs are the bundle refs of a cluster, or of every cluster with
// its labels and facts. Refs whose render the cache lacked are holes
// until fill finds them.
type resolvedRefs struct {
	refs     []wire.BundleRef
	complete bool
	// keys holds the render key of each rendered ref, by index.
	keys  map[int]string
	holes []hole
	// filled is set once fill ran; missing lists the holes it could not
	// fill, shape is set when there were none.
	filled  bool
	missing []hole
	shape   string
}

// hole is a ref waiting for its render.
type hole struct {
	i    int
	id   renderID
	name string
}

// fill takes the renders of r's holes from the cache, once per pass.
func (r *resolvedRefs) fill(c *renderCache) {
	if r.filled {
		return
	}
	r.filled = true
	for _, hl := range r.holes {
		got, ok := c.peek(hl.id, hl.name)
		if !ok {
			r.missing = append(r.missing, hl)
			continue
		}
		setRender(&r.refs[hl.i], got)
	}
	if len(r.missing) > 0 {
		return
	}
	var sb strings.Builder
	for i, ref := range r.refs {
		refShape(&sb, ref, r.keys[i])
	}
	r.shape = sb.String()
}

func setRender(ref *wire.BundleRef, r rendered) {
	ref.Error = r.err
	if r.hashes != nil {
		ref.Objects = r.hashes
	}
}

// renderWait bounds how long a pass waits for the renders it started
// before it issues the manifests that need none of the slow ones: a
// render that takes its whole time limit delays only its own clusters.
const renderWait = 2 * time.Second

// maxGeneration bounds generations well inside what JSON numbers hold
// exactly; an agent that claims more is refused, not overflowed.
const maxGeneration = 1 << 53

// newManifest is a manifest to sign and store.
type newManifest struct {
	c   store.Cluster
	gen int64
	enc encoded
	// agent is the agent release the manifest names, nil for none.
	agent *targetRelease
}

// recomputeAbove gives each cluster a new signed manifest when its
// targeted bundles changed, and wakes its long-poll; a cluster with a
// floor also gets one, with the same content, when its generation is not
// above it (an agent that applied a generation this hub does not have,
// after a restore from an old backup, refuses everything below it).
// Renders the pass needs are started and awaited up to renderWait;
// clusters still waiting for one are queued again when it ends. Only the
// manifest worker calls it.
func (h *Hub) recomputeAbove(ctx context.Context, t targets, clusters []store.Cluster, floors map[string]int64) error {
	heads, err := h.manifestHeads(ctx, clusters)
	if err != nil {
		return err
	}
	p := &pass{t: t, contents: map[string]encoded{}, byTarget: map[string]*resolvedRefs{}, agents: map[string]*targetRelease{}, jobs: map[renderID]renderJob{}}
	resolved := make([]*resolvedRefs, len(clusters))
	agents := make([]*targetRelease, len(clusters))
	for i, c := range clusters {
		resolved[i], agents[i] = h.resolveFor(ctx, p, c)
	}
	h.awaitRenders(ctx, p.jobs)
	var todo []newManifest
	for i, c := range clusters {
		r := resolved[i]
		if !r.complete {
			h.log.Debug("manifest waits for sources to load", "cluster", c.Name)
			continue
		}
		r.fill(h.renders)
		cur, floor := heads[c.ID], floors[c.ID]
		var enc encoded
		if len(r.missing) > 0 {
			// Queued again when the slow renders end; meanwhile the
			// cluster gets everything else, and keeps what it runs of
			// the bundles still rendering.
			h.waitFor(r.missing, c.ID, floor)
			refs, ok := h.keepCurrent(ctx, r, cur.Digest)
			if !ok {
				continue
			}
			if enc, err = encode(refs); err != nil {
				return fmt.Errorf("cluster %s: %w", c.Name, err)
			}
		} else if enc, err = contentFor(p.contents, r.shape, r.refs); err != nil {
			return fmt.Errorf("cluster %s: %w", c.Name, err)
		}
		agent := agents[i]
		if cur.Digest == enc.digest && cur.Agent == agent.digest() && cur.Generation > floor {
			continue
		}
		gen := max(cur.Generation, floor)
		if gen >= maxGeneration {
			h.log.Error("cluster's generations are exhausted", "cluster", c.Name, "generation", gen)
			continue
		}
		if err := h.storeContent(ctx, enc.digest, enc.content); err != nil {
			return err
		}
		todo = append(todo, newManifest{c: c, gen: gen + 1, enc: enc, agent: agent})
	}
	return h.issue(ctx, todo)
}

// waitFor queues cluster id again when the renders of holes end.
func (h *Hub) waitFor(holes []hole, id string, floor int64) {
	for _, hl := range holes {
		if !h.renders.wait(hl.id, id) {
			h.queue.markClusters(floor, id) // it ended meanwhile
			return
		}
	}
}

// keepCurrent returns r's refs with each bundle still rendering as the
// cluster's current manifest (digest) has it, or left out when it has
// none: a slow render holds back only its own bundle. ok is false when
// the cluster has no manifest yet (it waits for the whole one).
func (h *Hub) keepCurrent(ctx context.Context, r *resolvedRefs, digest string) (refs []wire.BundleRef, ok bool) {
	if digest == "" {
		return nil, false
	}
	current, err := h.contentRefs(ctx, digest)
	if err != nil {
		h.log.Warn("loading current manifest content", "digest", digest, "err", err)
		return nil, false
	}
	pending := make(map[int]bool, len(r.missing))
	for _, hl := range r.missing {
		pending[hl.i] = true
	}
	refs = make([]wire.BundleRef, 0, len(r.refs))
	for i, ref := range r.refs {
		if !pending[i] {
			refs = append(refs, ref)
			continue
		}
		for _, cur := range current {
			if cur.Name == ref.Name {
				refs = append(refs, cur)
				break
			}
		}
	}
	return refs, true
}

// awaitRenders starts the jobs and waits for them, up to renderWait.
func (h *Hub) awaitRenders(ctx context.Context, jobs map[renderID]renderJob) {
	if len(jobs) == 0 {
		return
	}
	dones := make([]<-chan struct{}, 0, len(jobs))
	for _, job := range jobs {
		dones = append(dones, h.startRender(ctx, job))
	}
	timer := time.NewTimer(renderWait)
	defer timer.Stop()
	for _, d := range dones {
		select {
		case <-d:
		case <-timer.C:
			return
		case <-ctx.Done():
			return
		}
	}
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
// the same labels and facts when no targeted bundle depends on the name,
// and finds the agent release c gets, once for all such clusters.
func (h *Hub) resolveFor(ctx context.Context, p *pass, c store.Cluster) (*resolvedRefs, *targetRelease) {
	key := fingerprint(c)
	agent, ok := p.agents[key]
	if !ok {
		agent = p.t.releaseFor(c)
		p.agents[key] = agent
	}
	if r, ok := p.byTarget[key]; ok {
		return r, agent
	}
	r, byName := h.bundlesFor(ctx, p, c)
	if !byName {
		p.byTarget[key] = r
	}
	return r, agent
}

// fingerprint is everything but the name that resolving bundles for a
// cluster, or its agent release, reads: its labels (operator's and
// reserved, from which group membership follows) and its facts.
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
func (h *Hub) issue(ctx context.Context, todo []newManifest) error {
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
			env := wire.Envelope{ClusterID: it.c.ID, Generation: it.gen, Content: it.enc.digest}
			if it.agent != nil {
				env.Agent = it.agent.signed
			}
			sm, err := wire.SignEnvelope(h.key, env)
			if err != nil {
				return fmt.Errorf("signing manifest of %s: %w", it.c.Name, err)
			}
			signed, err := json.Marshal(sm)
			if err != nil {
				return fmt.Errorf("encoding signed manifest of %s: %w", it.c.Name, err)
			}
			ms[i] = store.Manifest{ClusterID: it.c.ID, Generation: it.gen, Signed: signed, Digest: it.enc.digest, Agent: it.agent.digest(), CreatedAt: now}
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
