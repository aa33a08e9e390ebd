package kubeapply

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
)

// AnnotationResourcePolicy with the value "keep" marks an object that is
// never pruned nor deleted with its set, as Helm does. The hub sets it on
// a bundle's release namespace, beside AnnotationReleaseNamespace: an agent
// that predates release namespaces keeps it inside the set but never
// prunes it.
const AnnotationResourcePolicy = "helm.sh/resource-policy"

// keptByPolicy reports whether annotations ask to keep the object.
func keptByPolicy(annotations map[string]string) bool {
	return strings.TrimSpace(annotations[AnnotationResourcePolicy]) == "keep"
}

// listPageSize bounds the memory one list page takes on a small agent.
const listPageSize = 500

// pruneResult is what a prune did, and the part of the inventory it could
// not clear (kinds it could not list, objects it could not delete).
type pruneResult struct {
	pruned []ObjectRef
	errs   []ObjectResult
	keep   inventory
}

// candidate is a member found in the cluster that is no longer desired.
type candidate struct {
	ref     ObjectRef
	uid     types.UID
	mapping *meta.RESTMapping
}

// prune deletes every member of the ApplySet id, of a kind in inv, that is
// not in keep. Members are found by their part-of label, across all
// namespaces; an object without that label is never touched. Kinds the
// server no longer serves are skipped: none of their objects can remain.
func (a *Applier) prune(ctx context.Context, res *resolver, id string, inv inventory, keep sets.Set[objKey]) pruneResult {
	out := pruneResult{keep: newInventory()}
	var mu sync.Mutex // guards out and cands while listing
	var cands []candidate
	var vanished []schema.GroupKind // kinds whose list found no resource
	var g errgroup.Group
	g.SetLimit(a.opts.Concurrency)
	for _, gk := range sortedGroupKinds(inv.groupKinds) {
		m, err := res.mapping(ctx, gk, "")
		if errors.Is(err, ErrUnknownKind) {
			a.log.Info("skipping prune of kind no longer served", "kind", gk.String())
			continue
		}
		if err != nil {
			out.fail(ObjectRef{Group: gk.Group, Kind: gk.Kind}, err, inv.namespaces)
			continue
		}
		g.Go(func() error {
			found, err := a.listMembers(ctx, m, id)
			mu.Lock()
			defer mu.Unlock()
			if apierrors.IsNotFound(err) {
				vanished = append(vanished, gk)
				return nil
			}
			if err != nil {
				out.fail(ObjectRef{Group: gk.Group, Version: m.GroupVersionKind.Version, Kind: gk.Kind}, err, inv.namespaces)
				return nil
			}
			for _, c := range found {
				if !keep.Has(c.ref.key()) {
					cands = append(cands, c)
				}
			}
			return nil
		})
	}
	_ = g.Wait() // failures are recorded in out
	a.checkVanished(ctx, res, vanished, inv, &out)

	// Dependents before what they live in: objects, then CRDs (which take
	// their custom resources along), then Namespaces.
	for _, p := range []phase{phaseRest, phaseCRDs, phaseNamespaces} {
		var g errgroup.Group
		g.SetLimit(a.opts.Concurrency)
		for _, c := range cands {
			if phaseOf(c.ref.GroupKind()) != p {
				continue
			}
			g.Go(func() error {
				err := a.deleteMember(ctx, c)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					out.fail(c.ref, err, sets.New(c.ref.Namespace))
					return nil
				}
				out.pruned = append(out.pruned, c.ref)
				return nil
			})
		}
		_ = g.Wait()
	}
	sortRefs(out.pruned)
	slices.SortFunc(out.errs, func(x, y ObjectResult) int { return cmp.Compare(x.Ref.String(), y.Ref.String()) })
	return out
}

// checkVanished looks again at kinds whose list said the resource does not
// exist: the discovery cache predates a CRD's removal. Refreshed, a kind
// that is gone is skipped; one that is still there is a failure.
func (a *Applier) checkVanished(ctx context.Context, res *resolver, gks []schema.GroupKind, inv inventory, out *pruneResult) {
	if len(gks) == 0 {
		return
	}
	res.refresh(ctx)
	for _, gk := range gks {
		_, err := res.mapping(ctx, gk, "")
		switch {
		case errors.Is(err, ErrUnknownKind):
			a.log.Info("skipping prune of kind no longer served", "kind", gk.String())
		case err != nil:
			out.fail(ObjectRef{Group: gk.Group, Kind: gk.Kind}, err, inv.namespaces)
		default:
			out.fail(ObjectRef{Group: gk.Group, Kind: gk.Kind}, errors.New("listing members: resource not found"), inv.namespaces)
		}
	}
}

