package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	nodev1 "k8s.io/api/node/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/yaml"

	"flotilla.io/flotilla/devenv/kubeapiserver"
	"flotilla.io/flotilla/internal/kubeapply"
	"flotilla.io/flotilla/internal/render"
	"flotilla.io/flotilla/internal/wire"
)

// fleetLayoutCase is internal/render's golden Fleet-layout case: the repo,
// the clusters it is rendered for (targets.yaml) and the expected renders
// (want/<cluster>.yaml), which hack/fleet-compare checks against Fleet.
var fleetLayoutCase = filepath.Join("..", "..", "internal", "render", "testdata", "targets", "fleet-layout")

// fleetLayoutSource is the source name the golden renders use: bundle
// names (test-deps-db, which dependsOn names) and Helm release names
// derive from it.
const fleetLayoutSource = "test"

// layoutTarget is one cluster of the case's targets.yaml.
type layoutTarget struct {
	Name        string                       `json:"name"`
	ClusterName string                       `json:"clusterName"`
	Labels      map[string]string            `json:"labels"`
	Groups      map[string]map[string]string `json:"groups"`
	KubeVersion string                       `json:"kubeVersion"`
	APIVersions []string                     `json:"apiVersions"`
}

// needsControllers are the kinds that never become Current on these API
// servers: there is no controller manager to set a Deployment's
// observedGeneration and availability, and no node or kubelet to run a
// Pod. Their bundles apply fine and stay NotReady; everything else must
// be Ready.
var needsControllers = map[schema.GroupKind]bool{
	{Group: "apps", Kind: "Deployment"}: true,
	{Group: "", Kind: "Pod"}:            true,
}

// TestFleetLayoutRepoDeploys deploys the Fleet-layout repository of
// internal/render's golden case through the hub to two real API servers
// that stand for two of its clusters (dev and prod: name, labels, groups,
// and for prod the facts targets.yaml gives it), and checks that what
// lands on each is exactly what `flotilla render` prints for that cluster:
// every rendered object is on the cluster with every rendered field, no
// other object belongs to the bundle's ApplySet, and a doNotDeploy bundle
// is absent.
//
// States: without a controller manager or nodes, bundles holding a
// Deployment or a Pod stay NotReady (kstatus waits for observedGeneration
// and availability, or for the Pod to run); the test waits for the hub to
// show the desired generation applied, every other bundle Ready, and
// those NotReady only because of such an object. dependsOn is exercised
// all the same: deps/app waits for deps/db and nested, which hold only
// ConfigMaps and become Ready.
func TestFleetLayoutRepoDeploys(t *testing.T) {
	ctx := context.Background()
	targets := readLayoutTargets(t)
	clusters := []struct {
		target layoutTarget
		server *kubeapiserver.Server
	}{
		{targets["dev"], dev},
		{targets["prod"], prod},
	}

	// What the agent reports facts from must exist before it starts: it
	// gathers facts at start and then only every few minutes.
	for _, c := range clusters {
		provideFacts(t, c.server, c.target)
	}

	f := newFleet(t)
	copyTree(t, filepath.Join(fleetLayoutCase, "repo"), f.work.Dir)
	commit := f.work.CommitAndPush(t, "fleet-layout repository")
	f.startHub()

	// Hub groups are label selectors over clusters; a group of
	// targets.yaml selects the clusters that list it and carries its
	// labels, which clusterGroupSelector matches.
	members := map[string][]string{}
	groupLabels := map[string]map[string]string{}
	var envs []string
	for _, c := range clusters {
		env := c.target.Labels["env"]
		envs = append(envs, env)
		for g, ls := range c.target.Groups {
			members[g] = append(members[g], env)
			groupLabels[g] = ls
		}
	}
	for g, es := range members {
		if _, err := f.op.PutGroup(ctx, wire.GroupSpec{Name: g, Selector: "env in (" + strings.Join(es, ",") + ")", Labels: groupLabels[g]}); err != nil {
			t.Fatalf("creating group %s: %v", g, err)
		}
	}
	if _, err := f.op.AddSource(ctx, wire.SourceSpec{Name: fleetLayoutSource, Repo: f.repoURL, Poll: wire.Duration(time.Second), Targets: []string{"env in (" + strings.Join(envs, ",") + ")"}}); err != nil {
		t.Fatalf("adding source: %v", err)
	}
	for _, c := range clusters {
		resp, err := f.op.CreateToken(ctx, wire.TokenRequest{Labels: operatorLabels(c.target.Labels), TTL: wire.Duration(time.Hour), MaxUses: 1})
		if err != nil {
			t.Fatalf("creating token: %v", err)
		}
		f.startAgent(c.target.ClusterName, c.server, resp.Token)
	}

	for _, c := range clusters {
		t.Run(c.target.Name, func(t *testing.T) {
			name := c.target.ClusterName
			facts := waitFacts(t, f, c.target)
			// `flotilla render --cluster-name --label --group` with the
			// cluster's facts as --kube-version and --api-version, as
			// the hub renders with them.
			rt := render.Target{Name: name, Labels: c.target.Labels, Groups: c.target.Groups, KubeVersion: facts.KubernetesVersion, APIVersions: facts.APIVersions}
			results, err := render.RenderTree(ctx, filepath.Join(fleetLayoutCase, "repo"), rt, render.TreeOptions{Source: fleetLayoutSource, Options: render.Options{ChartCacheDir: t.TempDir()}})
			if err != nil {
				t.Fatalf("RenderTree: %v", err)
			}
			for _, r := range results {
				if r.Err != nil {
					t.Fatalf("render of bundle %s: %v", r.Name, r.Err)
				}
			}
			if c.target.KubeVersion != "" {
				// targets.yaml states every fact the render reads, so
				// this cluster is the golden file's cluster.
				want, err := os.ReadFile(filepath.Join(fleetLayoutCase, "want", c.target.Name+".yaml"))
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(string(want), string(formatLayoutRender(t, results))); diff != "" {
					t.Errorf("render with the cluster's facts differs from want/%s.yaml (-want +got):\n%s", c.target.Name, diff)
				}
			}

			eventually(t, 2*time.Minute, name+" to apply every bundle", func() error {
				return layoutConverged(f, name, commit, results)
			})

			lc := newLiveCluster(t, c.server)
			for _, r := range results {
				t.Run(r.Name, func(t *testing.T) {
					// The hub may still move to a newer generation (facts
					// arriving late); poll briefly, then report what
					// differs.
					if err := pollFor(30*time.Second, func() error { return lc.compareBundle(ctx, r) }); err != nil {
						t.Errorf("bundle %s on %s differs from `flotilla render`:\n%v", r.Name, name, err)
					}
				})
			}
		})
	}
}

