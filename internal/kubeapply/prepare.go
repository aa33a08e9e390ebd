package kubeapply

import (
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
)

// phase orders applies: every object of a phase is applied before the next
// phase starts.
type phase int

const (
	phaseNamespaces phase = iota
	phaseCRDs
	phaseRest
)

const crdGroup = "apiextensions.k8s.io"

func phaseOf(gk schema.GroupKind) phase {
	switch gk {
	case schema.GroupKind{Kind: "Namespace"}:
		return phaseNamespaces
	case schema.GroupKind{Group: crdGroup, Kind: "CustomResourceDefinition"}:
		return phaseCRDs
	}
	return phaseRest
}

// objKey identifies an object regardless of the API version it is read at.
type objKey struct {
	gk              schema.GroupKind
	namespace, name string
}

func (r ObjectRef) key() objKey {
	return objKey{gk: r.GroupKind(), namespace: r.Namespace, name: r.Name}
}

// item is one object of a set on its way to the cluster.
type item struct {
	ref     ObjectRef
	obj     *unstructured.Unstructured // a copy, labelled for the set
	mapping *meta.RESTMapping
	err     error // set once the object has failed; it is then skipped
	// release marks a release namespace (see AnnotationReleaseNamespace):
	// applied outside the set, so obj carries no part-of label.
	release bool
	// setID is the ApplySet id the item was prepared for ("" for none).
	setID string
	// manager is the field manager that applies the item; the applier's
	// own when empty.
	manager string
}

func (it *item) phase() phase { return phaseOf(it.ref.GroupKind()) }

// prepare copies and checks the objects of a set and labels the copies as
// members of the ApplySet id (no label when id is empty), except release
// namespaces, which stay outside the set. The caller's objects are never
// modified. Problems become per-object errors.
func prepare(objs []*unstructured.Unstructured, id string) []*item {
	items := make([]*item, 0, len(objs))
	seen := sets.New[objKey]()
	for i, o := range objs {
		it := &item{setID: id}
		items = append(items, it)
		if o == nil {
			it.ref = ObjectRef{Name: fmt.Sprintf("#%d", i)}
			it.err = errors.New("nil object")
			continue
		}
		it.ref = RefOf(o)
		if it.err = checkObject(o); it.err != nil {
			continue
		}
		if seen.Has(it.ref.key()) {
			it.err = errors.New("duplicate object in set")
			continue
		}
		seen.Insert(it.ref.key())
		it.release = isReleaseNamespace(o)
		label := id
		if it.release {
			label = ""
		}
		it.obj, it.err = applyCopy(o, label)
	}
	return items
}

func checkObject(o *unstructured.Unstructured) error {
	if _, err := schema.ParseGroupVersion(o.GetAPIVersion()); err != nil || o.GetAPIVersion() == "" {
		return fmt.Errorf("invalid apiVersion %q", o.GetAPIVersion())
	}
	if o.GetKind() == "" {
		return errors.New("missing kind")
	}
	if o.GetName() == "" {
		if o.GetGenerateName() != "" {
			return errors.New("generateName is not supported: apply needs a name")
		}
		return errors.New("missing metadata.name")
	}
	return nil
}

// applyCopy returns the object as it is sent with server-side apply:
// without the server-owned metadata that apply refuses or treats as a
// precondition, and labelled as a member of the set.
func applyCopy(o *unstructured.Unstructured, id string) (*unstructured.Unstructured, error) {
	c, err := deepCopy(o)
	if err != nil {
		return nil, err
	}
	c.SetManagedFields(nil)
	c.SetResourceVersion("")
	c.SetUID("")
	c.SetGeneration(0)
	c.SetSelfLink("")
	unstructured.RemoveNestedField(c.Object, "metadata", "creationTimestamp")
	if id != "" {
		labels := c.GetLabels()
		if labels == nil {
			labels = map[string]string{}
		}
		labels[LabelPartOf] = id
		c.SetLabels(labels)
	}
	return c, nil
}

// deepCopy copies an object built by hand as well as a decoded one:
// DeepCopy panics on values JSON cannot hold (int, structs), which only a
// caller's bug puts there, and that must not end the agent.
func deepCopy(o *unstructured.Unstructured) (c *unstructured.Unstructured, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("copying object: %v", r)
		}
	}()
	return o.DeepCopy(), nil
}

// resolve finds the REST mapping of a prepared item and checks its
// namespace against its scope. A cluster-scoped object's stray namespace is
// dropped, as kubectl does.
func (it *item) resolve(mapping *meta.RESTMapping) {
	it.mapping = mapping
	namespaced := mapping.Scope.Name() == meta.RESTScopeNameNamespace
	switch {
	case namespaced && it.ref.Namespace == "":
		it.err = errors.New("namespaced object has no namespace")
	case !namespaced && it.ref.Namespace != "":
		it.ref.Namespace = ""
		it.obj.SetNamespace("")
	}
}

// desiredInventory is what a parent must record for the prepared items:
// release namespaces are not members.
func desiredInventory(items []*item) inventory {
	inv := newInventory()
	for _, it := range items {
		if it.obj == nil || it.release {
			continue
		}
		inv.groupKinds.Insert(it.ref.GroupKind())
		if it.ref.Namespace != "" {
			inv.namespaces.Insert(it.ref.Namespace)
		}
	}
	return inv
}

// desiredKeys are the objects prune must keep: every valid member of the
// set, applied or not, since a failed apply is no reason to delete, and
// the release namespaces, in case one still carries the part-of label of
// an apply from before they left sets.
func desiredKeys(items []*item) sets.Set[objKey] {
	keys := sets.New[objKey]()
	for _, it := range items {
		if it.obj != nil {
			keys.Insert(it.ref.key())
		}
	}
	return keys
}
