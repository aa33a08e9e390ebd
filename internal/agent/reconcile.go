package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"runtime/debug"
	"slices"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"flotilla.io/flotilla/internal/kubeapply"
	"flotilla.io/flotilla/internal/wire"
)

// reconciler is the reconcile loop's own state; only that goroutine uses it.
type reconciler struct {
	applied int64 // generation of the last full apply pass
	// retry is set when the last pass left a bundle failed or waiting.
	retry  bool
	states []wire.BundleStatus
	// modified holds, per bundle whose drift is not corrected, the drifted
	// members and why.
	modified map[string]map[string]string
	// watching is the generation the drift watch follows; stopWatch ends it.
	watching  int64
	stopWatch context.CancelFunc
	watchers  sync.WaitGroup
}

// reconcileLoop applies each newly accepted manifest, re-checks health on
// every resync, checks and corrects drift the watch reports, and records
// status in the outbox whenever it changes. It never waits on the hub: the
// send loop delivers what it records.
func (a *Agent) reconcileLoop(ctx context.Context) {
	r := &reconciler{modified: map[string]map[string]string{}}
	defer func() {
		if r.stopWatch != nil {
			r.stopWatch()
		}
		r.watchers.Wait()
	}()
	resynced := false
	for {
		resync := a.clock.After(a.opts.Resync)
		cur, refusal := a.snapshot()
		if cur != nil {
			gen := cur.manifest.Generation
			switch {
			case gen != r.applied || (r.retry && resynced):
				clear(r.modified)
				r.states, r.retry = a.applyAll(ctx, cur)
				r.applied = gen
				a.watch(ctx, r, cur)
				// A full pass decodes every object and buffers every
				// answer; hand that memory back now rather than minutes
				// later, so the steady footprint on a small box stays low.
				debug.FreeOSMemory()
			case resynced:
				r.states = a.refreshHealth(ctx, cur, r.states)
			}
			if drift := a.takeDrift(); len(drift) > 0 {
				a.checkDrift(ctx, r, cur, drift)
			}
		}
		if ctx.Err() != nil {
			return
		}
		report := wire.StatusReport{AppliedGeneration: r.applied, Bundles: r.withModified()}
		if refusal != nil {
			report.Error = refusal.Error()
		}
		if err := a.outbox.put(report, a.clock.Now()); err != nil {
			a.log.Error("keeping status", "err", err)
		}
		resynced = false
		select {
		case <-ctx.Done():
			return
		case <-a.kick:
		case <-resync:
			resynced = true
		}
	}
}

// withModified returns the states with drifted bundles marked Modified.
func (r *reconciler) withModified() []wire.BundleStatus {
	out := slices.Clone(r.states)
	for i, st := range out {
		m := r.modified[st.Name]
		if len(m) == 0 || st.State == wire.StateErrApplied {
			continue
		}
		keys := slices.Sorted(maps.Keys(m))
		msgs := make([]string, len(keys))
		for j, k := range keys {
			msgs[j] = k + " " + m[k]
		}
		out[i].State, out[i].Message = wire.StateModified, strings.Join(msgs, "; ")
	}
	return out
}

// applyAll applies every bundle of d whose dependencies are Ready, then
// deletes the sets of bundles that left it. It returns each bundle's state
// (in manifest order) and whether any failed or waits.
func (a *Agent) applyAll(ctx context.Context, d *desired) ([]wire.BundleStatus, bool) {
	gen := d.manifest.Generation
	byName := map[string]wire.BundleStatus{}
	inManifest := map[string]bool{}
	for _, b := range d.manifest.Bundles {
		inManifest[b.Name] = true
	}
	// Apply in dependency order: a bundle goes once everything it depends
	// on has gone; what is left at the end waits on a cycle.
	for progress := true; progress; {
		progress = false
		for _, b := range d.manifest.Bundles {
			if _, done := byName[b.Name]; done || !depsDone(b, byName, inManifest) {
				continue
			}
			st := a.applyBundle(ctx, d, b, byName, inManifest)
			st.Generation = gen
			byName[b.Name] = st
			progress = true
		}
	}
	states := make([]wire.BundleStatus, 0, len(d.manifest.Bundles))
	retry := false
	digests := map[string]string{}
	for _, b := range d.manifest.Bundles {
		if st, ok := byName[b.Name]; ok && st.State != wire.StateErrApplied && st.State != wire.StatePending && !b.Paused {
			digests[b.Name] = bundleDigest(b)
		} else if prev := a.outbox.appliedDigest(b.Name); prev != "" {
			digests[b.Name] = prev
		}
		st, ok := byName[b.Name]
		if !ok {
			st = wire.BundleStatus{Name: b.Name, State: wire.StatePending, Generation: gen,
				Message: "waiting for dependencies that depend on it: " + strings.Join(b.DependsOn, ", ")}
		}
		retry = retry || st.State == wire.StateErrApplied || st.State == wire.StatePending
		states = append(states, st)
	}
	if !a.removeLeft(ctx, inManifest) {
		retry = true
	}
	if err := a.outbox.setApplied(digests); err != nil {
		a.log.Warn("recording applied bundles", "err", err)
	}
	a.log.Info("applied", "generation", gen, "bundles", len(states), "retry", retry)
	return states, retry
}

