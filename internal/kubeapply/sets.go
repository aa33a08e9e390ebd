package kubeapply

import (
	"context"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
)

// Delete prunes every member of the named set and then removes its parent
// (the bundle left the manifest). A set without a parent has nothing to
// delete. When some member cannot be deleted, the parent stays, recording
// what is left, and the error says what failed.
func (a *Applier) Delete(ctx context.Context, name string) error {
	if err := validateSetName(name); err != nil {
		return err
	}
	inv, err := a.readParentIfExists(ctx, name)
	if err != nil || inv == nil {
		return err
	}
	id := ApplySetID(name, a.opts.ParentNamespace)
	pr := a.prune(ctx, &resolver{mapper: a.mapper}, id, *inv, sets.New[objKey]())
	if len(pr.errs) > 0 {
		if err := a.writeParent(ctx, name, pr.keep); err != nil {
			a.log.Warn("narrowing inventory failed", "set", name, "error", err)
		}
		first := pr.errs[0]
		return fmt.Errorf("deleting set %s: pruning %s: %w (%d failures)", name, first.Ref, first.Err, len(pr.errs))
	}
	err = a.metadata.Resource(configMapsGVR).Namespace(a.opts.ParentNamespace).Delete(ctx, ParentName(name), metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting parent of set %s: %w", name, err)
	}
	a.log.Info("deleted set", "set", name, "pruned", len(pr.pruned))
	return nil
}

// readParentIfExists is readParent that tells a missing parent (nil) from
// an empty one.
func (a *Applier) readParentIfExists(ctx context.Context, name string) (*inventory, error) {
	ns := a.opts.ParentNamespace
	p, err := a.metadata.Resource(configMapsGVR).Namespace(ns).Get(ctx, ParentName(name), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading parent of set %s: %w", name, err)
	}
	inv, err := readInventory(name, ns, p.Labels, p.Annotations)
	if err != nil {
		return nil, err
	}
	return &inv, nil
}

// Sets lists, sorted, the names of the sets this applier's tooling owns in
// the cluster: parents in ParentNamespace named flotilla-<name>, labelled
// with the id that name gives and annotated with our tooling.
func (a *Applier) Sets(ctx context.Context) ([]string, error) {
	opts := metav1.ListOptions{LabelSelector: LabelApplySetID, Limit: listPageSize}
	var names []string
	for {
		list, err := a.metadata.Resource(configMapsGVR).Namespace(a.opts.ParentNamespace).List(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("listing sets: %w", err)
		}
		for _, p := range list.Items {
			name, ok := strings.CutPrefix(p.Name, parentPrefix)
			if !ok || validateSetName(name) != nil {
				continue
			}
			if checkOwned(name, a.opts.ParentNamespace, p.Labels, p.Annotations) != nil {
				continue // another tool's ApplySet, or a stray ConfigMap
			}
			names = append(names, name)
		}
		if opts.Continue = list.Continue; opts.Continue == "" {
			break
		}
	}
	slices.Sort(names)
	return names, nil
}
