package render

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"flotilla.io/flotilla/internal/bundle"
)

// item is a rendered object and where it came from, for error messages.
type item struct {
	obj  *unstructured.Unstructured
	file string
	line int
}

// Render renders one bundle of a checkout into Kubernetes objects with
// the bundle's own options, no target customization applied. It is
// RenderEffective(ctx, root, b, Base(b), Options{}).
func Render(ctx context.Context, root string, b bundle.Bundle) ([]*unstructured.Unstructured, error) {
	return RenderEffective(ctx, root, b, Base(b), Options{})
}

// kustomization finds the directory and file of the bundle's kustomization;
// kfile is empty when the bundle is raw YAML.
func kustomization(c *bundle.Checkout, b bundle.Bundle, opts bundle.DeploymentOptions) (kdir, kfile string, err error) {
	kdir = b.Path
	explicit := opts.Kustomize != nil && opts.Kustomize.Dir != ""
	if explicit {
		fleetFile := path.Join(b.Path, "fleet.yaml")
		d := opts.Kustomize.Dir
		if path.IsAbs(d) || filepath.IsAbs(d) {
			return "", "", errorf(fleetFile, 0, "kustomize.dir %q must be relative to the bundle directory", d)
		}
		if kdir, err = bundle.CleanRel(path.Join(b.Path, d)); err != nil {
			return "", "", errorf(fleetFile, 0, "kustomize.dir %q leads outside the checkout", d)
		}
	}
	if _, err := c.Resolve(kdir); err != nil {
		if errors.Is(err, bundle.ErrEscape) {
			return "", "", errorf(kdir, 0, "%w", err)
		}
		if explicit && errors.Is(err, os.ErrNotExist) {
			return "", "", errorf(path.Join(b.Path, "fleet.yaml"), 0, "kustomize.dir %q does not exist", opts.Kustomize.Dir)
		}
		return "", "", fmt.Errorf("rendering bundle %s: %w", b.Path, err)
	}
	for _, name := range kustomizationNames() {
		if info, err := c.Stat(joinRel(kdir, name)); err == nil && !info.IsDir() {
			return kdir, joinRel(kdir, name), nil
		}
	}
	if explicit {
		return "", "", errorf(path.Join(b.Path, "fleet.yaml"), 0, "kustomize.dir %q holds no kustomization.yaml", opts.Kustomize.Dir)
	}
	return "", "", nil
}

// kustomizationNames are the file names Kustomize recognizes, in its order.
func kustomizationNames() []string {
	return []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}
}

func isKustomization(name string) bool {
	return name == "kustomization.yaml" || name == "kustomization.yml" || name == "Kustomization"
}

// fleetDefaultNamespace is where Fleet puts namespaced objects that name no
// namespace when fleet.yaml sets no defaultNamespace.
const fleetDefaultNamespace = "default"

// setNamespaces applies namespace (forced) or defaultNamespace to
// namespaced objects. Scope comes from the built-in list and from the CRDs
// of the same bundle. Every namespaced object leaves with a namespace, so
// what is rendered is exactly what is applied.
func setNamespaces(items []item, opts bundle.DeploymentOptions) error {
	if opts.DefaultNamespace == "" {
		opts.DefaultNamespace = fleetDefaultNamespace
	}
	crdCluster := clusterScopedCRDs(items)
	for _, it := range items {
		gk := it.obj.GroupVersionKind().GroupKind()
		cluster := ClusterScoped(gk.Group, gk.Kind) || crdCluster[gk]
		switch {
		case opts.Namespace != "" && cluster:
			return errorf(it.file, it.line, "%s %s is cluster-scoped but fleet.yaml forces namespace %q", it.obj.GetKind(), it.obj.GetName(), opts.Namespace)
		case opts.Namespace != "":
			it.obj.SetNamespace(opts.Namespace)
		case !cluster && it.obj.GetNamespace() == "":
			it.obj.SetNamespace(opts.DefaultNamespace)
		}
	}
	return nil
}

// clusterScopedCRDs returns the kinds that CRDs in the bundle define with
// spec.scope Cluster.
func clusterScopedCRDs(items []item) map[schema.GroupKind]bool {
	out := make(map[schema.GroupKind]bool)
	for _, it := range items {
		gvk := it.obj.GroupVersionKind()
		if gvk.Group != "apiextensions.k8s.io" || gvk.Kind != "CustomResourceDefinition" {
			continue
		}
		scope, _, _ := unstructured.NestedString(it.obj.Object, "spec", "scope")
		group, _, _ := unstructured.NestedString(it.obj.Object, "spec", "group")
		kind, _, _ := unstructured.NestedString(it.obj.Object, "spec", "names", "kind")
		if scope == "Cluster" && kind != "" {
			out[schema.GroupKind{Group: group, Kind: kind}] = true
		}
	}
	return out
}

// sortObjects orders items by group, kind, namespace and name, and refuses
// two objects with the same identity.
func sortObjects(items []item) ([]*unstructured.Unstructured, error) {
	keys := make([]string, len(items))
	for i, it := range items {
		keys[i] = objectKey(it.obj)
	}
	index := make([]int, len(items))
	for i := range index {
		index[i] = i
	}
	sort.SliceStable(index, func(a, b int) bool { return keys[index[a]] < keys[index[b]] })
	out := make([]*unstructured.Unstructured, 0, len(items))
	for n, i := range index {
		if n > 0 && keys[index[n-1]] == keys[i] {
			prev, it := items[index[n-1]], items[i]
			return nil, errorf(it.file, it.line, "duplicate object %s (also in %s)", describe(it.obj), location(prev.file, prev.line))
		}
		out = append(out, items[i].obj)
	}
	return out, nil
}

// objectKey sorts as group, kind, namespace, name; NUL cannot occur in any.
func objectKey(o *unstructured.Unstructured) string {
	gvk := o.GroupVersionKind()
	return strings.Join([]string{gvk.Group, gvk.Kind, o.GetNamespace(), o.GetName()}, "\x00")
}

func describe(o *unstructured.Unstructured) string {
	gvk := o.GroupVersionKind()
	kind := gvk.Kind
	if gvk.Group != "" {
		kind += "." + gvk.Group
	}
	if ns := o.GetNamespace(); ns != "" {
		return kind + " " + ns + "/" + o.GetName()
	}
	return kind + " " + o.GetName()
}

func location(file string, line int) string {
	if line > 0 {
		return fmt.Sprintf("%s:%d", file, line)
	}
	return file
}

func joinRel(dir, name string) string {
	if dir == "." || dir == "" {
		return name
	}
	return dir + "/" + name
}
