package hub

import (
	"context"
	"errors"
	"fmt"

	"flotilla.io/flotilla/internal/bundle"
	"flotilla.io/flotilla/internal/render"
	"flotilla.io/flotilla/internal/wire"
)

// loaded is a source's checkout at one commit with its parsed bundles,
// ready to render for any target.
type loaded struct {
	commit string
	repo   string
	dir    string
	// def is the source definition it was loaded for (sourceDef).
	def     string
	bundles map[string]bundle.Bundle // by bundle name
	// byName marks bundles that resolve differently by cluster name.
	byName map[string]bool
	// capabilities marks bundles whose Helm render may read the cluster
	// facts .Capabilities shows (render.ReadsCapabilities).
	capabilities map[string]bool
}

// renderID names one render by everything it reads: the checkout's
// repository and commit, and the effective options (which hold the bundle
// path and, for Helm, the release name). Sources over one repository
// share renders through it.
type renderID struct {
	repo   string
	commit string
	key    string // render.Effective.Key()
}

func newRenderID(l *loaded, eff render.Effective) renderID {
	return renderID{repo: l.repo, commit: l.commit, key: eff.Key()}
}

// rendered is one render of one bundle: object hashes in apply order, or
// the error that stopped it.
type rendered struct {
	hashes []string
	err    string
}

// size is what a render costs the cache, roughly: hex hashes and the error.
func (r rendered) size() int64 {
	return int64(len(r.hashes)*(64+16) + len(r.err) + 64)
}

// renderJob is a render a pass needs and the cache does not hold.
type renderJob struct {
	id   renderID
	l    *loaded
	name string
	b    bundle.Bundle
	eff  render.Effective
}

// startRender renders job in the background unless it is cached, running
// or refused already; the returned channel closes when the result is in
// the cache (or the render failed on the hub's side and must be retried).
func (h *Hub) startRender(ctx context.Context, job renderJob) <-chan struct{} {
	done, start := h.renders.begin(job.id)
	if !start {
		return done
	}
	h.rendering.Go(func() {
		r, ok := h.runRender(ctx, job)
		if waiting := h.renders.finish(job.id, job.name, r, ok); len(waiting) > 0 {
			h.queue.markClusters(0, waiting...)
		}
	})
	return done
}

// runRender renders and stores the objects, one render per CPU at a time;
// ok is false when the failure is the hub's (storage), not the bundle's,
// so the result must not be cached.
func (h *Hub) runRender(ctx context.Context, job renderJob) (r rendered, ok bool) {
	select {
	case h.renderSlots <- struct{}{}:
		defer func() { <-h.renderSlots }()
	case <-ctx.Done():
		return rendered{}, false
	}
	if msg, refused := h.renders.refused(job.id, job.eff.Path); refused {
		return rendered{err: msg}, true
	}
	h.metrics.renders.Inc()
	objs, err := h.renderer.Render(ctx, job.l.dir, job.b, job.eff)
	if err != nil {
		if ctx.Err() != nil {
			return rendered{}, false // the hub is stopping
		}
		h.log.Warn("bundle failed to render", "bundle", job.name, "commit", job.l.commit, "err", err)
		if costlyLimit(err) {
			// Every other render of this bundle at this commit would hit
			// the same wall: refuse them at once rather than spend the
			// limit again per group of clusters.
			h.renders.refuse(job.id, job.eff.Path, err.Error())
		}
		return rendered{err: err.Error()}, true
	}
	hashes := make([]string, 0, len(objs))
	data := make(map[string][]byte, len(objs))
	for _, o := range objs {
		b, err := wire.Canonical(o.Object)
		if err != nil {
			return rendered{err: fmt.Sprintf("encoding %s %s: %v", o.GetKind(), o.GetName(), err)}, true
		}
		hash := wire.Hash(b)
		data[hash] = b
		hashes = append(hashes, hash)
	}
	if err := h.store.PutObjects(ctx, data); err != nil {
		h.log.Error("storing rendered objects", "bundle", job.name, "err", err)
		return rendered{}, false
	}
	return rendered{hashes: hashes}, true
}

// costlyLimit reports whether a render failed on a limit that cost its
// whole budget to reach (time, worker memory), rather than on its content
// or a count reached early (objects, bytes).
func costlyLimit(err error) bool {
	var le *render.LimitError
	return errors.As(err, &le) && le.Flag != render.FlagMaxObjects && le.Flag != render.FlagMaxBytes
}
