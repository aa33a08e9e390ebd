package hub

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	"flotilla.io/flotilla/internal/store"
)

// retryPass is how long the worker waits before it retries a pass that
// failed on the store.
const retryPass = time.Second

// manifestLoop is the manifest worker: the only place manifests are
// computed and renders started. It takes what the queue holds, computes
// it in one pass, and waits for more, until ctx ends.
func (h *Hub) manifestLoop(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.queue.kick:
		case <-timer.C:
		}
		w, next := h.queue.take(h.now())
		if !next.IsZero() {
			timer.Reset(max(next.Sub(h.now()), 10*time.Millisecond))
		}
		if w.empty() {
			continue
		}
		if err := h.compute(ctx, w); err != nil {
			if ctx.Err() != nil {
				return
			}
			h.log.Error("computing manifests", "err", err)
			h.queue.requeue(w)
			select {
			case <-ctx.Done():
				return
			case <-time.After(retryPass):
			}
		}
	}
}

// compute recomputes the manifests w asks for.
func (h *Hub) compute(ctx context.Context, w work) error {
	t, err := h.loadTargets(ctx)
	if err != nil {
		return err
	}
	cs, err := h.clustersFor(ctx, t, w)
	if err != nil {
		return err
	}
	return h.recomputeAbove(ctx, t, cs, w.clusters)
}

// clustersFor lists the clusters w names: every one, those its sources
// target, and those it names by ID (gone ones are skipped).
func (h *Hub) clustersFor(ctx context.Context, t targets, w work) ([]store.Cluster, error) {
	if !w.all && len(w.sources) == 0 && len(w.clusters) <= fewClusters {
		out := make([]store.Cluster, 0, len(w.clusters))
		for id := range w.clusters {
			c, err := h.store.GetCluster(ctx, id)
			switch {
			case errors.Is(err, store.ErrNotFound):
				continue
			case err != nil:
				return nil, fmt.Errorf("loading cluster %s: %w", id, err)
			}
			out = append(out, c)
		}
		return out, nil
	}
	all, err := h.store.ListClusters(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing clusters: %w", err)
	}
	if w.all {
		return all, nil
	}
	var out []store.Cluster
	for _, c := range all {
		if _, ok := w.clusters[c.ID]; ok {
			out = append(out, c)
			continue
		}
		set := labels.Set(clusterLabels(c))
		for _, s := range w.sources {
			if t.targeted(s, set) {
				out = append(out, c)
				break
			}
		}
	}
	return out, nil
}

// Settle computes everything queued and waits for the renders it starts,
// until nothing is left or ctx ends. Tests and tools call it instead of
// Run's worker to see the effect of a change at once; it must not run
// beside Run.
func (h *Hub) Settle(ctx context.Context) error {
	for {
		w, _ := h.queue.take(h.now())
		if w.empty() {
			if !h.renders.busy() {
				return nil
			}
			if err := h.renders.idle(ctx); err != nil {
				return err
			}
			continue
		}
		if err := h.compute(ctx, w); err != nil {
			return err
		}
	}
}
