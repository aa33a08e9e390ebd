package agent

import (
	"context"
	"maps"
	"slices"

	"flotilla.io/flotilla/internal/kubeapply"
	"flotilla.io/flotilla/internal/wire"
)

// checkDrift checks the members the watch reported, per bundle (a ref
// without a name stands for a whole kind, the zero ref for the whole
// set): it corrects drift by applying the drifted members again, or, when
// the bundle's drift policy says not to, records it so the bundle reports
// Modified. What could not be checked or corrected is checked again at
// the next resync.
func (a *Agent) checkDrift(ctx context.Context, r *reconciler, d *desired, drift map[string][]kubeapply.ObjectRef) {
	for name, refs := range drift {
		b, ok := bundleOf(d, name)
		if !ok || b.Paused || b.Error != "" || r.stateOf(name) == wire.StatePending || r.stateOf(name) == wire.StateErrApplied {
			continue // not enforced, or the next apply pass takes it whole
		}
		set, err := decodeSet(d, b)
		if err != nil {
			continue
		}
		if slices.Contains(refs, kubeapply.ObjectRef{}) {
			refs = nil // the whole set
		}
		drifts, err := a.opts.Applier.Drifted(ctx, set, refs, ignoreRules(b.Drift))
		if err != nil {
			a.log.Warn("checking drift failed", "bundle", name, "err", err)
			a.recheckLater(name, refs)
			continue
		}
		m := r.modified[name]
		before := maps.Clone(m)
		maps.DeleteFunc(m, func(ref kubeapply.ObjectRef, _ string) bool { return kubeapply.Covered(refs, ref) })
		if len(drifts) == 0 {
			continue
		}
		if b.Drift == nil || b.Drift.Correct {
			a.correct(ctx, r, set, drifts)
			continue
		}
		if m == nil {
			m = map[kubeapply.ObjectRef]string{}
			r.modified[name] = m
		}
		for _, dr := range drifts {
			m[unversioned(dr.Ref)] = dr.Reason
		}
		if !maps.Equal(before, m) {
			// Said once per change: a resync finds the same drift again.
			a.log.Info("drift found, not corrected by policy", "bundle", name, "objects", len(drifts))
		}
	}
}

// correct applies the drifted members again: server-side apply puts back
// what others changed or deleted, and nothing else of the set is written.
func (a *Agent) correct(ctx context.Context, r *reconciler, set kubeapply.Set, drifts []kubeapply.Drift) {
	refs := make([]kubeapply.ObjectRef, len(drifts))
	for i, dr := range drifts {
		refs[i] = dr.Ref
	}
	res, err := a.opts.Applier.Restore(ctx, set, refs)
	if err == nil {
		err = res.Err()
	}
	if err != nil {
		a.log.Warn("correcting drift failed", "bundle", set.Name, "err", err)
		a.recheckLater(set.Name, refs)
		return
	}
	a.log.Info("drift corrected", "bundle", set.Name, "objects", len(drifts), "first", drifts[0].Ref.String(), "reason", drifts[0].Reason)
	for i, st := range r.states {
		if st.Name == set.Name {
			r.states[i] = a.health(ctx, set, st)
		}
	}
}

func unversioned(r kubeapply.ObjectRef) kubeapply.ObjectRef {
	r.Version = ""
	return r
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
