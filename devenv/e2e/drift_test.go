package e2e

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"flotilla.io/flotilla/devenv/kubeapiserver"
	"flotilla.io/flotilla/internal/agent"
	"flotilla.io/flotilla/internal/kubeapply"
	"flotilla.io/flotilla/internal/wire"
)

// gapCMs is a bundle of n ConfigMaps, gap-00 … gap-(n-1), each with v=1.
func gapCMs(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "---\n%s", edgeCM(fmt.Sprintf("gap-%02d", i), "1"))
	}
	return b.String()
}

// waitLog polls a process's log until it holds line.
func waitLog(t *testing.T, logs *syncBuffer, line string) {
	t.Helper()
	eventually(t, 30*time.Second, "the log line "+line, func() error {
		if !strings.Contains(logs.String(), line) {
			return fmt.Errorf("not logged yet")
		}
		return nil
	})
}

// TestDriftRestartAndDelete is the sequence of issue 15: with the hub
// stopped, the agent is killed with SIGKILL and started again, and a
// managed ConfigMap is deleted (or edited) at once. The object must be
// back within 10 s, every time. The moment of the change moves from run
// to run: as the process starts, once it has loaded its kept manifest,
// and once it has reconciled it (before the drift watch has listed: the
// gap the issue found). FLOTILLA_GAP_RUNS raises the number of runs.
func TestDriftRestartAndDelete(t *testing.T) {
	runs := 8
	if v, err := strconv.Atoi(os.Getenv("FLOTILLA_GAP_RUNS")); err == nil && v > 0 {
		runs = v
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	const ns = "e2e-gap"
	cs := clientset(t, prod)
	if err := ensureNamespace(cs, ns); err != nil {
		t.Fatal(err)
	}
	bin := buildAgent(t)
	f := newFleet(t)
	const objects = 50
	f.work.WriteFile(t, "gap/fleet.yaml", "defaultNamespace: "+ns+"\n")
	f.work.WriteFile(t, "gap/cms.yaml", gapCMs(objects))
	f.work.CommitAndPush(t, "gap bundle")
	f.startHub()
	if _, err := f.op.AddSource(t.Context(), wire.SourceSpec{Name: "gap", Repo: f.repoURL, Poll: wire.Duration(time.Second), Targets: []string{"env=gap"}}); err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(f.dir, "kubeconfig")
	if err := prod.WriteKubeconfig(kubeconfig); err != nil {
		t.Fatal(err)
	}
	// The default resync (30 s): only the drift path may restore in time.
	args := []string{"--kubeconfig", kubeconfig, "--state-dir", filepath.Join(f.dir, "agent-gap"), "--name", "gap", "--log-level", "debug"}
	p := startAgentProcess(t, bin, append(args, "--token", f.token("gap"))...)
	t.Cleanup(func() { p.kill() })
	eventually(t, time.Minute, "the first convergence", func() error { return f.converged("gap") })
	f.stopHub()

	moments := []struct {
		name  string
		after string        // log line to wait for before the change
		delay time.Duration // else a random point within this
	}{
		{name: "as the process starts"},
		{name: "after loading the kept manifest", after: "reconciling kept manifest"},
		{name: "after reconciling", after: "msg=applied "},
		{name: "at a random point of the first second", delay: time.Second},
	}
	for i := range runs {
		m := moments[i%len(moments)]
		name := fmt.Sprintf("gap-%02d", i%objects)
		edit := i%2 == 1
		what := "deleted"
		if edit {
			what = "edited"
		}
		t.Logf("run %d: %s %s %s", i, name, what, m.name)
		began := time.Now()
		p.kill()
		p = startAgentProcess(t, bin, args...)
		switch {
		case m.after != "":
			waitLog(t, p.logs, m.after)
		case m.delay > 0:
			// The moment itself is the fault injected, not a wait.
			time.Sleep(time.Duration(rng.Int64N(int64(m.delay))))
		}
		var err error
		if edit {
			err = editConfigMap(cs, ns, name, "v", "by-hand")
		} else {
			err = deleteConfigMap(cs, ns, name)
		}
		if err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		eventually(t, 10*time.Second, fmt.Sprintf("run %d: %s %s %s restored", i, name, what, m.name), wantValue(cs, ns, name, "v", "1"))
		t.Logf("run %d: restored %v after the restart", i, time.Since(began).Round(10*time.Millisecond))
	}
	p.kill()
}

// startGapAgent sets up a hub with source name, whose bundles are the
// directories of files (path → content), targeted at an agent named name
// that runs in-process and applies to cfg through wrap; it returns once
// the cluster converged.
func startGapAgent(t *testing.T, name string, cluster *kubeapiserver.Server, cfg *rest.Config, files map[string]string, wrap func(http.RoundTripper) http.RoundTripper, tune func(*agent.Options)) *fleet {
	t.Helper()
	f := newFleet(t)
	for path, content := range files {
		f.work.WriteFile(t, path, content)
	}
	f.work.CommitAndPush(t, name+" bundles")
	f.startHub()
	if _, err := f.op.AddSource(t.Context(), wire.SourceSpec{Name: name, Repo: f.repoURL, Poll: wire.Duration(time.Second), Targets: []string{"env=" + name}}); err != nil {
		t.Fatal(err)
	}
	f.startAgentWith(name, cluster, f.token(name), func(o *agent.Options) {
		via(t, cfg, wrap)(o)
		if tune != nil {
			tune(o)
		}
	})
	eventually(t, time.Minute, "the first convergence", func() error { return f.converged(name) })
	return f
}

// TestDriftDuringRelist: a change made while the drift watch is down is
// corrected once it is back, whether the watch resumes where it stopped
// or must list again because the server no longer holds that point.
func TestDriftDuringRelist(t *testing.T) {
	const ns = "e2e-relist"
	cs := clientset(t, prod)
	if err := ensureNamespace(cs, ns); err != nil {
		t.Fatal(err)
	}
	faults := newWatchFaults()
	startGapAgent(t, "relist", prod, prod.Config(), map[string]string{
		"relist/fleet.yaml": "defaultNamespace: " + ns + "\n",
		"relist/cms.yaml":   gapCMs(3),
	}, faults.wrap, nil)
	tests := []struct {
		name   string
		expire bool   // the resuming watch is answered 410 Gone
		hold   string // the request held while the change is made
		edit   bool
	}{
		{"deleted while the watch resumes", false, "watch", false},
		{"deleted while the watch lists again", true, "list", false},
		{"edited while the watch lists again", true, "list", true},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			eventually(t, 30*time.Second, "a drift watch of ConfigMaps", func() error {
				if faults.watching() == 0 {
					return fmt.Errorf("none open")
				}
				return nil
			})
			faults.set(tc.expire, tc.hold)
			faults.cut()
			var release func()
			select {
			case release = <-faults.held:
			case <-time.After(30 * time.Second):
				t.Fatalf("no %s of ConfigMaps held after the watch was cut", tc.hold)
			}
			name := fmt.Sprintf("gap-%02d", i%3)
			var err error
			if tc.edit {
				err = editConfigMap(cs, ns, name, "v", "by-hand")
			} else {
				err = deleteConfigMap(cs, ns, name)
			}
			faults.set(false, "")
			release()
			if err != nil {
				t.Fatal(err)
			}
			eventually(t, 10*time.Second, name+" restored", wantValue(cs, ns, name, "v", "1"))
		})
	}
}

