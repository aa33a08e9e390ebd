package kubeapply

import (
	"context"
	"errors"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
)

// How long a CRD may take to be Established and its kind to be served, and
// how often to look. The API server establishes a CRD within a second or
// two; a minute means something is wrong.
const (
	crdTimeout  = time.Minute
	crdInterval = 100 * time.Millisecond
)

// waitEstablished polls an applied CRD until its Established condition is
// True, failing early when its names are refused.
func (a *Applier) waitEstablished(ctx context.Context, it *item) error {
	r := a.resource(it.mapping, "")
	err := wait.PollUntilContextTimeout(ctx, crdInterval, crdTimeout, true, func(ctx context.Context) (bool, error) {
		crd, err := r.Get(ctx, it.ref.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return crdEstablished(crd)
	})
	if err != nil {
		return fmt.Errorf("waiting for CRD to be established: %w", err)
	}
	return nil
}

// crdEstablished reads a CRD's conditions: done when Established is True,
// an error when NamesAccepted is False (it will never be established).
func crdEstablished(crd *unstructured.Unstructured) (bool, error) {
	// NoCopy: a deep copy panics on values JSON cannot hold.
	raw, _, _ := unstructured.NestedFieldNoCopy(crd.Object, "status", "conditions")
	conds, _ := raw.([]any)
	established := false
	for _, c := range conds {
		m, ok := c.(map[string]any)
		if !ok {
			continue
		}
		typ, _ := m["type"].(string)
		status, _ := m["status"].(string)
		switch {
		case typ == "Established" && status == "True":
			established = true
		case typ == "NamesAccepted" && status == "False":
			msg, _ := m["message"].(string)
			return false, fmt.Errorf("names not accepted: %s", msg)
		}
	}
	return established, nil
}

// servedKind is a kind a CRD of the set defines, at its versions.
type servedKind struct {
	gk       schema.GroupKind
	versions []string
}

// establishedKinds lists the kinds defined by the CRDs that were applied
// and established.
func establishedKinds(crds []*item) []servedKind {
	var out []servedKind
	for _, it := range crds {
		if it.err != nil {
			continue
		}
		group, _, _ := unstructured.NestedString(it.obj.Object, "spec", "group")
		kind, _, _ := unstructured.NestedString(it.obj.Object, "spec", "names", "kind")
		if group == "" || kind == "" {
			continue
		}
		sk := servedKind{gk: schema.GroupKind{Group: group, Kind: kind}}
		raw, _, _ := unstructured.NestedFieldNoCopy(it.obj.Object, "spec", "versions")
		versions, _ := raw.([]any)
		for _, v := range versions {
			m, _ := v.(map[string]any)
			name, _ := m["name"].(string)
			if served, _ := m["served"].(bool); served && name != "" {
				sk.versions = append(sk.versions, name)
			}
		}
		out = append(out, sk)
	}
	return out
}

// waitServed polls discovery until every kind of the set's new CRDs maps:
// discovery can lag the Established condition by a moment. A kind that
// never shows up is left to fail as unknown when its objects are mapped.
func (a *Applier) waitServed(ctx context.Context, res *resolver, kinds []servedKind) {
	err := wait.PollUntilContextTimeout(ctx, crdInterval, crdTimeout, true, func(ctx context.Context) (bool, error) {
		for _, k := range kinds {
			for _, v := range k.versions {
				if _, err := res.mapper.RESTMappingWithContext(ctx, k.gk, v); err != nil {
					res.mapper.ResetWithContext(ctx)
					return false, nil
				}
			}
		}
		return true, nil
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		a.log.Warn("custom resource kinds not served in time", "error", err)
	}
}
