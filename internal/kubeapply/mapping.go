package kubeapply

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// resolver maps kinds to resources for one operation. The shared discovery
// cache never refreshes by itself once filled, so a miss refreshes it, at
// most once per operation: an unknown kind in every apply must not cost a
// rediscovery every time.
type resolver struct {
	mapper    *lazyMapper
	refreshed bool
}

// mapping returns the mapping of gk at version (any served version when
// empty). An unserved kind gives an error wrapping ErrUnknownKind.
func (r *resolver) mapping(ctx context.Context, gk schema.GroupKind, version string) (*meta.RESTMapping, error) {
	versions := []string{}
	if version != "" {
		versions = append(versions, version)
	}
	m, err := r.mapper.RESTMappingWithContext(ctx, gk, versions...)
	if meta.IsNoMatchError(err) && !r.refreshed {
		r.refresh(ctx)
		m, err = r.mapper.RESTMappingWithContext(ctx, gk, versions...)
	}
	if meta.IsNoMatchError(err) {
		return nil, fmt.Errorf("mapping %s: %w", describeGK(gk, version), ErrUnknownKind)
	}
	if err != nil {
		return nil, fmt.Errorf("mapping %s: %w", describeGK(gk, version), err)
	}
	return m, nil
}

// refresh drops the cached discovery so the next mapping asks the server.
func (r *resolver) refresh(ctx context.Context) {
	r.refreshed = true
	r.mapper.ResetWithContext(ctx)
}

// describeGK renders "Kind.group version v" for messages.
func describeGK(gk schema.GroupKind, version string) string {
	if version == "" {
		return gk.String()
	}
	return gk.String() + " version " + version
}
