package agent

import (
	"context"
	"slices"

	"flotilla.io/flotilla/internal/kubeapply"
	"flotilla.io/flotilla/internal/wire"
)

// watch (re)starts the drift watch over the applied bundles of d when the
// generation changed. Paused bundles and bundles the hub failed to render
// are not watched: nothing of theirs is enforced.
func (a *Agent) watch(ctx context.Context, r *reconciler, d *desired) {
	if r.watching == d.manifest.Generation && r.stopWatch != nil {
		return
	}
	if r.stopWatch != nil {
		r.stopWatch()
		r.watchers.Wait()
	}
	var sets []kubeapply.WatchSet
	for _, b := range d.manifest.Bundles {
		if b.Paused || b.Error != "" {
			continue
		}
		if set, err := decodeSet(d, b); err == nil {
			sets = append(sets, kubeapply.WatchSetOf(set))
		}
	}
	wctx, cancel := context.WithCancel(ctx)
	r.watching, r.stopWatch = d.manifest.Generation, cancel
	r.watchers.Go(func() { a.opts.Applier.Watch(wctx, sets, a.noteDrift) })
}

// checkDrift checks the members the watch reported, per bundle: it
// corrects drift by applying the bundle again, or, when the bundle's drift
// policy says not to, records it so the bundle reports Modified.
func (a *Agent) checkDrift(ctx context.Context, r *reconciler, d *desired, drift map[string][]kubeapply.ObjectRef) {
	for name, refs := range drift {
		b, ok := bundleOf(d, name)
		if !ok || b.Paused || b.Error != "" || r.stateOf(name) == wire.StatePending || r.stateOf(name) == wire.StateErrApplied {
			continue
		}
		set, err := decodeSet(d, b)
		if err != nil {
			continue
		}
		if slices.Contains(refs, kubeapply.ObjectRef{}) {
			refs = nil // the whole set
			clear(r.modified[name])
		}
		drifts, err := a.opts.Applier.Drifted(ctx, set, refs, ignoreRules(b.Drift))
		if err != nil {
			a.log.Warn("checking drift failed", "bundle", name, "err", err)
			r.retry = true
			continue
		}
		m := r.modified[name]
		for _, ref := range refs {
			delete(m, refKey(ref))
		}
		if len(drifts) == 0 {
			continue
		}
		if b.Drift == nil || b.Drift.Correct {
			a.correct(ctx, r, set, drifts)
			continue
		}
		if m == nil {
			m = map[string]string{}
			r.modified[name] = m
		}
		for _, dr := range drifts {
			m[refKey(dr.Ref)] = dr.Reason
		}
		a.log.Info("drift found, not corrected by policy", "bundle", name, "objects", len(drifts))
	}
}

// correct applies the set again: server-side apply puts back what others
// changed or deleted, and touches nothing that did not drift.
func (a *Agent) correct(ctx context.Context, r *reconciler, set kubeapply.Set, drifts []kubeapply.Drift) {
	res, err := a.opts.Applier.Apply(ctx, set)
	if err == nil {
		err = res.Err()
	}
	if err != nil {
		a.log.Warn("correcting drift failed", "bundle", set.Name, "err", err)
		r.retry = true
		return
	}
	a.log.Info("drift corrected", "bundle", set.Name, "objects", len(drifts), "first", drifts[0].Ref.String(), "reason", drifts[0].Reason)
	for i, st := range r.states {
		if st.Name == set.Name {
			r.states[i] = a.health(ctx, set, st)
		}
	}
}

func (r *reconciler) stateOf(name string) string {
	for _, st := range r.states {
		if st.Name == name {
			return st.State
		}
	}
	return ""
}

// refKey names an object regardless of the API version it was seen at.
func refKey(r kubeapply.ObjectRef) string {
	ref := r
	ref.Version = ""
	if ref.Group != "" {
		ref.Kind += "." + ref.Group
	}
	return ref.String()
}

func ignoreRules(p *wire.DriftPolicy) []kubeapply.IgnoreRule {
	if p == nil {
		return nil
	}
	out := make([]kubeapply.IgnoreRule, 0, len(p.Ignore))
	for _, ig := range p.Ignore {
		out = append(out, kubeapply.IgnoreRule{APIVersion: ig.APIVersion, Kind: ig.Kind, Namespace: ig.Namespace, Name: ig.Name, Pointers: ig.JSONPointers})
	}
	return out
}
