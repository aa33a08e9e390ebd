package hubserver

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"flotilla.io/flotilla/internal/clientconfig"
	"flotilla.io/flotilla/internal/hubclient"
	"flotilla.io/flotilla/internal/testenv/gitserver"
	"flotilla.io/flotilla/internal/wire"
)

// TestRestartWithUnreachableSource: a hub restarted while its Git server is
// gone keeps serving the commit it had; clusters do not lose bundles.
func TestRestartWithUnreachableSource(t *testing.T) {
	h := startHub(t)
	ctx := context.Background()
	bare := filepath.Join(t.TempDir(), "fleet.git")
	gitserver.InitBare(t, bare)
	w := gitserver.NewWork(t, bare)
	w.WriteFile(t, "app/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n")
	w.CommitAndPush(t, "one")
	if _, err := h.op.AddSource(ctx, wire.SourceSpec{Name: "fleet", Repo: bare, Poll: wire.Duration(time.Second), Targets: []string{"env=dev"}}); err != nil {
		t.Fatal(err)
	}
	agent, _ := enrollAgent(t, h, "edge", map[string]string{"env": "dev"})
	waitBundles(t, agent, "fleet-app")
	before, err := h.op.Clusters(ctx)
	if err != nil {
		t.Fatal(err)
	}

	if err := h.srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(bare); err != nil {
		t.Fatal(err)
	}
	u := strings.TrimPrefix(h.srv.URL, "https://")
	srv, err := Start(ctx, Config{DataDir: h.dir, Listen: u, LongPoll: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	h.srv = srv
	cfg, err := clientconfig.Load(srv.AdminConfig)
	if err != nil {
		t.Fatal(err)
	}
	if h.op, err = hubclient.NewOperator(cfg); err != nil {
		t.Fatal(err)
	}
	restarted := time.Now()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ss, err := h.op.Sources(ctx)
		if err == nil && len(ss) == 1 && ss[0].Error != "" && ss[0].FetchedAt != nil && ss[0].FetchedAt.After(restarted) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the failing fetch after restart was not recorded: %+v %v", ss, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The cached commit was loaded after the failed fetch: a cluster that
	// enrolls now gets the bundle, and the old one lost nothing.
	newcomer, _ := enrollAgent(t, h, "newcomer", map[string]string{"env": "dev"})
	waitBundles(t, newcomer, "fleet-app")
	waitBundles(t, agent, "fleet-app")
	after, err := h.op.Clusters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after[0].DesiredGeneration != before[0].DesiredGeneration {
		t.Errorf("generation moved from %d to %d with the source unreachable", before[0].DesiredGeneration, after[0].DesiredGeneration)
	}
}