func readLayoutTargets(t *testing.T) map[string]layoutTarget {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(fleetLayoutCase, "targets.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var list []layoutTarget
	if err := yaml.UnmarshalStrict(data, &list); err != nil {
		t.Fatalf("targets.yaml: %v", err)
	}
	out := map[string]layoutTarget{}
	for _, lt := range list {
		out[lt.Name] = lt
	}
	for _, want := range []string{"dev", "prod"} {
		if _, ok := out[want]; !ok {
			t.Fatalf("targets.yaml has no cluster %s", want)
		}
	}
	return out
}

// operatorLabels are the labels an enrollment token may carry: the
// reserved fact labels come from the agent's facts.
func operatorLabels(ls map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range ls {
		if !reservedLabel(k) {
			out[k] = v
		}
	}
	return out
}

func reservedLabel(k string) bool {
	return strings.HasPrefix(k, wire.FactLabelPrefix) || strings.HasPrefix(k, wire.RuntimeClassLabelSuffix)
}

// provideFacts makes the API server report what targets.yaml says of the
// cluster: a RuntimeClass for each runtimeclass.flotilla.io/NAME label and
// a CRD serving each listed API version the server does not serve.
func provideFacts(t *testing.T, s *kubeapiserver.Server, lt layoutTarget) {
	t.Helper()
	ctx := context.Background()
	cs := clientset(t, s)
	for k, v := range lt.Labels {
		if !reservedLabel(k) {
			continue
		}
		rcName, ok := strings.CutPrefix(k, wire.RuntimeClassLabelSuffix)
		if !ok || v != "true" {
			t.Fatalf("targets.yaml cluster %s: cannot provide fact label %s=%s", lt.Name, k, v)
		}
		rc := &nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: rcName}, Handler: rcName}
		if _, err := cs.NodeV1().RuntimeClasses().Create(ctx, rc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cs.NodeV1().RuntimeClasses().Delete(context.Background(), rcName, metav1.DeleteOptions{})
		})
	}
	dyn, err := dynamic.NewForConfig(s.Config())
	if err != nil {
		t.Fatal(err)
	}
	crds := dyn.Resource(schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"})
	for _, gvString := range lt.APIVersions {
		gv, err := schema.ParseGroupVersion(gvString)
		if err != nil || gv.Group == "" {
			t.Fatalf("targets.yaml cluster %s: cannot serve API version %q", lt.Name, gvString)
		}
		if served(cs.Discovery(), gvString) == nil {
			continue
		}
		name := "flotillae2efacts." + gv.Group
		crd := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "apiextensions.k8s.io/v1",
			"kind":       "CustomResourceDefinition",
			"metadata":   map[string]any{"name": name},
			"spec": map[string]any{
				"group": gv.Group,
				"names": map[string]any{"kind": "FlotillaE2EFact", "plural": "flotillae2efacts"},
				"scope": "Namespaced",
				"versions": []any{map[string]any{
					"name": gv.Version, "served": true, "storage": true,
					"schema": map[string]any{"openAPIV3Schema": map[string]any{"type": "object"}},
				}},
			},
		}}
		if _, err := crds.Create(ctx, crd, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("creating CRD for %s: %v", gvString, err)
		}
		t.Cleanup(func() { _ = crds.Delete(context.Background(), name, metav1.DeleteOptions{}) })
		eventually(t, 30*time.Second, gvString+" to be served", func() error { return served(cs.Discovery(), gvString) })
	}
}

