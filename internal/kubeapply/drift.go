package kubeapply

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// IgnoreRule excludes fields, by JSON pointer (RFC 6901), of the objects it
// matches from drift comparison; empty matchers match any object.
type IgnoreRule struct {
	APIVersion, Kind, Namespace, Name string
	Pointers                          []string
}

func (r IgnoreRule) matches(o *unstructured.Unstructured) bool {
	return (r.APIVersion == "" || r.APIVersion == o.GetAPIVersion()) &&
		(r.Kind == "" || r.Kind == o.GetKind()) &&
		(r.Namespace == "" || r.Namespace == o.GetNamespace()) &&
		(r.Name == "" || r.Name == o.GetName())
}

// Drift is one member of a set whose live state differs from the set.
type Drift struct {
	Ref ObjectRef
	// Reason is "deleted" or "modified".
	Reason string
}

// Drifted checks the members of set that refs cover (every member when
// refs is empty; see ObjectRef.Covers) against the cluster. It compares
// what matters: a server-side apply dry run of the set's object (as this
// applier's field manager, forced) against the live object. They differ
// exactly when applying would change something the set sets, so fields
// others own and server defaults never count as drift. Fields named by a
// matching ignore rule are removed from both sides first. A deleted member
// is drift. Release namespaces are not members: their drift is not checked
// (the next apply restores them). It only reads: a GET and a dry run per
// member checked.
func (a *Applier) Drifted(ctx context.Context, set Set, refs []ObjectRef, ignore []IgnoreRule) ([]Drift, error) {
	if err := validateSetName(set.Name); err != nil {
		return nil, err
	}
	picked := a.members(ctx, set, refs)
	out := make([]*Drift, len(picked))
	var g errgroup.Group
	g.SetLimit(a.opts.Concurrency)
	for i, it := range picked {
		g.Go(func() error {
			d, err := a.driftOf(ctx, it, ignore)
			if err != nil {
				return err
			}
			out[i] = d
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, fmt.Errorf("checking drift of set %s: %w", set.Name, err)
	}
	var drifts []Drift
	for _, d := range out {
		if d != nil {
			drifts = append(drifts, *d)
		}
	}
	return drifts, nil
}

// members prepares and resolves the members of set that refs cover (all
// when refs is empty), matched as the cluster names them: a cluster-scoped
// object's stray namespace is dropped first. Members that cannot be
// prepared or mapped are left out: applying reports them.
func (a *Applier) members(ctx context.Context, set Set, refs []ObjectRef) []*item {
	items := prepare(set.Objects, ApplySetID(set.Name, a.opts.ParentNamespace))
	res := &resolver{mapper: a.mapper}
	var picked []*item
	for _, it := range items {
		if it.err != nil || it.release || !mayCoverKind(refs, it.ref.GroupKind()) {
			continue // not even of a kind refs name
		}
		m, err := res.mapping(ctx, it.ref.GroupKind(), it.ref.Version)
		if err != nil {
			continue
		}
		if it.resolve(m); it.err == nil && Covered(refs, it.ref) {
			picked = append(picked, it)
		}
	}
	return picked
}

// Covered reports whether refs cover ref (see ObjectRef.Covers). Empty
// refs, nil or not, cover every object: that is how Drifted and Restore
// read them.
func Covered(refs []ObjectRef, ref ObjectRef) bool {
	return len(refs) == 0 || slices.ContainsFunc(refs, func(r ObjectRef) bool { return r.Covers(ref) })
}

// mayCoverKind reports whether refs may cover objects of kind gk: the
// check before an object's resource is looked up.
func mayCoverKind(refs []ObjectRef, gk schema.GroupKind) bool {
	return len(refs) == 0 || slices.ContainsFunc(refs, func(r ObjectRef) bool {
		return r.Kind == "" || (r.Group == gk.Group && r.Kind == gk.Kind)
	})
}

func (a *Applier) driftOf(ctx context.Context, it *item, ignore []IgnoreRule) (*Drift, error) {
	r := a.resource(it.mapping, it.ref.Namespace)
	live, err := r.Get(ctx, it.ref.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return &Drift{Ref: it.ref, Reason: "deleted"}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", it.ref, err)
	}
	dry, err := r.Apply(ctx, it.ref.Name, it.obj, metav1.ApplyOptions{
		FieldManager: a.opts.FieldManager, Force: true, DryRun: []string{metav1.DryRunAll},
	})
	if apierrors.IsNotFound(err) {
		return &Drift{Ref: it.ref, Reason: "deleted"}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("dry-run applying %s: %w", it.ref, err)
	}
	if !sameContent(live, dry, it.obj, ignore) {
		return &Drift{Ref: it.ref, Reason: "modified"}, nil
	}
	return nil, nil
}

// sameContent compares two versions of one object, leaving out what the
// server changes on every write and the ignored fields.
func sameContent(live, dry, desired *unstructured.Unstructured, ignore []IgnoreRule) bool {
	l, d := normalize(live), normalize(dry)
	for _, rule := range ignore {
		if !rule.matches(desired) {
			continue
		}
		for _, p := range rule.Pointers {
			removePointer(l, p)
			removePointer(d, p)
		}
	}
	return equality.Semantic.DeepEqual(l, d)
}

func normalize(u *unstructured.Unstructured) map[string]any {
	c := u.DeepCopy().Object
	for _, f := range []string{"managedFields", "resourceVersion", "generation"} {
		unstructured.RemoveNestedField(c, "metadata", f)
	}
	return c
}

// removePointer deletes the value a JSON pointer names, if it is there.
func removePointer(obj map[string]any, pointer string) {
	if pointer == "" || !strings.HasPrefix(pointer, "/") {
		return
	}
	parts := strings.Split(pointer[1:], "/")
	for i := range parts {
		parts[i] = strings.ReplaceAll(strings.ReplaceAll(parts[i], "~1", "/"), "~0", "~")
	}
	var cur any = obj
	for i, p := range parts {
		last := i == len(parts)-1
		switch v := cur.(type) {
		case map[string]any:
			if last {
				delete(v, p)
				return
			}
			cur = v[p]
		case []any:
			n, err := strconv.Atoi(p)
			if err != nil || n < 0 || n >= len(v) {
				return
			}
			if last {
				// Blank rather than remove: the parent slice cannot be
				// shortened in place, and both sides get the same.
				v[n] = nil
				return
			}
			cur = v[n]
		default:
			return
		}
	}
}
