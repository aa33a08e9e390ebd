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
		cur, _ := a.snapshot()
		have, base := int64(0), ""
		if cur != nil {
			have, base = cur.manifest.Generation, wire.Hash(cur.signed.Content)
		}
		pctx, cancel := context.WithTimeout(ctx, a.opts.PollTimeout)
		sm, err := client.Manifest(pctx, have, base)
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
			err = a.accept(ctx, id, client, cur, *sm, have)
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

// accept verifies a manifest, fetches and verifies the objects it lacks,
// keeps both on disk, and hands the result to the reconciler. Nothing it
// refuses reaches the disk or the cluster.
func (a *Agent) accept(ctx context.Context, id *identity, client *hubclient.Agent, cur *desired, sm wire.SignedManifest, have int64) error {
	var base []byte
	if cur != nil {
		base = cur.signed.Content
	}
	sm, err := wire.ResolveDelta(sm, base)
	if err != nil {
		return fmt.Errorf("refused manifest: %w", err)
	}
	shipped := sm.Objects
	sm.Objects = nil // what is kept on disk is the manifest alone
	m, err := wire.VerifyManifest(id.pub, sm, id.ClusterID, have)
	if err != nil {
		return fmt.Errorf("refused manifest: %w", err)
	}
	if m.Generation == have {
		return nil
	}
	kept, err := encodeManifest(sm)
	if err != nil {
		return fmt.Errorf("refused manifest generation %d: %w", m.Generation, err)
	}
	if err := a.keepShipped(m, shipped, cur); err != nil {
		return fmt.Errorf("refused manifest generation %d: %w", m.Generation, err)
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
	if err := a.store.putManifest(kept); err != nil {
		return fmt.Errorf("keeping manifest generation %d: %w", m.Generation, err)
	}
	a.log.Info("manifest accepted", "generation", m.Generation, "bundles", len(m.Bundles), "fetched", len(d.objects))
	a.setCurrent(d)
	if err := a.store.gc(d); err != nil {
		a.log.Warn("removing unused objects", "err", err)
	}
	return nil
}

// keepShipped verifies the objects shipped with m and keeps those m names.
// One that cannot be rebuilt is skipped: it is fetched by hash like any
// missing object.
func (a *Agent) keepShipped(m wire.Manifest, shipped []wire.ShippedObject, held *desired) error {
	if len(shipped) == 0 {
		return nil
	}
	named := map[string]bool{}
	for _, b := range m.Bundles {
		for _, h := range b.Objects {
			named[h] = true
		}
	}
	lookup := func(h string) ([]byte, bool) {
		if held == nil {
			return nil, false
		}
		data, ok := held.objects[h]
		return data, ok
	}
	objs := map[string][]byte{}
	var want []string
	for _, so := range shipped {
		if !named[so.Hash] {
			return fmt.Errorf("hub shipped object %.12s, which the manifest does not name", so.Hash)
		}
		data, err := so.Resolve(lookup)
		if err != nil {
			a.log.Warn("shipped object refused; fetching it instead", "err", err)
			continue
		}
		objs[so.Hash] = data
		want = append(want, so.Hash)
	}
	return a.store.putObjects(objs, want)
}