// TestDriftAcrossAPIServerRestart: a change made as the API server comes
// back from a restart (same data, same port) is corrected, made before
// the agent's watch is back and as it comes back.
func TestDriftAcrossAPIServerRestart(t *testing.T) {
	const ns = "e2e-restart"
	dir := t.TempDir()
	srv, err := kubeapiserver.Start(t.Context(), kubeapiserver.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })
	if err := ensureNamespace(clientset(t, srv), ns); err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := srv.WriteKubeconfig(kubeconfig); err != nil {
		t.Fatal(err)
	}
	// Client certificates from the data dir: valid across restarts, unlike
	// the server's loopback token.
	cfg, err := kubeapply.LoadConfig(kubeconfig, "e2e")
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatal(err)
	}
	faults := newWatchFaults()
	startGapAgent(t, "restart", srv, cfg, map[string]string{
		"restart/fleet.yaml": "defaultNamespace: " + ns + "\n",
		"restart/cms.yaml":   gapCMs(3),
	}, faults.wrap, nil)
	for i, beforeWatch := range []bool{true, false} {
		eventually(t, 30*time.Second, "a drift watch of ConfigMaps", func() error {
			if faults.watching() == 0 {
				return fmt.Errorf("none open")
			}
			return nil
		})
		// An in-process API server waits a minute for open watches when
		// it stops; a real one ends them as its process exits. End them
		// here, and keep the agent's next watch from the server until it
		// is back.
		faults.set(false, "watch")
		faults.cut()
		var release func()
		select {
		case release = <-faults.held:
		case <-time.After(30 * time.Second):
			t.Fatal("the agent did not watch again after its watch ended")
		}
		if err := srv.Stop(); err != nil {
			t.Fatal(err)
		}
		srv, err = kubeapiserver.Start(t.Context(), kubeapiserver.Options{Dir: dir, Port: port})
		if err != nil {
			t.Fatalf("restarting the API server: %v", err)
		}
		if !beforeWatch {
			release()
		}
		cs := clientset(t, srv)
		deleted, edited := fmt.Sprintf("gap-%02d", i), fmt.Sprintf("gap-%02d", i+1)
		if err := deleteConfigMap(cs, ns, deleted); err != nil {
			t.Fatal(err)
		}
		if err := editConfigMap(cs, ns, edited, "v", "by-hand"); err != nil {
			t.Fatal(err)
		}
		release()
		eventually(t, 10*time.Second, fmt.Sprintf("restart %d: %s restored", i, deleted), wantValue(cs, ns, deleted, "v", "1"))
		eventually(t, 10*time.Second, fmt.Sprintf("restart %d: %s restored", i, edited), wantValue(cs, ns, edited, "v", "1"))
	}
}
