package hubserver

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"flotilla.io/flotilla/internal/egress"
	"flotilla.io/flotilla/internal/hubclient"
	"flotilla.io/flotilla/internal/render"
	"flotilla.io/flotilla/internal/testenv/gitserver"
	"flotilla.io/flotilla/internal/wire"
)

// silentServer accepts connections and never answers, as a chart
// repository that hangs.
func silentServer(t *testing.T, addr string) string {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex // guards conns
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return "http://" + ln.Addr().String() + "/"
}

// TestHostileBundlesHarmOnlyThemselves is the attack through the
// real hub, render workers and Git server: a Helm template that never
// ends, a chart repository that never answers, and one at an internal
// address. Enrollment answers, the cluster gets its other bundle, a
// cluster they do not target is untouched, and each hostile bundle shows
// its own error (renderworker's tests check that the worker running the
// endless template is killed).
func TestHostileBundlesHarmOnlyThemselves(t *testing.T) {
	hanging := silentServer(t, "127.0.0.1:0")
	internal := silentServer(t, "127.0.0.2:0")
	h := startHubConfig(t, func(c *Config) {
		c.RenderWorker = []string{os.Args[0], "render-worker"}
		c.RenderWorkers = 2
		c.Render.Limits = render.Limits{Timeout: 3 * time.Second}
		// 127.0.0.1 is allowed, so the hanging repository is reached and
		// must time out; 127.0.0.2 is not, so it must be refused.
		c.Render.Egress = egress.Policy{AllowHosts: []string{"127.0.0.1"}, ResponseHeaderTimeout: time.Second, Timeout: 2 * time.Second}
	})
	ctx := context.Background()
	bare := filepath.Join(t.TempDir(), "fleet.git")
	gitserver.InitBare(t, bare)
	w := gitserver.NewWork(t, bare)
	w.WriteFile(t, "fine/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fine\n")
	w.WriteFile(t, "loop/fleet.yaml", "defaultNamespace: loop\n")
	w.WriteFile(t, "loop/Chart.yaml", "apiVersion: v2\nname: loop\nversion: 0.1.0\n")
	w.WriteFile(t, "loop/templates/cm.yaml", "{{ range $i := until 1000000 }}{{ range $j := until 1000000 }}{{ end }}{{ end }}\n")
	w.WriteFile(t, "hang/fleet.yaml", "helm:\n  repo: "+hanging+"\n  chart: anything\n")
	w.WriteFile(t, "internal/fleet.yaml", "helm:\n  repo: "+internal+"\n  chart: anything\n")
	w.CommitAndPush(t, "one fine bundle, three hostile ones")
	for _, spec := range []wire.SourceSpec{
		{Name: "fine", Repo: bare, Paths: []string{"fine"}, Targets: []string{"env=dev"}},
		{Name: "evil", Repo: bare, Paths: []string{"loop", "hang", "internal"}, Targets: []string{"env=dev"}},
	} {
		if _, err := h.op.AddSource(ctx, spec); err != nil {
			t.Fatal(err)
		}
	}
	dev, _ := enrollAgent(t, h, "dev", map[string]string{"env": "dev"})
	prod, _ := enrollAgent(t, h, "prod", map[string]string{"env": "prod"})
	if got := bundlesOf(t, prod); len(got) != 0 {
		t.Errorf("untargeted cluster got %v", got)
	}

	want := map[string]string{
		"fine-fine":     "",
		"evil-loop":     "took longer than 3s to render",
		"evil-hang":     "timed out",
		"evil-internal": "127.0.0.2 is a loopback address",
	}
	refs := waitManifest(t, dev, func(bs []wire.BundleRef) bool { return len(bs) == len(want) })
	for _, b := range refs {
		msg, ok := want[b.Name]
		switch {
		case !ok:
			t.Errorf("unexpected bundle %s", b.Name)
		case msg == "" && (b.Error != "" || len(b.Objects) != 1):
			t.Errorf("bundle %s harmed: error %q, %d objects", b.Name, b.Error, len(b.Objects))
		case msg != "" && !strings.Contains(b.Error, msg):
			t.Errorf("bundle %s: error %q, want one saying %q", b.Name, b.Error, msg)
		}
	}
	bs, err := h.op.Bundles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bs {
		if msg := want[b.Name]; msg != "" && !strings.Contains(b.Error, msg) {
			t.Errorf("bundles list: %s shows %q, want %q", b.Name, b.Error, msg)
		}
	}
	if body := getMetrics(t, h); !strings.Contains(body, "flotilla_hub_render_cache_hits_total") {
		t.Error("render cache metrics missing")
	}
}

// waitManifest polls an agent's manifest until done accepts its bundles.
func waitManifest(t *testing.T, a *hubclient.Agent, done func([]wire.BundleRef) bool) []wire.BundleRef {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		sm, err := a.Manifest(context.Background(), 0, "")
		if err == nil && sm != nil {
			m, err := wire.DecodeManifest(*sm)
			if err != nil {
				t.Fatal(err)
			}
			if done(m.Bundles) {
				return m.Bundles
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("manifest not as wanted in time (last error %v)", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
