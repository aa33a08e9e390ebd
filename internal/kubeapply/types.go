package kubeapply

import (
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// ObjectRef names one object in a cluster.
type ObjectRef struct {
	Group, Version, Kind, Namespace, Name string
}

// String renders "Kind/namespace/name", or "Kind/name" for cluster-scoped
// objects ("Kind" alone when a failure concerns a whole kind).
func (r ObjectRef) String() string {
	if r.Name == "" {
		return r.Kind
	}
	if r.Namespace == "" {
		return r.Kind + "/" + r.Name
	}
	return r.Kind + "/" + r.Namespace + "/" + r.Name
}

// GroupKind is the object's group and kind, without version.
func (r ObjectRef) GroupKind() schema.GroupKind {
	return schema.GroupKind{Group: r.Group, Kind: r.Kind}
}

// Covers reports whether r names o, whatever API version each is written
// at. A ref without a name stands for every object of its group and kind
// (a whole kind, as a drift watch reports after it lists), and the zero
// ref for every object.
func (r ObjectRef) Covers(o ObjectRef) bool {
	switch {
	case r.Kind == "":
		return true
	case r.Group != o.Group || r.Kind != o.Kind:
		return false
	case r.Name == "":
		return true
	}
	return r.Namespace == o.Namespace && r.Name == o.Name
}

// RefOf returns the reference of an object as written (its namespace is not
// checked against the object's scope).
func RefOf(obj *unstructured.Unstructured) ObjectRef {
	gvk := obj.GroupVersionKind()
	return ObjectRef{
		Group:     gvk.Group,
		Version:   gvk.Version,
		Kind:      gvk.Kind,
		Namespace: obj.GetNamespace(),
		Name:      obj.GetName(),
	}
}

// ObjectResult is the outcome for one object; Err is nil on success.
type ObjectResult struct {
	Ref ObjectRef
	Err error
}

// Result reports what one Apply did.
type Result struct {
	// Applied has one entry per object of the set, in the set's order.
	Applied []ObjectResult
	// Pruned lists the former members that were deleted.
	Pruned []ObjectRef
	// PruneErrors lists the former members that could not be deleted.
	PruneErrors []ObjectResult
}

// Failed counts the objects that failed to apply or to be pruned.
func (r Result) Failed() int {
	n := len(r.PruneErrors)
	for _, a := range r.Applied {
		if a.Err != nil {
			n++
		}
	}
	return n
}

// Err summarizes the first failure with its object, or returns nil when
// everything applied and pruned. The returned error wraps the object's
// error.
func (r Result) Err() error {
	var first *ObjectResult
	var verb string
	for i := range r.Applied {
		if r.Applied[i].Err != nil {
			first, verb = &r.Applied[i], "applying"
			break
		}
	}
	if first == nil && len(r.PruneErrors) > 0 {
		first, verb = &r.PruneErrors[0], "pruning"
	}
	if first == nil {
		return nil
	}
	if more := r.Failed() - 1; more > 0 {
		return fmt.Errorf("%s %s: %w (and %d more failures)", verb, first.Ref, first.Err, more)
	}
	return fmt.Errorf("%s %s: %w", verb, first.Ref, first.Err)
}

// Health is the kstatus view of a set as it is in the cluster.
type Health struct {
	// Ready is true when every object is Current.
	Ready   bool
	Objects []ObjectHealth
	// Reason is "Kind/ns/name: message" of the worst object; empty when Ready.
	Reason string
}

// ObjectHealth is the kstatus of one object.
type ObjectHealth struct {
	Ref ObjectRef
	// Status is a kstatus status: Current, InProgress, Failed, NotFound,
	// Terminating or Unknown.
	Status  string
	Message string
}

// ErrUnknownKind is wrapped by the error of an object whose kind the
// server does not serve.
var ErrUnknownKind = errors.New("kind not served by the cluster")
