package hubserver

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"flotilla.io/flotilla/internal/testenv/gitserver"
	"flotilla.io/flotilla/internal/wire"
)

// TestSlowClientsDoNotStarveAgents floods the hub with connections that
// trickle enrollment bodies, as an attacker who can reach it without
// logging in would, and checks that an enrolled agent's status posts,
// object fetches and long-polls keep answering, and a new cluster can
// still enroll. The per-address limits are off, as they would be no help
// against a flood from many addresses: what is tested is that the flood
// holds no budget agents need.
func TestSlowClientsDoNotStarveAgents(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 300 connections")
	}
	const flood = 300
	h := startHubWith(t, 500*time.Millisecond, func(l *Limits) {
		l.MaxUnauthConnsPerAddr, l.MaxHandshakesPerAddr = -1, -1
		l.Requests.EnrollRate = -1
		l.Requests.UnauthBodyTimeout = 5 * time.Minute // longer than the test
	})
	ctx := context.Background()
	bare := filepath.Join(t.TempDir(), "fleet.git")
	gitserver.InitBare(t, bare)
	w := gitserver.NewWork(t, bare)
	for i := range 3 {
		w.WriteFile(t, fmt.Sprintf("app/cm%d.yaml", i), configMap(fmt.Sprintf("cm%d", i), "v1"))
	}
	w.CommitAndPush(t, "three objects")
	if _, err := h.op.AddSource(ctx, wire.SourceSpec{Name: "s", Repo: bare, Paths: []string{"app"}, Targets: []string{"env=dev"}}); err != nil {
		t.Fatal(err)
	}
	e := enrollKeep(t, h, "edge", map[string]string{"env": "dev"})
	sm := pollUntil(t, e.agent, 0, "", func(m wire.Manifest) bool { return len(m.Bundles) == 1 && len(m.Bundles[0].Objects) == 3 })
	m, err := wire.DecodeManifest(sm)
	if err != nil {
		t.Fatal(err)
	}
	waitCounts(t, h, "only the operator's connection open", func(a addrConns, _ int) bool { return a.unauth == 1 })

	// The flood: each connection sends an enrollment's headers, then its
	// body a byte a second, never finishing.
	tctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	t.Cleanup(func() { stop(); wg.Wait() })
	for range flood {
		c := dialTLS(t, h)
		if _, err := fmt.Fprint(c, "POST /v1/enroll HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\nContent-Length: 60000\r\n\r\n{"); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			for {
				select {
				case <-tctx.Done():
					return
				case <-tick.C:
					if _, err := c.Write([]byte(" ")); err != nil {
						return
					}
				}
			}
		}()
	}
	waitCounts(t, h, "the flood connected", func(a addrConns, _ int) bool { return a.unauth == flood+1 })

	// A generous liveness deadline per call, not a performance figure:
	// before the fix these answered 503 after a second's queue.
	call := func(what string, fn func(context.Context) error) {
		t.Helper()
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := fn(cctx); err != nil {
			t.Fatalf("%s during the flood: %v", what, err)
		}
	}
	base := wire.Hash(sm.Content)
	for round := range 5 {
		call("status", func(ctx context.Context) error {
			return e.agent.Status(ctx, wire.StatusReport{AppliedGeneration: m.Generation})
		})
		call("objects", func(ctx context.Context) error {
			objs, err := e.agent.Objects(ctx, m.Bundles[0].Objects)
			if err == nil && len(objs) != 3 {
				err = fmt.Errorf("%d objects, want 3", len(objs))
			}
			return err
		})
		call("long-poll", func(ctx context.Context) error {
			got, err := e.agent.Manifest(ctx, m.Generation, base)
			if err == nil && got != nil {
				err = fmt.Errorf("round %d: a new manifest with nothing changed", round)
			}
			return err
		})
	}
	call("enrolling a new cluster", func(context.Context) error {
		enrollKeep(t, h, "newcomer", nil)
		return nil
	})
	if a, _ := h.srv.ln.counts(loopback); a.unauth < flood {
		t.Errorf("the flood ended early (%d connections left): the test measured nothing", a.unauth)
	}
}
