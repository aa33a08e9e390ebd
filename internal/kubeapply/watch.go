package kubeapply

import (
	"cmp"
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
)

// WatchSet names a set to watch and the kinds its members have.
type WatchSet struct {
	Name  string
	Kinds []schema.GroupKind
}

// WatchSetOf returns what Watch needs of a set, so the caller need not keep
// the decoded objects for as long as the watch runs.
func WatchSetOf(s Set) WatchSet {
	seen := map[schema.GroupKind]bool{}
	ws := WatchSet{Name: s.Name}
	for _, o := range s.Objects {
		if o == nil || isReleaseNamespace(o) {
			continue // release namespaces are not members
		}
		if gk := o.GroupVersionKind().GroupKind(); !seen[gk] {
			seen[gk] = true
			ws.Kinds = append(ws.Kinds, gk)
		}
	}
	return ws
}

// DriftEvent says that members of a set may have drifted: a candidate
// for Drifted to check.
type DriftEvent struct {
	Set string
	// Ref is the member changed or deleted, possibly by someone else. A
	// Ref without a name stands for every member of its kind (see
	// ObjectRef.Covers): the kind's watch has just listed, so a change
	// made while nothing watched may have been missed.
	Ref     ObjectRef
	Deleted bool
	// Interrupted says that the kind of Ref cannot be watched now: a list
	// or watch failed and is tried again. Changes to its members are not
	// seen until the watch is back (resumed, it delivers them; listed
	// again, an event for the whole kind follows).
	Interrupted bool
}

// Watched holds the sets a drift watch follows. Its owner replaces them
// as the desired state changes, and the watch follows. Safe for
// concurrent use.
type Watched struct {
	changed chan struct{} // holds at most one pending change

	mu   sync.Mutex // guards sets
	sets []WatchSet
}

// NewWatched returns an empty Watched.
func NewWatched() *Watched {
	return &Watched{changed: make(chan struct{}, 1)}
}

