package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"reflect"
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
	applied int64 // generation of the last apply pass
	// retry is set when the last pass left a bundle failed or waiting.
	retry  bool
	states []wire.BundleStatus
	// last holds the bundles of the last apply pass as its manifest named
	// them; a bundle unchanged since costs the next pass nothing.
	last map[string]wire.BundleRef
	// modified holds, per bundle whose drift is not corrected, the drifted
	// members (version left out) and why.
	modified map[string]map[kubeapply.ObjectRef]string
	// watched is what the drift watch follows; watchSets caches each
	// bundle's part of it by the digest it was made from.
	watched   *kubeapply.Watched
	watchSets map[string]watchSet
}

type watchSet struct {
	digest string
	set    kubeapply.WatchSet
}

func newReconciler() *reconciler {
	return &reconciler{
		last:      map[string]wire.BundleRef{},
		modified:  map[string]map[kubeapply.ObjectRef]string{},
		watched:   kubeapply.NewWatched(),
		watchSets: map[string]watchSet{},
	}
}

// reconcileLoop applies what each newly accepted manifest changed,
// re-checks health on every resync, checks and corrects drift the watch
// reports, and records status in the outbox whenever it changes. It never
// waits on the hub: the send loop delivers what it records.
func (a *Agent) reconcileLoop(ctx context.Context) {
	r := newReconciler()
	wctx, stopWatch := context.WithCancel(ctx)
	var watchers sync.WaitGroup
	watchers.Go(func() { a.opts.Applier.Watch(wctx, r.watched, a.noteDrift) })
	defer func() {
		stopWatch()
		watchers.Wait()
	}()
	resynced := false
	for {
		resync := a.clock.After(a.opts.Resync)
		cur, refusal := a.snapshot()
		if cur != nil {
			a.reconcile(ctx, r, cur, resynced)
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

// reconcile is one turn of the loop: a new generation is applied where it
// changed something; a resync retries what failed or waited, re-reads
// health, and checks again the members the watch may have missed and
// those health finds missing; then the drift queued is checked.
func (a *Agent) reconcile(ctx context.Context, r *reconciler, d *desired, resynced bool) {
	var missing map[string][]kubeapply.ObjectRef
	switch {
	case d.manifest.Generation != r.applied:
		a.applyAll(ctx, r, d)
		// A pass may decode many objects and buffer many answers; hand
		// that memory back now rather than minutes later, so the steady
		// footprint on a small box stays low.
		debug.FreeOSMemory()
	case resynced:
		if r.retry {
			a.applyAll(ctx, r, d)
		}
		missing = a.refreshHealth(ctx, r, d)
	}
	drift := a.takeDrift(resynced)
	for name, refs := range missing {
		drift = addRefs(drift, name, refs)
	}
	if len(drift) > 0 {
		a.checkDrift(ctx, r, d, drift)
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
		msgs := make([]string, 0, len(m))
		for ref, reason := range m {
			msgs = append(msgs, refKey(ref)+" "+reason)
		}
		slices.Sort(msgs)
		out[i].State, out[i].Message = wire.StateModified, strings.Join(msgs, "; ")
	}
	return out
}

// applyAll brings the cluster to d. A bundle unchanged since the last pass
// (same objects, neither paused nor unpaused, and it went well) keeps its
// state and costs no API call: the drift watch guards it. Every other
// bundle is applied once the bundles it depends on are Ready. Then the
// sets of bundles that left d are deleted and the drift watch follows d.
func (a *Agent) applyAll(ctx context.Context, r *reconciler, d *desired) {
	gen := d.manifest.Generation
	prev := map[string]wire.BundleStatus{}
	for _, st := range r.states {
		prev[st.Name] = st
	}
	byName := map[string]wire.BundleStatus{}
	inManifest := map[string]bool{}
	kept := 0
	for _, b := range d.manifest.Bundles {
		inManifest[b.Name] = true
		if st, ok := r.unchanged(b, prev[b.Name], a.outbox.appliedDigest(b.Name)); ok {
			if last := r.last[b.Name]; !reflect.DeepEqual(b.Drift, last.Drift) {
				// Nothing to apply, but what counts as drift, or what
				// is done about it, changed: check the whole set.
				delete(r.modified, b.Name)
				a.noteDrift(kubeapply.DriftEvent{Set: b.Name})
			}
			st.Generation = gen
			byName[b.Name] = st
			kept++
		}
	}
	// Apply in dependency order: a bundle goes once everything it depends
	// on has gone; what is left at the end waits on a cycle.
	for progress := true; progress; {
		progress = false
		for _, b := range d.manifest.Bundles {
			if _, done := byName[b.Name]; done || !depsDone(b, byName, inManifest) {
				continue
			}
			st := a.applyBundle(ctx, r, d, b, byName, inManifest)
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
	for name := range r.modified {
		if !inManifest[name] {
			delete(r.modified, name)
		}
	}
	clear(r.last)
	for _, b := range d.manifest.Bundles {
		r.last[b.Name] = b
	}
	r.states, r.retry, r.applied = states, retry, gen
	r.watched.Replace(r.watchSetsOf(d))
	a.log.Info("applied", "generation", gen, "bundles", len(states), "unchanged", kept, "retry", retry)
}

// unchanged returns the state to keep for b when the last pass left it as
// b wants it: the same objects applied (or paused), and it went well.
func (r *reconciler) unchanged(b wire.BundleRef, st wire.BundleStatus, applied string) (wire.BundleStatus, bool) {
	last, known := r.last[b.Name]
	switch {
	case !known || st.Name == "" || b.Error != "" || b.Paused != last.Paused:
		return st, false
	case st.State == wire.StateErrApplied || st.State == wire.StatePending:
		return st, false
	case b.Paused:
		return st, slices.Equal(b.Objects, last.Objects)
	}
	return st, applied == bundleDigest(b)
}

// watchSetsOf returns what the drift watch follows for d: the bundles that
// are enforced, neither paused nor failed to render.
func (r *reconciler) watchSetsOf(d *desired) []kubeapply.WatchSet {
	var out []kubeapply.WatchSet
	seen := map[string]bool{}
	for _, b := range d.manifest.Bundles {
		if b.Paused || b.Error != "" {
			continue
		}
		seen[b.Name] = true
		digest := bundleDigest(b)
		if ws, ok := r.watchSets[b.Name]; ok && ws.digest == digest {
			out = append(out, ws.set)
			continue
		}
		set, err := decodeSet(d, b)
		if err != nil {
			continue
		}
		ws := watchSet{digest: digest, set: kubeapply.WatchSetOf(set)}
		r.watchSets[b.Name] = ws
		out = append(out, ws.set)
	}
	for name := range r.watchSets {
		if !seen[name] {
			delete(r.watchSets, name)
		}
	}
	return out
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

func (a *Agent) applyBundle(ctx context.Context, r *reconciler, d *desired, b wire.BundleRef, done map[string]wire.BundleStatus, inManifest map[string]bool) wire.BundleStatus {
	st := wire.BundleStatus{Name: b.Name}
	if b.Error != "" {
		// The hub could not render it: keep what runs, say why.
		st.State, st.Message = wire.StateErrApplied, b.Error
		return st
	}
	applied := a.outbox.appliedDigest(b.Name) == bundleDigest(b)
	_, known := r.last[b.Name]
	if applied && !known && !b.Paused {
		// Applied as it is before this start. Reading its health is
		// enough: the drift watch's first list has every member checked,
		// and puts back only what changed while the agent was away.
		set, err := decodeSet(d, b)
		if err != nil {
			st.State, st.Message = wire.StateErrApplied, err.Error()
			return st
		}
		return a.health(ctx, set, st)
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
	if applied && b.Drift != nil && !b.Drift.Correct {
		// Applied already and drift is only reported: applying again
		// (after a pause, say) would undo it. The drift check that
		// follows finds what others changed.
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
	delete(r.modified, b.Name) // applying undid whatever drifted
	return a.health(ctx, set, st)
}

func (a *Agent) health(ctx context.Context, set kubeapply.Set, st wire.BundleStatus) wire.BundleStatus {
	st, _ = a.healthOf(ctx, set, st)
	return st
}

// healthOf is health that also returns the members not found.
func (a *Agent) healthOf(ctx context.Context, set kubeapply.Set, st wire.BundleStatus) (wire.BundleStatus, []kubeapply.ObjectRef) {
	h, err := a.opts.Applier.Health(ctx, set)
	switch {
	case err != nil:
		st.State, st.Message = wire.StateNotReady, "checking health: "+err.Error()
	case h.Ready:
		st.State, st.Message = wire.StateReady, ""
	default:
		st.State, st.Message = wire.StateNotReady, h.Reason
	}
	return st, h.Missing()
}

// refreshHealth re-checks bundles that applied; failed and waiting ones
// keep their state. It returns the members found missing, by bundle, for
// a drift check: a deletion the watch missed is found here at the latest.
func (a *Agent) refreshHealth(ctx context.Context, r *reconciler, d *desired) map[string][]kubeapply.ObjectRef {
	missing := map[string][]kubeapply.ObjectRef{}
	for i, st := range r.states {
		if st.State == wire.StateErrApplied || st.State == wire.StatePending {
			continue
		}
		b, ok := bundleOf(d, st.Name)
		if !ok {
			continue
		}
		set, err := decodeSet(d, b)
		if err != nil {
			continue
		}
		st, gone := a.healthOf(ctx, set, st)
		if b.Paused {
			st.Message = strings.TrimSpace("paused " + st.Message)
		} else if len(gone) > 0 {
			missing[b.Name] = gone
		}
		r.states[i] = st
	}
	return missing
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
