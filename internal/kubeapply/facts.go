package kubeapply

import (
	"context"
	"fmt"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// ClusterFacts are what the agent reports about its cluster.
type ClusterFacts struct {
	Arch, OS          string
	KubernetesVersion string
	Nodes             int
	// MemoryGiB is the nodes' allocatable memory summed, in whole GiB.
	MemoryGiB      int
	RuntimeClasses []string
	// APIVersions are the served group/versions, sorted.
	APIVersions []string
}

var (
	nodesGVR          = schema.GroupVersionResource{Version: "v1", Resource: "nodes"}
	runtimeClassesGVR = schema.GroupVersionResource{Group: "node.k8s.io", Version: "v1", Resource: "runtimeclasses"}
)

// factsPageSize bounds the nodes held at once.
const factsPageSize = 50

// Facts gathers the cluster's facts with a few plain requests (discovery of
// the version and groups, a paged list of nodes, a metadata list of
// RuntimeClasses); nothing is cached or watched. Arch and OS are those of
// the first node, in list order, that reports them.
func (a *Applier) Facts(ctx context.Context) (ClusterFacts, error) {
	var f ClusterFacts
	v, err := a.discovery.serverVersion(ctx)
	if err != nil {
		return f, err
	}
	f.KubernetesVersion = v.GitVersion
	if f.APIVersions, err = a.discovery.groupVersions(ctx); err != nil {
		return f, err
	}
	slices.Sort(f.APIVersions)
	if err := a.nodeFacts(ctx, &f); err != nil {
		return f, err
	}
	rcs, err := a.metadata.Resource(runtimeClassesGVR).List(ctx, metav1.ListOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return f, fmt.Errorf("listing runtime classes: %w", err)
	}
	if err == nil {
		for _, rc := range rcs.Items {
			f.RuntimeClasses = append(f.RuntimeClasses, rc.Name)
		}
		slices.Sort(f.RuntimeClasses)
	}
	return f, nil
}

func (a *Applier) nodeFacts(ctx context.Context, f *ClusterFacts) error {
	var mem resource.Quantity
	opts := metav1.ListOptions{Limit: factsPageSize}
	for {
		list, err := a.dynamic.Resource(nodesGVR).List(ctx, opts)
		if err != nil {
			return fmt.Errorf("listing nodes: %w", err)
		}
		for _, n := range list.Items {
			f.Nodes++
			if f.Arch == "" {
				f.Arch, _, _ = unstructured.NestedString(n.Object, "status", "nodeInfo", "architecture")
				f.OS, _, _ = unstructured.NestedString(n.Object, "status", "nodeInfo", "operatingSystem")
			}
			if s, ok, _ := unstructured.NestedString(n.Object, "status", "allocatable", "memory"); ok {
				if q, err := resource.ParseQuantity(s); err == nil {
					mem.Add(q)
				}
			}
		}
		if opts.Continue = list.GetContinue(); opts.Continue == "" {
			break
		}
	}
	f.MemoryGiB = int(mem.Value() >> 30)
	return nil
}