// fail records a prune failure and keeps its kind and namespaces in the
// inventory so the next prune tries again.
func (p *pruneResult) fail(ref ObjectRef, err error, namespaces sets.Set[string]) {
	p.errs = append(p.errs, ObjectResult{Ref: ref, Err: err})
	p.keep.groupKinds.Insert(ref.GroupKind())
	p.keep.namespaces = p.keep.namespaces.Union(namespaces)
}

// listMembers lists the objects of one resource labelled as members of id,
// in all namespaces, reading metadata only where the server allows it.
func (a *Applier) listMembers(ctx context.Context, m *meta.RESTMapping, id string) ([]candidate, error) {
	opts := metav1.ListOptions{LabelSelector: LabelPartOf + "=" + id, Limit: listPageSize}
	var out []candidate
	add := func(om metav1.Object) {
		// The selector already demands the label; checking again costs
		// nothing and guards the one promise prune must keep.
		if om.GetLabels()[LabelPartOf] != id || om.GetDeletionTimestamp() != nil {
			return
		}
		if keptByPolicy(om.GetAnnotations()) {
			a.log.Info("not pruning object kept by its resource policy", "kind", m.GroupVersionKind.Kind, "namespace", om.GetNamespace(), "name", om.GetName())
			return
		}
		out = append(out, candidate{
			ref: ObjectRef{
				Group: m.GroupVersionKind.Group, Version: m.GroupVersionKind.Version, Kind: m.GroupVersionKind.Kind,
				Namespace: om.GetNamespace(), Name: om.GetName(),
			},
			uid:     om.GetUID(),
			mapping: m,
		})
	}
	for {
		list, err := a.metadata.Resource(m.Resource).List(ctx, opts)
		if apierrors.IsNotAcceptable(err) || apierrors.IsUnsupportedMediaType(err) {
			// Some aggregated APIs cannot serve metadata-only lists.
			out = nil
			if err := a.listMembersFull(ctx, m, id, add); err != nil {
				return nil, err
			}
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", m.Resource.String(), err)
		}
		for i := range list.Items {
			add(&list.Items[i])
		}
		if opts.Continue = list.Continue; opts.Continue == "" {
			return out, nil
		}
	}
}

// listMembersFull is listMembers reading whole objects.
func (a *Applier) listMembersFull(ctx context.Context, m *meta.RESTMapping, id string, add func(metav1.Object)) error {
	opts := metav1.ListOptions{LabelSelector: LabelPartOf + "=" + id, Limit: listPageSize}
	for {
		list, err := a.dynamic.Resource(m.Resource).List(ctx, opts)
		if err != nil {
			return fmt.Errorf("listing %s: %w", m.Resource.String(), err)
		}
		for i := range list.Items {
			add(&list.Items[i])
		}
		if opts.Continue = list.GetContinue(); opts.Continue == "" {
			return nil
		}
	}
}

// deleteMember deletes one former member, only if it is still the object
// that was listed (same UID). Gone already counts as deleted.
func (a *Applier) deleteMember(ctx context.Context, c candidate) error {
	policy := metav1.DeletePropagationBackground
	r := a.metadata.Resource(c.mapping.Resource)
	var err error
	opts := metav1.DeleteOptions{PropagationPolicy: &policy, Preconditions: &metav1.Preconditions{UID: &c.uid}}
	if c.mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		err = r.Namespace(c.ref.Namespace).Delete(ctx, c.ref.Name, opts)
	} else {
		err = r.Delete(ctx, c.ref.Name, opts)
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting: %w", err)
	}
	a.log.Debug("pruned object", "object", c.ref.String())
	return nil
}

func sortedGroupKinds(gks sets.Set[schema.GroupKind]) []schema.GroupKind {
	out := gks.UnsortedList()
	slices.SortFunc(out, func(x, y schema.GroupKind) int {
		return cmp.Or(cmp.Compare(x.Group, y.Group), cmp.Compare(x.Kind, y.Kind))
	})
	return out
}

func sortRefs(refs []ObjectRef) {
	slices.SortFunc(refs, func(x, y ObjectRef) int {
		return cmp.Or(cmp.Compare(x.Group, y.Group), cmp.Compare(x.Kind, y.Kind),
			cmp.Compare(x.Namespace, y.Namespace), cmp.Compare(x.Name, y.Name))
	})
}
