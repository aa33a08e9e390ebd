package kubeapply

import (
	"context"
	"maps"
	"slices"
	"strings"
	"sync"
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

// DriftEvent says that a member of a set was changed or deleted, possibly
// by someone else: a candidate for Drifted to check.
type DriftEvent struct {
	Set     string
	Ref     ObjectRef
	Deleted bool
}

// watchRetry is the pause before a failed list or watch is tried again.
const watchRetry = 2 * time.Second

// Watch watches the members of the given sets for changes until ctx ends,
// and calls fn (from several goroutines) for each change that may be
// drift. It holds no cache: one metadata-only watch per resource kind the
// sets hold, across namespaces, selected by the ApplySet part-of label of
// those sets. Changes whose newest managed-fields entry is this applier's
// own are skipped; so are creations.
func (a *Applier) Watch(ctx context.Context, watched []WatchSet, fn func(DriftEvent)) {
	ids := map[string]string{} // ApplySet id → set name
	kinds := map[schema.GroupKind]bool{}
	for _, s := range watched {
		if validateSetName(s.Name) != nil {
			continue
		}
		ids[ApplySetID(s.Name, a.opts.ParentNamespace)] = s.Name
		for _, gk := range s.Kinds {
			kinds[gk] = true
		}
	}
	if len(ids) == 0 {
		<-ctx.Done()
		return
	}
	selector := LabelPartOf + " in (" + strings.Join(slices.Sorted(maps.Keys(ids)), ",") + ")"
	res := &resolver{mapper: a.mapper}
	var wg sync.WaitGroup
	for gk := range kinds {
		m, err := res.mapping(ctx, gk, "")
		if err != nil {
			a.log.Debug("not watching kind", "kind", gk.String(), "err", err)
			continue
		}
		wg.Go(func() { a.watchResource(ctx, m.Resource, gk.Kind, selector, ids, fn) })
	}
	wg.Wait()
}

// watchResource lists (for a resource version) and watches one resource
// until ctx ends, re-listing when the watch ends or expires.
func (a *Applier) watchResource(ctx context.Context, gvr schema.GroupVersionResource, kind, selector string, ids map[string]string, fn func(DriftEvent)) {
	r := a.metadata.Resource(gvr)
	for ctx.Err() == nil {
		list, err := r.List(ctx, metav1.ListOptions{LabelSelector: selector, Limit: 1})
		if err != nil {
			a.log.Debug("listing for drift watch failed", "resource", gvr.String(), "err", err)
			pause(ctx, watchRetry)
			continue
		}
		w, err := r.Watch(ctx, metav1.ListOptions{LabelSelector: selector, ResourceVersion: list.ResourceVersion, AllowWatchBookmarks: true})
		if err != nil {
			a.log.Debug("watching for drift failed", "resource", gvr.String(), "err", err)
			pause(ctx, watchRetry)
			continue
		}
		a.consume(ctx, w, gvr, kind, ids, fn)
		w.Stop()
	}
}

func (a *Applier) consume(ctx context.Context, w watch.Interface, gvr schema.GroupVersionResource, kind string, ids map[string]string, fn func(DriftEvent)) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.ResultChan():
			if !ok {
				return
			}
			if ev.Type == watch.Error {
				if st, ok := ev.Object.(*metav1.Status); ok && st.Code != 0 && !apierrors.IsResourceExpired(apierrors.FromObject(ev.Object)) {
					a.log.Debug("drift watch error", "resource", gvr.String(), "message", st.Message)
				}
				return
			}
			if ev.Type != watch.Modified && ev.Type != watch.Deleted {
				continue
			}
			obj, err := meta.Accessor(ev.Object)
			if err != nil {
				continue
			}
			set, ok := ids[obj.GetLabels()[LabelPartOf]]
			if !ok || (ev.Type == watch.Modified && a.lastWriterIsUs(obj.GetManagedFields())) {
				continue
			}
			ref := ObjectRef{Group: gvr.Group, Version: gvr.Version, Kind: kind, Namespace: obj.GetNamespace(), Name: obj.GetName()}
			fn(DriftEvent{Set: set, Ref: ref, Deleted: ev.Type == watch.Deleted})
		}
	}
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