func served(dc discovery.DiscoveryInterface, gv string) error {
	groups, err := dc.ServerGroups()
	if err != nil {
		return err
	}
	for _, g := range groups.Groups {
		for _, v := range g.Versions {
			if v.GroupVersion == gv {
				return nil
			}
		}
	}
	return fmt.Errorf("%s is not served", gv)
}

// waitFacts waits for the hub to hold the cluster's facts, and checks
// them against what targets.yaml says of the cluster.
func waitFacts(t *testing.T, f *fleet, lt layoutTarget) wire.Facts {
	t.Helper()
	var facts wire.Facts
	eventually(t, time.Minute, lt.ClusterName+"'s facts at the hub", func() error {
		c, err := f.cluster(lt.ClusterName)
		if err != nil {
			return err
		}
		if c.Facts == nil || c.Facts.KubernetesVersion == "" || len(c.Facts.APIVersions) == 0 {
			return fmt.Errorf("facts %+v", c.Facts)
		}
		for k := range lt.Labels {
			if rc, ok := strings.CutPrefix(k, wire.RuntimeClassLabelSuffix); ok && !slices.Contains(c.Facts.RuntimeClasses, rc) {
				return fmt.Errorf("RuntimeClass %s not in facts %v", rc, c.Facts.RuntimeClasses)
			}
		}
		for _, gv := range lt.APIVersions {
			if !slices.Contains(c.Facts.APIVersions, gv) {
				return fmt.Errorf("API version %s not in facts", gv)
			}
		}
		facts = *c.Facts
		return nil
	})
	if lt.KubeVersion != "" && facts.KubernetesVersion != lt.KubeVersion {
		t.Fatalf("cluster %s reports Kubernetes %s, targets.yaml says %s (build with hack/devcluster-ldflags.sh)", lt.ClusterName, facts.KubernetesVersion, lt.KubeVersion)
	}
	return facts
}

