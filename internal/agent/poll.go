package agent

import (
	"context"
	"fmt"

	"flotilla.io/flotilla/internal/hubclient"
	"flotilla.io/flotilla/internal/wire"
)

// pollLoop long-polls the hub for new manifests and accepts them. It never
// touches the cluster: the reconcile loop does, from what is accepted.
func (a *Agent) pollLoop(ctx context.Context, id *identity, client *hubclient.Agent) {
	b := newBackoff(a.clock, a.opts.RetryBase, a.opts.RetryMax)
	for ctx.Err() == nil {
		have := a.generation()
		pctx, cancel := context.WithTimeout(ctx, a.opts.PollTimeout)
		sm, err := client.Manifest(pctx, have)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			a.log.Warn("polling the hub failed", "err", err)
		case sm == nil:
			b.reset()
			a.hubAnswered()
			a.hubAgrees()
			continue
		default:
			a.hubAnswered()
			err = a.accept(ctx, id, client, *sm, have)
			if err == nil {
				b.reset()
				continue
			}
			a.log.Error("manifest refused", "err", err)
			a.setRefusal(err)
		}
		if !b.wait(ctx, hubclient.RetryAfter(err)) {
			return
		}
	}
}

// generation is the generation of the manifest being enforced; 0 for none.
func (a *Agent) generation() int64 {
	cur, _ := a.snapshot()
	if cur == nil {
		return 0
	}
	return cur.manifest.Generation
}

// accept verifies a manifest, fetches and verifies the objects it lacks,
// keeps both on disk, and hands the result to the reconciler. Nothing it
// refuses reaches the disk or the cluster.
func (a *Agent) accept(ctx context.Context, id *identity, client *hubclient.Agent, sm wire.SignedManifest, have int64) error {
	m, err := wire.VerifyManifest(id.pub, sm, id.ClusterID, have)
	if err != nil {
		return fmt.Errorf("refused manifest: %w", err)
	}
	if m.Generation == have {
		return nil
	}
	if missing := a.store.missing(m); len(missing) > 0 {
		octx, cancel := context.WithTimeout(ctx, a.opts.RequestTimeout)
		objs, err := client.Objects(octx, missing)
		cancel()
		if err != nil {
			return fmt.Errorf("fetching %d objects of generation %d: %w", len(missing), m.Generation, err)
		}
		if err := a.store.putObjects(objs, missing); err != nil {
			return fmt.Errorf("refused manifest generation %d: %w", m.Generation, err)
		}
	}
	d, err := a.store.complete(sm, m)
	if err != nil {
		return fmt.Errorf("refused manifest generation %d: %w", m.Generation, err)
	}
	if err := a.store.putManifest(sm); err != nil {
		return fmt.Errorf("keeping manifest generation %d: %w", m.Generation, err)
	}
	a.log.Info("manifest accepted", "generation", m.Generation, "bundles", len(m.Bundles), "fetched", len(d.objects))
	a.setCurrent(d)
	if err := a.store.gc(d); err != nil {
		a.log.Warn("removing unused objects", "err", err)
	}
	return nil
}
