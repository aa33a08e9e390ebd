package hubserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"flotilla.io/flotilla/internal/hub"
	"flotilla.io/flotilla/internal/hubclient"
	"flotilla.io/flotilla/internal/testenv/gitserver"
	"flotilla.io/flotilla/internal/wire"
)

// enrollAgent enrolls a cluster and returns its protocol client and ID.
func enrollAgent(t *testing.T, h *testHub, name string, labels map[string]string) (*hubclient.Agent, string) {
	t.Helper()
	a, resp := enroll(t, h, name, labels)
	return a, resp.ClusterID
}

// enroll enrolls a cluster and returns its protocol client and the hub's
// answer.
func enroll(t *testing.T, h *testHub, name string, labels map[string]string) (*hubclient.Agent, wire.EnrollResponse) {
	t.Helper()
	e := enrollKeep(t, h, name, labels)
	return e.agent, e.resp
}

// bundlesOf returns the bundle names of the cluster's current manifest.
func bundlesOf(t *testing.T, a *hubclient.Agent) []string {
	t.Helper()
	sm, err := a.Manifest(context.Background(), 0, "")
	if err != nil || sm == nil {
		t.Fatalf("manifest: %v %v", sm, err)
	}
	m, err := wire.DecodeManifest(*sm)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range m.Bundles {
		names = append(names, b.Name)
	}
	return names
}

func waitBundles(t *testing.T, a *hubclient.Agent, want string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		got := strings.Join(bundlesOf(t, a), ",")
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("bundles = %q, want %q", got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestGroupsAndFactsTarget(t *testing.T) {
	h := startHub(t)
	ctx := context.Background()
	root := t.TempDir()
	bare := filepath.Join(root, "fleet.git")
	gitserver.InitBare(t, bare)
	w := gitserver.NewWork(t, bare)
	w.WriteFile(t, "arm/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: arm\n")
	w.WriteFile(t, "wasm/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: wasm\n")
	w.CommitAndPush(t, "two bundles")

	if _, err := h.op.PutGroup(ctx, wire.GroupSpec{Name: "arm", Selector: "flotilla.io/arch=arm64"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.op.AddSource(ctx, wire.SourceSpec{Name: "arm", Repo: bare, Paths: []string{"arm"}, TargetGroups: []string{"arm"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.op.AddSource(ctx, wire.SourceSpec{Name: "wasm", Repo: bare, Paths: []string{"wasm"}, Targets: []string{"runtimeclass.flotilla.io/wasmtime=true"}}); err != nil {
		t.Fatal(err)
	}
	edge, _ := enrollAgent(t, h, "edge", map[string]string{"env": "dev"})
	plain, _ := enrollAgent(t, h, "plain", map[string]string{"env": "dev"})
	waitBundles(t, edge, "")

	report := func(a *hubclient.Agent, f wire.Facts) {
		t.Helper()
		if err := a.Status(ctx, wire.StatusReport{Facts: &f}); err != nil {
			t.Fatal(err)
		}
	}
	report(edge, wire.Facts{Arch: "arm64", OS: "linux", KubernetesVersion: "v1.30.2+k3s1", Nodes: 1, MemoryGiB: 2, RuntimeClasses: []string{"wasmtime"}})
	report(plain, wire.Facts{Arch: "amd64", OS: "linux"})
	waitBundles(t, edge, "arm-arm,wasm-wasm")
	waitBundles(t, plain, "")

	groups, err := h.op.Groups(ctx)
	if err != nil || len(groups) != 1 || strings.Join(groups[0].Members, ",") != "edge" {
		t.Errorf("groups = %+v (%v), want arm with member edge", groups, err)
	}
	cs, err := h.op.Clusters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if c.Name == "edge" && (c.Facts == nil || c.Facts.KubernetesVersion != "v1.30.2+k3s1") {
			t.Errorf("edge facts = %+v", c.Facts)
		}
	}

	// Facts change, once the cluster's facts interval has passed (a
	// change within it waits for it): the members follow.
	h.clock.advance(hub.DefaultFactsInterval)
	report(edge, wire.Facts{Arch: "amd64", OS: "linux"})
	waitBundles(t, edge, "")

	// Operators cannot set reserved labels.
	_, err = h.op.CreateToken(ctx, wire.TokenRequest{Labels: map[string]string{"flotilla.io/arch": "arm64"}})
	var he *hubclient.Error
	if !errors.As(err, &he) || he.Status != http.StatusBadRequest {
		t.Errorf("token with a reserved label = %v, want 400", err)
	}

	// The renders counter is exported.
	body := getMetrics(t, h)
	if !strings.Contains(body, "flotilla_hub_renders_total") || !strings.Contains(body, "flotilla_hub_agents_polling") {
		t.Errorf("metrics lack the hub's series:\n%.500s", body)
	}
}

func getMetrics(t *testing.T, h *testHub) string {
	t.Helper()
	req, _ := http.NewRequest("GET", h.srv.URL+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+h.cfg.Token)
	resp, err := h.rawClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics = %d", resp.StatusCode)
	}
	return fmt.Sprint(string(b))
}

// TestRetargetingFollowsAtOnce: changing a source's targets moves its
// bundles without waiting for a new commit.
func TestRetargetingFollowsAtOnce(t *testing.T) {
	h := startHub(t)
	ctx := context.Background()
	bare := filepath.Join(t.TempDir(), "fleet.git")
	gitserver.InitBare(t, bare)
	w := gitserver.NewWork(t, bare)
	w.WriteFile(t, "app/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n")
	w.CommitAndPush(t, "one")
	spec := wire.SourceSpec{Name: "fleet", Repo: bare, Poll: wire.Duration(time.Hour), Targets: []string{"env=dev"}}
	if _, err := h.op.AddSource(ctx, spec); err != nil {
		t.Fatal(err)
	}
	dev, _ := enrollAgent(t, h, "dev", map[string]string{"env": "dev"})
	prod, _ := enrollAgent(t, h, "prod", map[string]string{"env": "prod"})
	waitBundles(t, dev, "fleet-app")
	waitBundles(t, prod, "")
	spec.Targets = []string{"env=prod"}
	if _, err := h.op.AddSource(ctx, spec); err != nil {
		t.Fatal(err)
	}
	waitBundles(t, dev, "")
	waitBundles(t, prod, "fleet-app")
}