// layoutConverged checks that the hub shows the cluster at the desired
// generation, applied, from commit, with exactly the bundles the render
// deploys, each in the state the test expects of it (see
// TestFleetLayoutRepoDeploys).
func layoutConverged(f *fleet, name, commit string, results []render.Result) error {
	c, err := f.cluster(name)
	if err != nil {
		return err
	}
	if c.DesiredGeneration == 0 || c.AppliedGeneration != c.DesiredGeneration {
		return fmt.Errorf("cluster %s is %s (%s), applied %d of %d", name, c.State, c.Message, c.AppliedGeneration, c.DesiredGeneration)
	}
	states := map[string]wire.BundleStatus{}
	for _, b := range c.Bundles {
		states[b.Name] = b
	}
	var problems []string
	for _, r := range results {
		st, ok := states[r.Name]
		delete(states, r.Name)
		switch {
		case r.Skipped:
			if ok {
				problems = append(problems, fmt.Sprintf("%s is doNotDeploy for %s, the hub shows it %s", r.Name, name, st.State))
			}
			continue
		case !ok:
			problems = append(problems, fmt.Sprintf("%s: no status", r.Name))
			continue
		}
		waits := waitingOnControllers(r.Objects)
		switch {
		case len(waits) == 0 && st.State != wire.StateReady:
			problems = append(problems, fmt.Sprintf("%s is %s (%s), want Ready", r.Name, st.State, st.Message))
		case len(waits) > 0 && st.State == wire.StateNotReady:
			if !slices.ContainsFunc(waits, func(ref string) bool { return strings.HasPrefix(st.Message, ref+": ") }) {
				problems = append(problems, fmt.Sprintf("%s is NotReady for %q, want only for one of %v", r.Name, st.Message, waits))
			}
		case len(waits) > 0 && st.State != wire.StateReady:
			problems = append(problems, fmt.Sprintf("%s is %s (%s), want NotReady waiting on %v", r.Name, st.State, st.Message, waits))
		}
	}
	for n, st := range states {
		problems = append(problems, fmt.Sprintf("%s (%s) is on the cluster, the render has no such bundle", n, st.State))
	}
	bs, err := f.op.Bundles(context.Background())
	if err != nil {
		return err
	}
	for _, b := range bs {
		if b.Source == fleetLayoutSource && b.Commit != commit {
			problems = append(problems, fmt.Sprintf("bundle %s at commit %s, want %s", b.Name, b.Commit, commit))
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return fmt.Errorf("cluster %s:\n  %s", name, strings.Join(problems, "\n  "))
	}
	return nil
}

// waitingOnControllers names, as the agent's health reasons do
// (Kind/namespace/name), the objects that cannot become Current here.
func waitingOnControllers(objs []*unstructured.Unstructured) []string {
	var out []string
	for _, o := range objs {
		if needsControllers[o.GroupVersionKind().GroupKind()] {
			ref := kubeapply.ObjectRef{Kind: o.GetKind(), Namespace: o.GetNamespace(), Name: o.GetName()}
			out = append(out, ref.String())
		}
	}
	return out
}

// formatLayoutRender prints results as the golden files hold them.
func formatLayoutRender(t *testing.T, results []render.Result) []byte {
	t.Helper()
	var buf bytes.Buffer
	for _, r := range results {
		fmt.Fprintf(&buf, "# bundle %s (%s)\n", r.Bundle.Path, r.Name)
		if r.Skipped {
			buf.WriteString("# doNotDeploy\n")
			continue
		}
		if err := render.WriteYAML(&buf, r.Objects); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// liveCluster reads objects of any kind from one API server.
type liveCluster struct {
	dyn    dynamic.Interface
	mapper *restmapper.DeferredDiscoveryRESTMapper
}

func newLiveCluster(t *testing.T, s *kubeapiserver.Server) *liveCluster {
	t.Helper()
	dyn, err := dynamic.NewForConfig(s.Config())
	if err != nil {
		t.Fatal(err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(s.Config())
	if err != nil {
		t.Fatal(err)
	}
	return &liveCluster{dyn: dyn, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))}
}

func (lc *liveCluster) resource(gk schema.GroupKind, version string) (*meta.RESTMapping, error) {
	m, err := lc.mapper.RESTMapping(gk, version)
	if meta.IsNoMatchError(err) {
		lc.mapper.Reset() // a CRD the bundle just created
		m, err = lc.mapper.RESTMapping(gk, version)
	}
	return m, err
}

func (lc *liveCluster) client(m *meta.RESTMapping, namespace string) dynamic.ResourceInterface {
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		return lc.dyn.Resource(m.Resource).Namespace(namespace)
	}
	return lc.dyn.Resource(m.Resource)
}

type objKey struct {
	gk        schema.GroupKind
	namespace string
	name      string
}

func (k objKey) String() string {
	return kubeapply.ObjectRef{Group: k.gk.Group, Kind: k.gk.Kind, Namespace: k.namespace, Name: k.name}.String()
}

func keyOf(o *unstructured.Unstructured) objKey {
	return objKey{o.GroupVersionKind().GroupKind(), o.GetNamespace(), o.GetName()}
}

// compareBundle checks one bundle's render against the cluster: a bundle
// that does not deploy has no ApplySet parent; otherwise every rendered
// object is there with every rendered field (the cluster adds status,
// defaults and bookkeeping), each member carries the bundle's ApplySet
// label, and nothing else does, in any kind the parent lists or the
// render holds.
func (lc *liveCluster) compareBundle(ctx context.Context, r render.Result) error {
	const parentNS = "flotilla-system" // as startAgentWith configures the applier
	parents := lc.dyn.Resource(schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}).Namespace(parentNS)
	parent, err := parents.Get(ctx, kubeapply.ParentName(r.Name), metav1.GetOptions{})
	if r.Skipped {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("doNotDeploy, yet its ApplySet parent %s/%s is on the cluster (err %v)", parentNS, kubeapply.ParentName(r.Name), err)
	}
	if err != nil {
		return fmt.Errorf("ApplySet parent: %w", err)
	}
	id := kubeapply.ApplySetID(r.Name, parentNS)
	var problems []string
	want := map[objKey]bool{}
	kinds := map[schema.GroupKind]string{} // version to map with
	for _, o := range r.Objects {
		k := keyOf(o)
		want[k] = true
		kinds[k.gk] = o.GroupVersionKind().Version
		m, err := lc.resource(k.gk, o.GroupVersionKind().Version)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", k, err))
			continue
		}
		live, err := lc.client(m, k.namespace).Get(ctx, k.name, metav1.GetOptions{})
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", k, err))
			continue
		}
		var diffs []string
		containsFields(".", jsonValue(o.Object), jsonValue(live.Object), &diffs)
		for _, d := range diffs {
			problems = append(problems, fmt.Sprintf("%s: %s", k, d))
		}
		release := o.GetAnnotations()[kubeapply.AnnotationReleaseNamespace] == "true" && k.gk == (schema.GroupKind{Kind: "Namespace"})
		if got := live.GetLabels()[kubeapply.LabelPartOf]; !release && got != id {
			problems = append(problems, fmt.Sprintf("%s: %s=%q, want %q", k, kubeapply.LabelPartOf, got, id))
		}
	}
	for _, s := range strings.Split(parent.GetAnnotations()[kubeapply.AnnotationGroupKinds], ",") {
		if s = strings.TrimSpace(s); s != "" {
			if gk := schema.ParseGroupKind(s); kinds[gk] == "" {
				kinds[gk] = "" // any served version
			}
		}
	}
	for gk, version := range kinds {
		m, err := lc.resource(gk, version)
		if err != nil {
			problems = append(problems, fmt.Sprintf("listing %s: %v", gk, err))
			continue
		}
		list, err := lc.dyn.Resource(m.Resource).List(ctx, metav1.ListOptions{LabelSelector: kubeapply.LabelPartOf + "=" + id})
		if err != nil {
			problems = append(problems, fmt.Sprintf("listing %s: %v", gk, err))
			continue
		}
		for i := range list.Items {
			if k := keyOf(&list.Items[i]); !want[k] {
				problems = append(problems, fmt.Sprintf("%s is in the bundle's ApplySet, the render has no such object", k))
			}
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return fmt.Errorf("  %s", strings.Join(problems, "\n  "))
	}
	return nil
}

