package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"flotilla.io/flotilla/internal/bundle"
	"flotilla.io/flotilla/internal/render"

	"flotilla.io/flotilla/internal/store"
	"flotilla.io/flotilla/internal/wire"
)

// targets is a snapshot of sources, groups and bundles to compute
// manifests from.
type targets struct {
	selectors map[string][]labels.Selector // by source name
	groups    map[string][]labels.Selector // target groups' selectors by source name
	allGroups map[string]labels.Selector   // every group by name
	groupSets map[string]map[string]string // every group's own labels by name
	bundles   []store.Bundle               // sorted by name
	releases  []targetRelease              // agent releases, newest first
}

func (h *Hub) loadTargets(ctx context.Context) (targets, error) {
	ss, err := h.store.ListSources(ctx)
	if err != nil {
		return targets{}, fmt.Errorf("listing sources: %w", err)
	}
	bs, err := h.store.ListBundles(ctx)
	if err != nil {
		return targets{}, fmt.Errorf("listing bundles: %w", err)
	}
	gs, err := h.store.ListGroups(ctx)
	if err != nil {
		return targets{}, fmt.Errorf("listing groups: %w", err)
	}
	t := targets{selectors: map[string][]labels.Selector{}, groups: map[string][]labels.Selector{}, allGroups: map[string]labels.Selector{}, groupSets: map[string]map[string]string{}, bundles: bs}
	for _, g := range gs {
		if sel, err := labels.Parse(g.Selector); err == nil {
			t.allGroups[g.Name] = sel
			t.groupSets[g.Name] = g.Labels
		}
	}
	if t.releases, err = h.loadReleases(ctx, t.allGroups); err != nil {
		return targets{}, err
	}
	for _, s := range ss {
		t.selectors[s.Name], t.groups[s.Name] = h.parseTargets("source "+s.Name, s.Targets, s.TargetGroups, t.allGroups)
	}
	return t, nil
}

// parseTargets parses the stored target selectors of a source or release
// (what names it in logs) and finds the selectors of its target groups.
// Both were validated on input (checkTargets): a bad selector in the
// store targets nothing, as does a group that does not exist.
func (h *Hub) parseTargets(what string, targets, groups []string, allGroups map[string]labels.Selector) (sels, groupSels []labels.Selector) {
	for _, raw := range targets {
		sel, err := labels.Parse(raw)
		if err != nil {
			h.log.Error("stored target is not a label selector", "of", what, "target", raw, "err", err)
			continue
		}
		sels = append(sels, sel)
	}
	for _, g := range groups {
		if sel, ok := allGroups[g]; ok {
			groupSels = append(groupSels, sel)
		}
	}
	return sels, groupSels
}

// targeted reports whether a source's bundles go to a cluster with these
// labels: a target selector or a target group's selector matches.
func (t targets) targeted(source string, set labels.Set) bool {
	return matchesAny(t.selectors[source], set) || matchesAny(t.groups[source], set)
}

func matchesAny(sels []labels.Selector, set labels.Set) bool {
	for _, s := range sels {
		if s.Matches(set) {
			return true
		}
	}
	return false
}

// renderTarget is what rendering may know of a cluster.
func (t targets) renderTarget(c store.Cluster) render.Target {
	set := clusterLabels(c)
	rt := render.Target{Name: c.Name, Labels: set, Groups: map[string]map[string]string{}}
	for name, sel := range t.allGroups {
		if sel.Matches(labels.Set(set)) {
			rt.Groups[name] = t.groupSets[name]
			if rt.Groups[name] == nil {
				rt.Groups[name] = map[string]string{}
			}
		}
	}
	if len(c.Facts) > 0 {
		var f wire.Facts
		if json.Unmarshal(c.Facts, &f) == nil {
			rt.KubeVersion, rt.APIVersions = f.KubernetesVersion, f.APIVersions
		}
	}
	return rt
}

// bundlesFor resolves every bundle targeted at c, taking renders from
// the cache and leaving holes for those it lacks (added to p.jobs).
// complete is false when a targeted source is not loaded yet (after a
// restart, before its first fetch): the cluster then keeps its current
// manifest rather than losing that source's bundles.
//
// byName is true when a targeted bundle resolves differently for another
// cluster name (see render.NameSensitive): the refs are then this
// cluster's own.
func (h *Hub) bundlesFor(ctx context.Context, p *pass, c store.Cluster) (r *resolvedRefs, byName bool) {
	set := labels.Set(clusterLabels(c))
	rt := p.t.renderTarget(c)
	r = &resolvedRefs{refs: []wire.BundleRef{}, keys: map[int]string{}, complete: true}
	opts := map[string]bundle.Options{}
	for _, b := range p.t.bundles {
		if !p.t.targeted(b.Source, set) {
			continue
		}
		h.mu.Lock()
		l := h.loaded[b.Source]
		h.mu.Unlock()
		if l == nil || l.commit != b.Commit {
			return &resolvedRefs{}, false
		}
		pb, ok := l.bundles[b.Name]
		if !ok {
			return &resolvedRefs{}, false
		}
		byName = byName || l.byName[b.Name]
		ref := wire.BundleRef{Name: b.Name, Source: b.Source, Commit: b.Commit, Objects: []string{}, Error: b.Error}
		if b.Error == "" {
			eff, skip, err := render.Resolve(pb, rt)
			switch {
			case err != nil:
				ref.Error = err.Error()
			case skip:
				continue
			default:
				eff.UseBundleName(b.Name) // Fleet's default Helm release name
				if !l.capabilities[b.Name] {
					eff.WithoutCapabilities() // a facts change does not re-render it
				}
				id := newRenderID(l, eff)
				r.keys[len(r.refs)] = id.key
				if got, ok := h.renders.get(id, b.Name); ok {
					setRender(&ref, got)
				} else {
					r.holes = append(r.holes, hole{i: len(r.refs), id: id, name: b.Name})
					p.jobs[id] = renderJob{id: id, l: l, name: b.Name, b: pb, eff: eff}
				}
				ref.Drift = driftPolicy(eff.Options)
			}
			ref.Paused = pb.Options.Paused
			opts[b.Name] = pb.Options
		}
		r.refs = append(r.refs, ref)
	}
	resolveDependsOn(r.refs, opts)
	return r, byName
}

