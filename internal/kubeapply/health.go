package kubeapply

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

// listThreshold is the number of objects of one resource in one namespace
// from which Health lists them (by the set's label, in pages) instead of
// reading each: 500 ConfigMaps in 10 namespaces cost 10 requests, not 500.
const (
	listThreshold  = 8
	healthPageSize = 100 // bounds the objects held at once
)

// Health computes kstatus for each object of the set as it is in the
// cluster now; a release namespace is Current when it exists. The error is
// for the context ending; per-object problems show as NotFound or Unknown.
func (a *Applier) Health(ctx context.Context, set Set) (Health, error) {
	items := prepare(set.Objects, "")
	out := make([]ObjectHealth, len(items))
	res := &resolver{mapper: a.mapper}
	type groupKey struct {
		gvr       schema.GroupVersionResource
		namespace string
	}
	groups := map[groupKey][]int{}
	var order []groupKey
	var releases []int // release namespaces: they only need to exist
	for i, it := range items {
		out[i].Ref = it.ref
		if it.err == nil {
			m, err := res.mapping(ctx, it.ref.GroupKind(), it.ref.Version)
			if errors.Is(err, ErrUnknownKind) {
				out[i].Status, out[i].Message = string(status.NotFoundStatus), err.Error()
				continue
			}
			if err != nil {
				it.err = err
			} else {
				it.resolve(m)
				out[i].Ref = it.ref
			}
		}
		if it.err != nil {
			out[i].Status, out[i].Message = string(status.UnknownStatus), it.err.Error()
			continue
		}
		if it.release {
			releases = append(releases, i)
			continue
		}
		k := groupKey{it.mapping.Resource, it.ref.Namespace}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], i)
	}
	id := ""
	if validateSetName(set.Name) == nil {
		id = ApplySetID(set.Name, a.opts.ParentNamespace)
	}
	var g errgroup.Group
	g.SetLimit(a.opts.Concurrency)
	for _, k := range order {
		idxs := groups[k]
		if id != "" && len(idxs) >= listThreshold {
			g.Go(func() error {
				a.listStatuses(ctx, id, items, idxs, out)
				return nil
			})
			continue
		}
		for _, i := range idxs {
			g.Go(func() error {
				out[i].Status, out[i].Message = a.objectStatus(ctx, items[i])
				return nil
			})
		}
	}
	for _, i := range releases {
		g.Go(func() error {
			out[i].Status, out[i].Message = a.releaseStatus(ctx, items[i])
			return nil
		})
	}
	_ = g.Wait() // statuses are recorded per object
	if err := ctx.Err(); err != nil {
		return Health{}, fmt.Errorf("assessing health of set %s: %w", set.Name, err)
	}
	return summarize(out), nil
}

// listStatuses computes the statuses of items idxs, all of one resource in
// one namespace, from a paged list of the set's members there. An object
// the list does not hold (not labelled as ours, say) is read on its own.
func (a *Applier) listStatuses(ctx context.Context, id string, items []*item, idxs []int, out []ObjectHealth) {
	byName := make(map[string]int, len(idxs))
	for _, i := range idxs {
		byName[items[i].ref.Name] = i
	}
	first := items[idxs[0]]
	r := a.resource(first.mapping, first.ref.Namespace)
	opts := metav1.ListOptions{LabelSelector: LabelPartOf + "=" + id, Limit: healthPageSize}
	for {
		list, err := r.List(ctx, opts)
		if err != nil {
			a.log.Debug("listing for health failed, reading objects one by one", "resource", first.mapping.Resource.String(), "error", err)
			break
		}
		for j := range list.Items {
			i, ok := byName[list.Items[j].GetName()]
			if !ok {
				continue
			}
			out[i].Status, out[i].Message = computeStatus(&list.Items[j])
			delete(byName, list.Items[j].GetName())
		}
		if opts.Continue = list.GetContinue(); opts.Continue == "" {
			break
		}
	}
	for _, i := range byName {
		out[i].Status, out[i].Message = a.objectStatus(ctx, items[i])
	}
}

// objectStatus reads one object and computes its kstatus.
func (a *Applier) objectStatus(ctx context.Context, it *item) (string, string) {
	u, err := a.resource(it.mapping, it.ref.Namespace).Get(ctx, it.ref.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return string(status.NotFoundStatus), "object not found"
	}
	if err != nil {
		return string(status.UnknownStatus), fmt.Sprintf("reading object: %v", err)
	}
	return computeStatus(u)
}

func computeStatus(u *unstructured.Unstructured) (string, string) {
	r, err := status.Compute(u)
	if err != nil {
		return string(status.UnknownStatus), fmt.Sprintf("computing status: %v", err)
	}
	return string(r.Status), r.Message
}

// Missing returns the objects of the set the cluster does not hold (and
// those of kinds it does not serve).
func (h Health) Missing() []ObjectRef {
	var out []ObjectRef
	for _, o := range h.Objects {
		if o.Status == string(status.NotFoundStatus) {
			out = append(out, o.Ref)
		}
	}
	return out
}

// severity ranks statuses for picking the worst object: a definite failure
// first, then what is missing, what cannot be told, what is going away and
// what is on its way.
func severity(s string) int {
	switch status.Status(s) {
	case status.CurrentStatus:
		return 0
	case status.InProgressStatus:
		return 1
	case status.TerminatingStatus:
		return 2
	case status.UnknownStatus:
		return 3
	case status.NotFoundStatus:
		return 4
	case status.FailedStatus:
		return 5
	}
	return 3 // a status kstatus does not define: as bad as Unknown
}

// summarize makes the set's Health: ready when every object is Current,
// else the reason of the worst object (the first of equals, in set order).
func summarize(objs []ObjectHealth) Health {
	h := Health{Ready: true, Objects: objs}
	worst := -1
	for i, o := range objs {
		if o.Status == string(status.CurrentStatus) {
			continue
		}
		h.Ready = false
		if worst < 0 || severity(o.Status) > severity(objs[worst].Status) {
			worst = i
		}
	}
	if worst >= 0 {
		h.Reason = objs[worst].Ref.String() + ": " + objs[worst].Message
	}
	return h
}