// depsDone reports whether every dependency of b that is in the manifest
// has had its turn.
func depsDone(b wire.BundleRef, done map[string]wire.BundleStatus, inManifest map[string]bool) bool {
	for _, dep := range b.DependsOn {
		if _, ok := done[dep]; inManifest[dep] && !ok {
			return false
		}
	}
	return true
}

// removeLeft deletes the sets of bundles that left the manifest; false
// when something could not be removed.
func (a *Agent) removeLeft(ctx context.Context, keep map[string]bool) bool {
	sets, err := a.opts.Applier.Sets(ctx)
	if err != nil {
		a.log.Error("listing applied bundles", "err", err)
		return false
	}
	ok := true
	for _, name := range sets {
		if keep[name] {
			continue
		}
		if err := a.opts.Applier.Delete(ctx, name); err != nil {
			a.log.Error("removing bundle that left the manifest", "bundle", name, "err", err)
			ok = false
			continue
		}
		a.log.Info("bundle removed", "bundle", name)
	}
	return ok
}

func (a *Agent) applyBundle(ctx context.Context, d *desired, b wire.BundleRef, done map[string]wire.BundleStatus, inManifest map[string]bool) wire.BundleStatus {
	st := wire.BundleStatus{Name: b.Name}
	if b.Error != "" {
		// The hub could not render it: keep what runs, say why.
		st.State, st.Message = wire.StateErrApplied, b.Error
		return st
	}
	for _, dep := range b.DependsOn {
		switch {
		case !inManifest[dep]:
			st.State, st.Message = wire.StatePending, fmt.Sprintf("depends on %s, which is not targeted at this cluster", dep)
			return st
		case done[dep].State != wire.StateReady:
			st.State, st.Message = wire.StatePending, fmt.Sprintf("waiting for %s to be Ready (it is %s)", dep, done[dep].State)
			return st
		}
	}
	set, err := decodeSet(d, b)
	if err != nil {
		st.State, st.Message = wire.StateErrApplied, err.Error()
		return st
	}
	if b.Paused {
		// Neither applied nor pruned: say how what runs is doing.
		st = a.health(ctx, set, st)
		st.Message = strings.TrimSpace("paused " + st.Message)
		return st
	}
	if b.Drift != nil && !b.Drift.Correct && a.outbox.appliedDigest(b.Name) == bundleDigest(b) {
		// Applied already and drift is only reported: applying again (at
		// a restart, or for another bundle's change) would undo it. The
		// drift check that follows finds what others changed.
		a.noteDrift(kubeapply.DriftEvent{Set: b.Name})
		return a.health(ctx, set, st)
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

// refreshHealth re-checks bundles that applied; failed and waiting ones
// keep their state.
func (a *Agent) refreshHealth(ctx context.Context, d *desired, prev []wire.BundleStatus) []wire.BundleStatus {
	out := slices.Clone(prev)
	for i, st := range out {
		if st.State == wire.StateErrApplied || st.State == wire.StatePending {
			continue
		}
		if b, ok := bundleOf(d, st.Name); ok {
			if set, err := decodeSet(d, b); err == nil {
				out[i] = a.health(ctx, set, st)
				if b.Paused {
					out[i].Message = strings.TrimSpace("paused " + out[i].Message)
				}
			}
		}
	}
	return out
}

func bundleOf(d *desired, name string) (wire.BundleRef, bool) {
	for _, b := range d.manifest.Bundles {
		if b.Name == name {
			return b, true
		}
	}
	return wire.BundleRef{}, false
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

// bundleDigest identifies what a bundle applies: its objects, in order.
func bundleDigest(b wire.BundleRef) string {
	h := sha256.New()
	for _, o := range b.Objects {
		h.Write([]byte(o))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}
