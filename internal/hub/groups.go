package hub

import (
	"context"
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"

	"flotilla.io/flotilla/internal/store"
	"flotilla.io/flotilla/internal/wire"
)

// PutGroup creates or replaces a cluster group; manifests follow.
func (h *Hub) PutGroup(ctx context.Context, spec wire.GroupSpec) (wire.GroupInfo, error) {
	if errs := validation.IsDNS1123Label(spec.Name); len(errs) > 0 {
		return wire.GroupInfo{}, errorf(Invalid, "group name %q: %s", spec.Name, errs[0])
	}
	if _, err := labels.Parse(spec.Selector); err != nil {
		return wire.GroupInfo{}, &Error{Kind: Invalid, Msg: fmt.Sprintf("group %s: selector %q is not a label selector", spec.Name, spec.Selector), Err: err}
	}
	if err := validateLabels(spec.Labels); err != nil {
		return wire.GroupInfo{}, err
	}
	if err := h.store.PutGroup(ctx, store.Group{Name: spec.Name, Selector: spec.Selector, Labels: spec.Labels, CreatedAt: h.now().UTC()}); err != nil {
		return wire.GroupInfo{}, fmt.Errorf("storing group %s: %w", spec.Name, err)
	}
	h.log.Info("group saved", "group", spec.Name, "selector", spec.Selector)
	h.queue.markAll()
	gs, err := h.Groups(ctx)
	if err != nil {
		return wire.GroupInfo{}, err
	}
	for _, g := range gs {
		if g.Name == spec.Name {
			return g, nil
		}
	}
	return wire.GroupInfo{}, fmt.Errorf("group %s vanished after saving", spec.Name)
}

// Groups lists groups with their current members.
func (h *Hub) Groups(ctx context.Context) ([]wire.GroupInfo, error) {
	gs, err := h.store.ListGroups(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing groups: %w", err)
	}
	cs, err := h.store.ListClusters(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing clusters: %w", err)
	}
	out := make([]wire.GroupInfo, 0, len(gs))
	for _, g := range gs {
		info := wire.GroupInfo{GroupSpec: wire.GroupSpec{Name: g.Name, Selector: g.Selector, Labels: g.Labels}, Members: []string{}}
		sel, err := labels.Parse(g.Selector)
		if err == nil {
			for _, c := range cs {
				if sel.Matches(labels.Set(clusterLabels(c))) {
					info.Members = append(info.Members, c.Name)
				}
			}
		}
		out = append(out, info)
	}
	return out, nil
}

// DeleteGroup removes a group; sources that target it target nobody through it.
func (h *Hub) DeleteGroup(ctx context.Context, name string) error {
	if err := h.store.DeleteGroup(ctx, name); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errorf(NotFound, "group %q not found", name)
		}
		return fmt.Errorf("deleting group %s: %w", name, err)
	}
	h.log.Info("group deleted", "group", name)
	h.queue.markAll()
	return nil
}
