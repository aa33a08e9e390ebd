package render

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"flotilla.io/flotilla/internal/bundle"
)

// KeepAnnotation marks objects that must outlive their bundle: pruning
// leaves them in place. It is Helm's resource policy, which kubectl users
// know.
const KeepAnnotation = "helm.sh/resource-policy"

// ReleaseNamespaceAnnotation, "true", marks the release namespace the render
// adds for a bundle, as Fleet's agent creates it outside the release: the
// agent applies it outside the bundle's ApplySet, under a field manager of
// the bundle's own, so bundles that share a namespace each keep their
// namespaceLabels and namespaceAnnotations on it and none of them owns or
// prunes it. (The agent's kubeapply.AnnotationReleaseNamespace; render
// imports nothing of the agent's.)
const ReleaseNamespaceAnnotation = "flotilla.io/release-namespace"

// builtinNamespaces exist on every cluster and can never be deleted; a
// bundle never renders them.
var builtinNamespaces = map[string]bool{"default": true, "kube-system": true, "kube-public": true, "kube-node-lease": true}

// ensureNamespace makes the bundle's release namespace (namespace, else
// defaultNamespace) part of the render, as Fleet creates it when it
// installs the bundle (Helm's CreateNamespace) and then sets
// namespaceLabels and namespaceAnnotations on it. A Namespace of that name
// rendered by the bundle itself gets the labels and annotations merged in
// and stays the bundle's own object. Otherwise one is added, marked as the
// release namespace and kept, unless deleteNamespace asks that it go with
// the bundle: then it is an object of the bundle like any other. The
// built-in namespaces are left alone.
func ensureNamespace(items []item, opts bundle.DeploymentOptions) []item {
	name := releaseNamespace(opts)
	if builtinNamespaces[name] {
		return items
	}
	for _, it := range items {
		gvk := it.obj.GroupVersionKind()
		if gvk.Group == "" && gvk.Kind == "Namespace" && it.obj.GetName() == name {
			if len(opts.NamespaceLabels) > 0 {
				it.obj.SetLabels(mergeStrings(it.obj.GetLabels(), opts.NamespaceLabels))
			}
			if len(opts.NamespaceAnnotations) > 0 {
				it.obj.SetAnnotations(mergeStrings(it.obj.GetAnnotations(), opts.NamespaceAnnotations))
			}
			return items
		}
	}
	ns := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace"}}
	ns.SetName(name)
	if len(opts.NamespaceLabels) > 0 {
		ns.SetLabels(opts.NamespaceLabels)
	}
	annotations := mergeStrings(nil, opts.NamespaceAnnotations)
	if !opts.DeleteNamespace {
		// Fleet keeps the namespace it created when the bundle goes
		// (deleteNamespace: false): pruning it would delete everything in
		// it, and other bundles may live there too. Keep is also what an
		// agent that does not know the release marker honours.
		annotations = mergeStrings(annotations, map[string]string{
			KeepAnnotation:             "keep",
			ReleaseNamespaceAnnotation: "true",
		})
	}
	ns.SetAnnotations(annotations)
	return append(items, item{obj: ns, file: "fleet.yaml"})
}
