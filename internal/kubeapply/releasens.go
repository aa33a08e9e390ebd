package kubeapply

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

// AnnotationReleaseNamespace with the value "true" on a Namespace of a set
// marks the namespace the set's bundle is released into, as Fleet creates
// it (Helm's CreateNamespace): it is applied outside the set. It carries no
// part-of label, is not in the set's inventory, is never pruned nor
// deleted with the set, is not watched for drift, and counts in the set's
// health only by existing. Several sets may name the same release
// namespace: each applies it under a field manager of its own, so each
// owns the labels and annotations it sets, and dropping one from a set
// removes it unless another set sets it too. The hub's render puts the
// annotation on the release namespace it adds; like any other annotation
// it reaches the cluster.
const AnnotationReleaseNamespace = "flotilla.io/release-namespace"

// releaseManagerInfix joins the applier's field manager and the set name
// into the field manager of the set's release namespace:
// "flotilla-ns/<set>" by default.
const releaseManagerInfix = "-ns/"

// maxFieldManager is the longest field manager the API server accepts.
const maxFieldManager = 128

// maxSetName is the longest set name: a DNS label.
const maxSetName = 63

// isReleaseNamespace reports whether an object of a set is a release
// namespace (see AnnotationReleaseNamespace).
func isReleaseNamespace(o *unstructured.Unstructured) bool {
	gvk := o.GroupVersionKind()
	return gvk.Group == "" && gvk.Kind == "Namespace" && o.GetAnnotations()[AnnotationReleaseNamespace] == "true"
}

// releaseManager is the field manager the set called name applies its
// release namespace with.
func (a *Applier) releaseManager(name string) string {
	return a.opts.FieldManager + releaseManagerInfix + name
}

// checkFieldManager checks that every field manager derived from fm fits
// the API server's limit.
func checkFieldManager(fm string) error {
	if n := len(fm) + len(releaseManagerInfix) + maxSetName; n > maxFieldManager {
		return fmt.Errorf("creating applier: field manager %q is too long: release namespaces would be applied as managers of up to %d characters, over %d", fm, n, maxFieldManager)
	}
	return nil
}

// leaveSet takes a release namespace out of the set whose member it was
// (an agent from before release namespaces applied it inside its set):
// an apply of nothing but its name, as the set's field manager, drops the
// part-of label and every other field only that manager held. What the
// set's bundle still sets is held by the release manager too and stays.
// A field another bundle set the same old way is dropped as well, until
// that bundle's own apply of its release namespace puts it back.
func (a *Applier) leaveSet(ctx context.Context, it *item) error {
	bare := &unstructured.Unstructured{}
	bare.SetAPIVersion(it.obj.GetAPIVersion())
	bare.SetKind(it.obj.GetKind())
	bare.SetName(it.ref.Name)
	_, err := a.resource(it.mapping, "").Apply(ctx, it.ref.Name, bare, metav1.ApplyOptions{
		FieldManager: a.opts.FieldManager,
		Force:        true,
	})
	if err != nil {
		return fmt.Errorf("taking release namespace out of its former set: %w", err)
	}
	a.log.Info("release namespace left its former set", "namespace", it.ref.Name)
	return nil
}

// releaseStatus is the health of a release namespace: whether it exists.
// Its conditions belong to whoever else uses it.
func (a *Applier) releaseStatus(ctx context.Context, it *item) (string, string) {
	m, err := a.metadata.Resource(it.mapping.Resource).Get(ctx, it.ref.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return string(status.NotFoundStatus), "namespace not found"
	case err != nil:
		return string(status.UnknownStatus), fmt.Sprintf("reading namespace: %v", err)
	case m.GetDeletionTimestamp() != nil:
		return string(status.TerminatingStatus), "namespace is being deleted"
	}
	return string(status.CurrentStatus), "namespace exists"
}