// Replace sets what the watch follows. Kinds the cluster did not serve
// when they were last followed are tried again.
func (w *Watched) Replace(sets []WatchSet) {
	w.mu.Lock()
	w.sets = slices.Clone(sets)
	w.mu.Unlock()
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

func (w *Watched) current() []WatchSet {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.sets
}

// watchRetry is the pause before a failed list or watch is tried again,
// and the least time between two watches of one kind.
const watchRetry = 2 * time.Second

// Watch watches the members of the sets watched holds, following it as it
// changes, until ctx ends, and calls fn (from several goroutines) for each
// change that may be drift. It holds no cache: one metadata-only watch per
// resource kind the sets hold, across namespaces, of the objects that
// carry an ApplySet part-of label, routed by that label to the set. Changes
// whose newest managed-fields entry is this applier's own are skipped; so
// are creations.
//
// No change is lost between watches: after every list, the watch of a
// kind reports that kind as a whole (a Ref without a name) for each set
// holding it, and a set new to the watch is reported so for the kinds
// already watched. A watch that ends resumes where it stopped, and lists
// again only when the server no longer serves that point. While a kind
// cannot be watched, each failed try is reported as Interrupted: a failed
// list or watch, and a failed lookup of the kind's resource (tried again
// every watchRetry, so a watch started before the API server was up
// starts once it is).
func (a *Applier) Watch(ctx context.Context, watched *Watched, fn func(DriftEvent)) {
	w := &driftWatch{a: a, fn: fn, running: map[schema.GroupKind]context.CancelFunc{}}
	w.routes.Store(newRoutes(nil, ""))
	defer func() {
		for _, stop := range w.running {
			stop()
		}
		w.wg.Wait()
	}()
	retry := time.NewTimer(watchRetry)
	defer retry.Stop()
	refresh := true
	for {
		unwatched := w.follow(ctx, watched.current(), refresh)
		retry.Reset(watchRetry)
		var again <-chan time.Time
		if unwatched {
			again = retry.C // a kind could not be looked up: try it again
		}
		select {
		case <-ctx.Done():
			return
		case <-watched.changed:
			refresh = true
		case <-again:
			refresh = false
		}
	}
}

// driftWatch is one run of Watch.
type driftWatch struct {
	a  *Applier
	fn func(DriftEvent)
	// routes is replaced whole, never changed, so watches read it freely.
	routes atomic.Pointer[routes]
	// running holds what stops each watched kind; only Watch's own
	// goroutine uses it.
	running map[schema.GroupKind]context.CancelFunc
	wg      sync.WaitGroup
}

// routes says which set an event is for, and which sets hold each kind.
type routes struct {
	sets  map[string]string             // ApplySet id → set name
	names map[string]bool               // set names
	kinds map[schema.GroupKind][]string // kind → names of the sets holding it
}

func newRoutes(watched []WatchSet, parentNamespace string) *routes {
	r := &routes{sets: map[string]string{}, names: map[string]bool{}, kinds: map[schema.GroupKind][]string{}}
	for _, s := range watched {
		if validateSetName(s.Name) != nil || r.names[s.Name] {
			continue
		}
		r.sets[ApplySetID(s.Name, parentNamespace)] = s.Name
		r.names[s.Name] = true
		for _, gk := range s.Kinds {
			if !slices.Contains(r.kinds[gk], s.Name) {
				r.kinds[gk] = append(r.kinds[gk], s.Name)
			}
		}
	}
	return r
}

// follow starts watches for the kinds the sets hold that are not watched
// yet, stops those of kinds no set holds, and reports the kinds already
// watched of sets new to the watch: their members were applied before
// their events were routed to them. A kind whose resource cannot be
// looked up (the API server not up yet after a reboot, a CRD not yet
// served) is reported as Interrupted, and follow returns true so that
// Watch calls it again after watchRetry. With refresh false, a kind the
// cached discovery does not know is not asked about again: the retry of
// a kind not served costs nothing until something refreshes discovery
// (an apply of a CRD, a miss elsewhere, a change of the sets).
func (w *driftWatch) follow(ctx context.Context, sets []WatchSet, refresh bool) (unwatched bool) {
	next := newRoutes(sets, w.a.opts.ParentNamespace)
	prev := w.routes.Swap(next)
	for gk, stop := range w.running {
		if _, ok := next.kinds[gk]; !ok {
			stop()
			delete(w.running, gk)
		}
	}
	res := &resolver{mapper: w.a.mapper, refreshed: !refresh}
	for _, gk := range slices.SortedFunc(maps.Keys(next.kinds), compareGK) {
		if _, ok := w.running[gk]; ok {
			for _, set := range next.kinds[gk] {
				if !prev.names[set] {
					w.fn(DriftEvent{Set: set, Ref: kindRef(gk)})
				}
			}
			continue
		}
		m, err := res.mapping(ctx, gk, "")
		if err != nil {
			w.interrupted(ctx, gk, err)
			unwatched = true
			continue
		}
		kctx, stop := context.WithCancel(ctx)
		w.running[gk] = stop
		w.wg.Go(func() { w.watchKind(kctx, m.Resource, gk) })
	}
	return unwatched
}

// watchKind lists (for a resource version) and watches one resource until
// ctx ends, resuming where a watch stopped, and listing again when the
// server no longer serves that point. Every list is followed by a report
// of the whole kind.
func (w *driftWatch) watchKind(ctx context.Context, gvr schema.GroupVersionResource, gk schema.GroupKind) {
	r := w.a.metadata.Resource(gvr)
	rv := "" // where the next watch starts; "" to list first
	for ctx.Err() == nil {
		if rv == "" {
			list, err := r.List(ctx, metav1.ListOptions{LabelSelector: LabelPartOf, Limit: 1})
			if err == nil && list.ResourceVersion == "" {
				err = errors.New("list without a resource version")
			}
			if err != nil {
				w.interrupted(ctx, gk, err)
				pause(ctx, watchRetry)
				continue
			}
			rv = list.ResourceVersion
			// Anything changed since the sets were applied, or since the
			// last event seen, is before this list: check it all. What
			// comes after, the watch from rv sees.
			w.report(gk, DriftEvent{})
		}
		began := time.Now()
		wi, err := r.Watch(ctx, metav1.ListOptions{LabelSelector: LabelPartOf, ResourceVersion: rv, AllowWatchBookmarks: true})
		if err != nil {
			var status apierrors.APIStatus
			if errors.As(err, &status) {
				rv = "" // the server answered, but not from rv: list again
			}
			w.interrupted(ctx, gk, err)
			pause(ctx, watchRetry)
			continue
		}
		rv = w.consume(ctx, wi, gvr, gk.Kind, rv)
		wi.Stop()
		if time.Since(began) < watchRetry {
			pause(ctx, watchRetry) // a server ending every watch at once must not spin us
		}
	}
}

// consume passes the changes one watch delivers to fn until it ends, and
// returns the resource version to resume from: the last one seen, or ""
// when the server says it is too old.
func (w *driftWatch) consume(ctx context.Context, wi watch.Interface, gvr schema.GroupVersionResource, kind, rv string) string {
	for {
		select {
		case <-ctx.Done():
			return rv
		case ev, ok := <-wi.ResultChan():
			if !ok {
				return rv
			}
			if ev.Type == watch.Error {
				err := apierrors.FromObject(ev.Object)
				if apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
					return ""
				}
				w.a.log.Debug("drift watch error", "resource", gvr.String(), "err", err)
				return rv
			}
			obj, err := meta.Accessor(ev.Object)
			if err != nil {
				continue
			}
			if v := obj.GetResourceVersion(); v != "" {
				rv = v
			}
			if ev.Type != watch.Modified && ev.Type != watch.Deleted {
				continue // creations and bookmarks
			}
			set, ok := w.routes.Load().sets[obj.GetLabels()[LabelPartOf]]
			if !ok || (ev.Type == watch.Modified && w.a.lastWriterIsUs(obj.GetManagedFields())) {
				continue
			}
			ref := ObjectRef{Group: gvr.Group, Version: gvr.Version, Kind: kind, Namespace: obj.GetNamespace(), Name: obj.GetName()}
			w.fn(DriftEvent{Set: set, Ref: ref, Deleted: ev.Type == watch.Deleted})
		}
	}
}