// driftPolicy carries correctDrift and diff.comparePatches to the agent;
// nil (correct everything) when the bundle says nothing.
func driftPolicy(o bundle.DeploymentOptions) *wire.DriftPolicy {
	if o.CorrectDrift == nil && (o.Diff == nil || len(o.Diff.ComparePatches) == 0) {
		return nil
	}
	p := &wire.DriftPolicy{Correct: o.CorrectDrift == nil || o.CorrectDrift.Enabled}
	if o.Diff != nil {
		for _, cp := range o.Diff.ComparePatches {
			ign := wire.IgnoreFields{APIVersion: cp.APIVersion, Kind: cp.Kind, Namespace: cp.Namespace, Name: cp.Name, JSONPointers: cp.JSONPointers}
			for _, op := range cp.Operations {
				if op.Op == "remove" && op.Path != "" {
					ign.JSONPointers = append(ign.JSONPointers, op.Path)
				}
			}
			p.Ignore = append(p.Ignore, ign)
		}
	}
	return p
}

// resolveDependsOn turns fleet.yaml dependsOn entries (a bundle name, or a
// selector over bundle labels) into names of bundles in the same manifest.
func resolveDependsOn(refs []wire.BundleRef, opts map[string]bundle.Options) {
	present := map[string]bool{}
	for _, r := range refs {
		present[r.Name] = true
	}
	for i := range refs {
		for _, d := range opts[refs[i].Name].DependsOn {
			switch {
			case d.Name != "":
				if present[d.Name] && d.Name != refs[i].Name {
					refs[i].DependsOn = append(refs[i].DependsOn, d.Name)
				}
			case d.Selector != nil:
				sel, err := metav1.LabelSelectorAsSelector(d.Selector)
				if err != nil {
					continue
				}
				for _, other := range refs {
					if other.Name != refs[i].Name && sel.Matches(labels.Set(opts[other.Name].Labels)) {
						refs[i].DependsOn = append(refs[i].DependsOn, other.Name)
					}
				}
			}
		}
		slices.Sort(refs[i].DependsOn)
		refs[i].DependsOn = slices.Compact(refs[i].DependsOn)
	}
}

// WaitManifest answers an agent's long-poll: the cluster's signed manifest
// as soon as its generation differs from have, or
// ok=false when the wait ends with nothing new. base is the digest of the
// manifest content the agent holds ("" for none): the answer then carries
// the content as a delta against it and ships the objects it lacks.
func (h *Hub) WaitManifest(ctx context.Context, clusterID string, have int64, base string) (answer ManifestAnswer, ok bool, err error) {
	h.waiters.enter(clusterID)
	defer h.waiters.leave(clusterID)
	timer := time.NewTimer(h.longPoll)
	defer timer.Stop()
	for {
		changed := h.waiters.channel(clusterID)
		m, err := h.store.GetManifest(ctx, clusterID)
		switch {
		case err == nil && m.Generation != have:
			a, err := h.manifestAnswer(ctx, m.Signed, m.Digest, base)
			if err != nil {
				return ManifestAnswer{}, false, err
			}
			return a, true, nil
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return ManifestAnswer{}, false, fmt.Errorf("loading manifest: %w", err)
		}
		select {
		case <-changed:
		case <-timer.C:
			return ManifestAnswer{}, false, nil
		case <-ctx.Done():
			return ManifestAnswer{}, false, ctx.Err()
		}
	}
}

// Objects returns the objects the cluster asks for, only among those its
// current manifest names: a cluster sees its own desired state, no other.
func (h *Hub) Objects(ctx context.Context, clusterID string, hashes []string) (map[string][]byte, error) {
	m, err := h.store.GetManifest(ctx, clusterID)
	if err != nil {
		return nil, fmt.Errorf("loading manifest: %w", err)
	}
	bundles, err := h.contentRefs(ctx, m.Digest)
	if err != nil {
		return nil, err
	}
	allowed := map[string]bool{}
	for _, b := range bundles {
		for _, o := range b.Objects {
			allowed[o] = true
		}
	}
	for _, hash := range hashes {
		if !allowed[hash] {
			return nil, errorf(NotFound, "object %.12s is not in this cluster's manifest", hash)
		}
	}
	objs, err := h.store.GetObjects(ctx, hashes)
	if err != nil {
		return nil, fmt.Errorf("loading objects: %w", err)
	}
	return objs, nil
}
