package kubeapply

import (
	"context"
	"strings"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// lazyMapper maps kinds to resources from the discovery documents of the
// group versions asked about, fetched the first time one is needed and
// kept until reset. A bundle of ten kinds costs a few small requests and
// keeps a few hundred bytes, where client-go's cached discovery would read
// and hold the resources of every group the server serves.
type lazyMapper struct {
	disco *discoverer

	mu sync.Mutex // guards the following
	// gen counts resets, so that a document fetched before a reset is not
	// kept after it (it may predate a CRD the reset was for).
	gen uint64
	// groups holds each group's versions, preferred first; nil when the
	// server does not serve the group.
	groups map[string][]string
	// kinds holds each group version's resources by kind; nil when the
	// server does not serve the group version.
	kinds map[schema.GroupVersion]map[string]kindResource
}

// kindResource is what a mapping needs of one discovered resource.
type kindResource struct {
	resource   string
	namespaced bool
}

func newLazyMapper(d *discoverer) *lazyMapper {
	return &lazyMapper{
		disco:  d,
		groups: map[string][]string{},
		kinds:  map[schema.GroupVersion]map[string]kindResource{},
	}
}

// RESTMappingWithContext returns the mapping of gk at the first of versions
// the server serves it at; with no versions, at the group's preferred
// version, else the first other version that serves it. A kind not served
// gives a *meta.NoKindMatchError.
func (m *lazyMapper) RESTMappingWithContext(ctx context.Context, gk schema.GroupKind, versions ...string) (*meta.RESTMapping, error) {
	if len(versions) == 0 {
		vs, err := m.groupVersions(ctx, gk.Group)
		if err != nil {
			return nil, err
		}
		versions = vs
	}
	for _, v := range versions {
		gv := schema.GroupVersion{Group: gk.Group, Version: v}
		kinds, err := m.groupVersionKinds(ctx, gv)
		if err != nil {
			return nil, err
		}
		if r, ok := kinds[gk.Kind]; ok {
			scope := meta.RESTScopeRoot
			if r.namespaced {
				scope = meta.RESTScopeNamespace
			}
			return &meta.RESTMapping{
				Resource:         gv.WithResource(r.resource),
				GroupVersionKind: gv.WithKind(gk.Kind),
				Scope:            scope,
			}, nil
		}
	}
	return nil, &meta.NoKindMatchError{GroupKind: gk, SearchedVersions: versions}
}

// ResetWithContext forgets everything discovered, so that the next mapping
// asks the server again.
func (m *lazyMapper) ResetWithContext(context.Context) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gen++
	clear(m.groups)
	clear(m.kinds)
}

// groupVersions returns the group's versions, preferred first; none when
// the group is not served.
func (m *lazyMapper) groupVersions(ctx context.Context, group string) ([]string, error) {
	m.mu.Lock()
	vs, ok := m.groups[group]
	gen := m.gen
	m.mu.Unlock()
	if ok {
		return vs, nil
	}
	vs, err := m.disco.group(ctx, group)
	if apierrors.IsNotFound(err) {
		vs, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.gen == gen {
		m.groups[group] = vs
	}
	return vs, nil
}

// groupVersionKinds returns the resources of gv by kind; none when gv is
// not served. Subresources (deployments/scale) are left out: they are not
// what an object of their kind is applied to.
func (m *lazyMapper) groupVersionKinds(ctx context.Context, gv schema.GroupVersion) (map[string]kindResource, error) {
	m.mu.Lock()
	kinds, ok := m.kinds[gv]
	gen := m.gen
	m.mu.Unlock()
	if ok {
		return kinds, nil
	}
	list, err := m.disco.resources(ctx, gv)
	if apierrors.IsNotFound(err) {
		list, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	if list != nil {
		kinds = make(map[string]kindResource, len(list))
		for _, r := range list {
			if _, dup := kinds[r.Kind]; dup || strings.Contains(r.Name, "/") {
				continue
			}
			kinds[r.Kind] = kindResource{resource: r.Name, namespaced: r.Namespaced}
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.gen == gen {
		m.kinds[gv] = kinds
	}
	return kinds, nil
}