// report calls fn with ev for each set holding kind gk, Ref naming the
// whole kind.
func (w *driftWatch) report(gk schema.GroupKind, ev DriftEvent) {
	for _, set := range w.routes.Load().kinds[gk] {
		ev.Set, ev.Ref = set, kindRef(gk)
		w.fn(ev)
	}
}

// interrupted reports a failed list or watch of kind gk, unless the watch
// is ending anyway.
func (w *driftWatch) interrupted(ctx context.Context, gk schema.GroupKind, err error) {
	if ctx.Err() != nil {
		return
	}
	w.a.log.Debug("drift watch interrupted", "kind", gk.String(), "err", err)
	w.report(gk, DriftEvent{Interrupted: true})
}

func kindRef(gk schema.GroupKind) ObjectRef {
	return ObjectRef{Group: gk.Group, Kind: gk.Kind}
}

func compareGK(a, b schema.GroupKind) int {
	return cmp.Or(strings.Compare(a.Group, b.Group), strings.Compare(a.Kind, b.Kind))
}

// lastWriterIsUs reports whether the newest managed-fields entry is this
// applier's apply (so the change is ours). Entries of equal time count as
// someone else's: the check that follows is exact, this only filters.
func (a *Applier) lastWriterIsUs(entries []metav1.ManagedFieldsEntry) bool {
	var ours, theirs time.Time
	for _, e := range entries {
		if e.Time == nil {
			continue
		}
		if e.Manager == a.opts.FieldManager && e.Operation == metav1.ManagedFieldsOperationApply {
			ours = later(ours, e.Time.Time)
		} else {
			theirs = later(theirs, e.Time.Time)
		}
	}
	return !ours.IsZero() && ours.After(theirs)
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