// jsonValue is v as encoding/json decodes it, so that numbers compare
// equal whatever Go type they were built with.
func jsonValue(v any) any {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("unencodable: %v", err)
	}
	var out any
	if err := json.Unmarshal(data, &out); err != nil {
		return fmt.Sprintf("undecodable: %v", err)
	}
	return out
}

// containsFields records where got lacks a field of want or holds another
// value. Lists must have want's length, element by element.
func containsFields(path string, want, got any, diffs *[]string) {
	switch w := want.(type) {
	case nil:
		if got != nil {
			*diffs = append(*diffs, fmt.Sprintf("%s: want null, cluster has %s", path, show(got)))
		}
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			*diffs = append(*diffs, fmt.Sprintf("%s: want %s, cluster has %s", path, show(want), show(got)))
			return
		}
		keys := make([]string, 0, len(w))
		for k := range w {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := strings.TrimSuffix(path, ".") + "." + k
			gv, ok := g[k]
			if !ok {
				if w[k] != nil {
					*diffs = append(*diffs, fmt.Sprintf("%s: missing on the cluster, want %s", p, show(w[k])))
				}
				continue
			}
			containsFields(p, w[k], gv, diffs)
		}
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			*diffs = append(*diffs, fmt.Sprintf("%s: want %s, cluster has %s", path, show(want), show(got)))
			return
		}
		for i := range w {
			containsFields(fmt.Sprintf("%s[%d]", path, i), w[i], g[i], diffs)
		}
	default:
		if !reflect.DeepEqual(want, got) {
			*diffs = append(*diffs, fmt.Sprintf("%s: want %s, cluster has %s", path, show(want), show(got)))
		}
	}
}

func show(v any) string {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(data)
}

// pollFor is eventually that returns the last error instead of failing,
// so that several comparisons each report what differs.
func pollFor(timeout time.Duration, check func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// copyTree copies the directory tree from into the work tree to, keeping
// file modes; it refuses anything but directories and regular files.
func copyTree(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(from, p)
		if err != nil {
			return err
		}
		dst := filepath.Join(to, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(dst, 0o755)
		case !info.Mode().IsRegular():
			return fmt.Errorf("%s: not a regular file (%s)", rel, info.Mode())
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.WriteFile(dst, data, info.Mode().Perm()); err != nil {
			return err
		}
		return os.Chmod(dst, info.Mode().Perm()) // past the umask
	})
	if err != nil {
		t.Fatalf("copying %s: %v", from, err)
	}
}
