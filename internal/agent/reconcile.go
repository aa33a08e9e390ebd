package agent

import (
	"context"
	"fmt"
	"reflect"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"flotilla.io/flotilla/internal/hubclient"
	"flotilla.io/flotilla/internal/kubeapply"
	"flotilla.io/flotilla/internal/wire"
)

// reconcileLoop applies each newly accepted manifest, re-checks health on
// every resync, and reports status whenever it changes.
func (a *Agent) reconcileLoop(ctx context.Context, client *hubclient.Agent) {
	tick := time.NewTicker(a.opts.Resync)
	defer tick.Stop()
	var (
		applied  int64 // generation of the last full apply pass
		failed   bool  // the last pass left a bundle failed: retry on resync
		states   []wire.BundleStatus
		sent     *wire.StatusReport
		resynced bool
	)
	for {
		cur, refusal := a.snapshot()
		if cur != nil {
			gen := cur.manifest.Generation
			if gen != applied || (failed && resynced) {
				states, failed = a.applyAll(ctx, cur)
				applied = gen
			} else if resynced {
				states = a.refreshHealth(ctx, cur, states)
			}
		}
		if ctx.Err() != nil {
			return
		}
		report := wire.StatusReport{AppliedGeneration: applied, Bundles: states}
		if refusal != nil {
			report.Error = refusal.Error()
		}
		if sent == nil || !sameReport(*sent, report) {
			report.Time = time.Now().UTC()
			if err := client.Status(ctx, report); err != nil {
				a.log.Warn("reporting status failed, will retry", "err", err)
			} else {
				sent = &report
			}
		}
		resynced = false
		select {
		case <-ctx.Done():
			return
		case <-a.kick:
		case <-tick.C:
			resynced = true
		}
	}
}

func sameReport(a, b wire.StatusReport) bool {
	a.Time, b.Time = time.Time{}, time.Time{}
	return reflect.DeepEqual(a, b)
}

// applyAll applies every bundle of d, then deletes the sets of bundles that
// left it. It returns each bundle's state and whether any failed.
func (a *Agent) applyAll(ctx context.Context, d *desired) ([]wire.BundleStatus, bool) {
	gen := d.manifest.Generation
	states := make([]wire.BundleStatus, 0, len(d.manifest.Bundles))
	failed := false
	keep := map[string]bool{}
	for _, b := range d.manifest.Bundles {
		keep[b.Name] = true
		st := a.applyBundle(ctx, d, b)
		st.Generation = gen
		failed = failed || st.State == wire.StateErrApplied
		states = append(states, st)
	}
	sets, err := a.opts.Applier.Sets(ctx)
	if err != nil {
		a.log.Error("listing applied bundles", "err", err)
		return states, true
	}
	for _, name := range sets {
		if keep[name] {
			continue
		}
		if err := a.opts.Applier.Delete(ctx, name); err != nil {
			a.log.Error("removing bundle that left the manifest", "bundle", name, "err", err)
			failed = true
			continue
		}
		a.log.Info("bundle removed", "bundle", name)
	}
	a.log.Info("applied", "generation", gen, "bundles", len(states), "failed", failed)
	return states, failed
}

func (a *Agent) applyBundle(ctx context.Context, d *desired, b wire.BundleRef) wire.BundleStatus {
	st := wire.BundleStatus{Name: b.Name}
	if b.Error != "" {
		// The hub could not render it: keep what runs, say why.
		st.State, st.Message = wire.StateErrApplied, b.Error
		return st
	}
	set, err := decodeSet(d, b)
	if err != nil {
		st.State, st.Message = wire.StateErrApplied, err.Error()
		return st
	}
	res, err := a.opts.Applier.Apply(ctx, set)
	if err == nil {
		err = res.Err()
	}
	if err != nil {
		a.log.Warn("bundle failed to apply", "bundle", b.Name, "err", err)
		st.State, st.Message = wire.StateErrApplied, err.Error()
		return st
	}
	return a.health(ctx, set, st)
}

func (a *Agent) health(ctx context.Context, set kubeapply.Set, st wire.BundleStatus) wire.BundleStatus {
	h, err := a.opts.Applier.Health(ctx, set)
	switch {
	case err != nil:
		st.State, st.Message = wire.StateNotReady, "checking health: "+err.Error()
	case h.Ready:
		st.State, st.Message = wire.StateReady, ""
	default:
		st.State, st.Message = wire.StateNotReady, h.Reason
	}
	return st
}

// refreshHealth re-checks bundles that applied; failed ones keep their error.
func (a *Agent) refreshHealth(ctx context.Context, d *desired, prev []wire.BundleStatus) []wire.BundleStatus {
	out := make([]wire.BundleStatus, len(prev))
	copy(out, prev)
	for i, st := range out {
		if st.State == wire.StateErrApplied {
			continue
		}
		for _, b := range d.manifest.Bundles {
			if b.Name != st.Name {
				continue
			}
			if set, err := decodeSet(d, b); err == nil {
				out[i] = a.health(ctx, set, st)
			}
		}
	}
	return out
}

func decodeSet(d *desired, b wire.BundleRef) (kubeapply.Set, error) {
	set := kubeapply.Set{Name: b.Name, Objects: make([]*unstructured.Unstructured, 0, len(b.Objects))}
	for _, h := range b.Objects {
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(d.objects[h]); err != nil {
			return kubeapply.Set{}, fmt.Errorf("decoding object %.12s: %w", h, err)
		}
		set.Objects = append(set.Objects, u)
	}
	return set, nil
}
