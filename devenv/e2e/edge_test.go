package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"flotilla.io/flotilla/internal/testenv/faultproxy"
	"flotilla.io/flotilla/internal/wire"
)

func edgeCM(name, value string) string {
	return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\ndata:\n  v: \"" + value + "\"\n"
}

// edgeFleet is a hub behind a fault-injecting proxy, a source with two
// bundles (*-app corrects drift, *-watched only reports it) and an
// agent for the prod cluster that reaches the hub only through the proxy.
type edgeFleet struct {
	*fleet
	proxy *faultproxy.Proxy
	// ns and watchedNS hold the two bundles' objects. Each bundle has its
	// own namespace (the hub renders a bundle's defaultNamespace as one of
	// its objects, and two bundles must not own one object), and each test
	// its own (an agent prunes the bundles of an earlier test's hub, and a
	// pruned namespace stays Terminating without a controller manager).
	ns, watchedNS string
}

// newEdgeFleet sets up source name (bundles name-app and name-watched).
func newEdgeFleet(t *testing.T, name string) *edgeFleet {
	t.Helper()
	edgeNS, watchedNS := "e2e-"+name, "e2e-"+name+"-watched"
	for _, ns := range []string{edgeNS, watchedNS} {
		if err := ensureNamespace(clientset(t, prod), ns); err != nil {
			t.Fatal(err)
		}
	}
	f := newFleet(t)
	f.hubAddr = freeAddr(f)
	p, err := faultproxy.Start("", f.hubAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	f.work.WriteFile(t, "app/fleet.yaml", "defaultNamespace: "+edgeNS+"\n")
	f.work.WriteFile(t, "app/a.yaml", edgeCM("keep-a", "1"))
	f.work.WriteFile(t, "app/b.yaml", edgeCM("keep-b", "1"))
	f.work.WriteFile(t, "watched/fleet.yaml", "defaultNamespace: "+watchedNS+"\ncorrectDrift:\n  enabled: false\n")
	f.work.WriteFile(t, "watched/w.yaml", edgeCM("watched", "1"))
	f.work.CommitAndPush(t, "edge bundles")
	f.startHubBehind(p)
	if _, err := f.op.AddSource(context.Background(), wire.SourceSpec{Name: name, Repo: f.repoURL, Poll: wire.Duration(time.Second), Targets: []string{"env=edge"}}); err != nil {
		t.Fatalf("adding source: %v", err)
	}
	f.startEdgeAgent("edge", prod, f.token("edge"))
	eventually(t, time.Minute, "the edge cluster to converge", func() error { return f.converged("edge") })
	return &edgeFleet{fleet: f, proxy: p, ns: edgeNS, watchedNS: watchedNS}
}

// TestEdgeOffline: with the hub stopped, drift is corrected from the kept
// state, also after the agent restarts; status produced offline arrives
// when the hub returns, and a new commit converges.
func TestEdgeOffline(t *testing.T) {
	f := newEdgeFleet(t, "eo")
	edgeNS, watchedNS := f.ns, f.watchedNS
	cs := clientset(t, prod)
	restored := func(what string) {
		t.Helper()
		eventually(t, 10*time.Second, what+": keep-a back", wantValue(cs, edgeNS, "keep-a", "v", "1"))
		eventually(t, 10*time.Second, what+": keep-b back", wantValue(cs, edgeNS, "keep-b", "v", "1"))
	}

	t.Run("facts reach the hub", func(t *testing.T) {
		eventually(t, 30*time.Second, "facts", func() error {
			c, err := f.cluster("edge")
			if err != nil {
				return err
			}
			if c.Facts == nil || c.Facts.KubernetesVersion == "" || len(c.Facts.APIVersions) == 0 {
				return fmt.Errorf("facts %+v", c.Facts)
			}
			return nil
		})
	})

	f.stopHub()
	t.Run("hub stopped: deleted and edited objects are restored", func(t *testing.T) {
		if err := deleteConfigMap(cs, edgeNS, "keep-a"); err != nil {
			t.Fatal(err)
		}
		if err := editConfigMap(cs, edgeNS, "keep-b", "v", "by-hand"); err != nil {
			t.Fatal(err)
		}
		restored("with the agent running")
	})

	t.Run("hub stopped: drift with correction off is reported, kept for later", func(t *testing.T) {
		if err := editConfigMap(cs, watchedNS, "watched", "v", "by-hand"); err != nil {
			t.Fatal(err)
		}
		// Not corrected: the value stays as edited.
		eventually(t, 10*time.Second, "the edit to stay", wantValue(cs, watchedNS, "watched", "v", "by-hand"))
		eventually(t, 10*time.Second, "Modified recorded in the agent's log", func() error {
			if !strings.Contains(f.agents["edge"].logs.String(), "drift found, not corrected by policy") {
				return fmt.Errorf("no drift log yet")
			}
			return nil
		})
	})

	t.Run("hub stopped, agent restarted: restored from disk", func(t *testing.T) {
		f.stopAgent("edge")
		if err := deleteConfigMap(cs, edgeNS, "keep-a"); err != nil {
			t.Fatal(err)
		}
		if err := editConfigMap(cs, edgeNS, "keep-b", "v", "by-hand-2"); err != nil {
			t.Fatal(err)
		}
		f.startEdgeAgent("edge", prod, "")
		restored("after a restart without the hub")
	})

	t.Run("hub back: offline status arrives, a new commit converges", func(t *testing.T) {
		f.startHubBehind(f.proxy)
		eventually(t, 30*time.Second, "the offline Modified state at the hub", func() error {
			st, msg, err := f.bundleState("edge", "eo-watched")
			if err != nil {
				return err
			}
			if st != wire.StateModified || !strings.Contains(msg, "watched") {
				return fmt.Errorf("eo-watched is %s (%s)", st, msg)
			}
			return nil
		})
		if err := wantValue(cs, watchedNS, "watched", "v", "by-hand")(); err != nil {
			t.Errorf("drift reverted although correction is off: %v", err)
		}
		f.work.WriteFile(t, "app/a.yaml", edgeCM("keep-a", "2"))
		f.work.CommitAndPush(t, "keep-a 2")
		eventually(t, 30*time.Second, "the new commit", wantValue(cs, edgeNS, "keep-a", "v", "2"))
		eventually(t, 30*time.Second, "the hub to show the new generation applied", func() error {
			c, err := f.cluster("edge")
			if err != nil {
				return err
			}
			if c.AppliedGeneration != c.DesiredGeneration || c.DesiredGeneration < 2 {
				return fmt.Errorf("applied %d of %d", c.AppliedGeneration, c.DesiredGeneration)
			}
			return nil
		})
	})
}

// TestEdgeLinkFaults: with the link cut, black-holed or slowed, the agent
// keeps enforcing (its reconcile loop never waits on the hub) and
// converges on the next commit once the link returns.
func TestEdgeLinkFaults(t *testing.T) {
	f := newEdgeFleet(t, "el")
	edgeNS := f.ns
	cs := clientset(t, prod)
	for i, mode := range []faultproxy.Mode{faultproxy.Cut, faultproxy.BlackHole, faultproxy.Slow} {
		t.Run(mode.String(), func(t *testing.T) {
			f.proxy.SetDelay(300 * time.Millisecond)
			f.proxy.Set(mode)
			defer f.proxy.Set(faultproxy.Pass)
			if err := deleteConfigMap(cs, edgeNS, "keep-b"); err != nil {
				t.Fatal(err)
			}
			eventually(t, 10*time.Second, "keep-b restored while the link is "+mode.String(), wantValue(cs, edgeNS, "keep-b", "v", "1"))

			value := fmt.Sprint(10 + i)
			f.work.WriteFile(t, "app/a.yaml", edgeCM("keep-a", value))
			f.work.CommitAndPush(t, "keep-a "+value)
			if mode != faultproxy.Slow {
				// Nothing unverified gets through a dead link: the old
				// value stays until the link returns.
				eventually(t, 10*time.Second, "the hub to render the commit", func() error {
					c, err := f.cluster("edge")
					if err != nil {
						return err
					}
					if c.DesiredGeneration <= c.AppliedGeneration {
						return fmt.Errorf("desired %d, applied %d", c.DesiredGeneration, c.AppliedGeneration)
					}
					return nil
				})
				if err := wantValue(cs, edgeNS, "keep-a", "v", fmt.Sprint(9+i))(); err != nil && i > 0 {
					t.Errorf("changed while the link was %s: %v", mode, err)
				}
				f.proxy.Set(faultproxy.Pass)
			}
			eventually(t, time.Minute, "the commit after the link returns", wantValue(cs, edgeNS, "keep-a", "v", value))
			eventually(t, time.Minute, "convergence at the hub", func() error { return f.converged("edge") })
		})
	}
}
