package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"flotilla.io/flotilla/internal/wire"
)

const updateNS = "e2e-update"

// buildVersion builds flotilla-agent reporting version, as a release
// pipeline would build two consecutive versions.
func buildVersion(t *testing.T, dir, version, pkg string) string {
	t.Helper()
	bin := filepath.Join(dir, "build-"+version)
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-X main.version="+version, "-o", bin, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", version, err, out)
	}
	return bin
}

// TestAgentUpdates runs a supervised agent as a systemd unit would, and
// updates it over the air through the hub: to a new build and back, each
// as a delta from the build it runs; then to a build that crashes at
// start-up, which the supervisor rolls back on its own while the cluster
// keeps its bundles. Every step checks the binary on disk and what
// `clusters list` reports.
func TestAgentUpdates(t *testing.T) {
	dir := t.TempDir()
	v1 := buildVersion(t, dir, "v1", "flotilla.io/flotilla/cmd/flotilla-agent")
	v2 := buildVersion(t, dir, "v2", "flotilla.io/flotilla/cmd/flotilla-agent")
	crash := buildVersion(t, dir, "v3-crash", "./testdata/crashagent")

	cs := clientset(t, prod)
	if err := ensureNamespace(cs, updateNS); err != nil {
		t.Fatal(err)
	}
	f := newFleet(t)
	f.work.WriteFile(t, "update/fleet.yaml", "defaultNamespace: "+updateNS+"\n")
	f.work.WriteFile(t, "update/cm.yaml", edgeCM("update-cm", "one"))
	f.work.CommitAndPush(t, "update bundle")
	f.startHub()
	ctx := t.Context()
	if _, err := f.op.AddSource(ctx, wire.SourceSpec{Name: "update", Repo: f.repoURL, Poll: wire.Duration(time.Second), Targets: []string{"env=ota"}}); err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(f.dir, "kubeconfig-ota")
	if err := prod.WriteKubeconfig(kubeconfig); err != nil {
		t.Fatal(err)
	}
	// The installed binary, in a directory the agent may write, as the
	// systemd unit of docs/agent.md has it.
	installed := filepath.Join(dir, "bin", "flotilla-agent")
	if err := os.MkdirAll(filepath.Dir(installed), 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, v1, installed)
	p := startAgentProcess(t, installed, "--supervise", "--update-deadline", "60s",
		"--kubeconfig", kubeconfig, "--state-dir", filepath.Join(dir, "state"), "--name", "ota", "--resync", "2s",
		"--token", f.token("ota"))
	defer func() {
		p.stop()
		if t.Failed() {
			t.Logf("agent and supervisor logs:\n%s", p.logs.String())
			return
		}
		// The figures docs/benchmarks.md quotes: bytes per update, time
		// from hand-over to promotion or rollback.
		for _, line := range strings.Split(p.logs.String(), "\n") {
			if strings.Contains(line, "handing over") || strings.Contains(line, "promoted") || strings.Contains(line, "rolled back") {
				t.Log(line)
			}
		}
	}()
	eventually(t, time.Minute, "v1 to converge and report its version", func() error {
		return agentAt(f, "ota", "v1", "")
	})

	push := func(version, file string) time.Time {
		t.Helper()
		binary, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.op.PushRelease(ctx, wire.ReleaseSpec{Version: version, Arch: runtime.GOARCH, Targets: []string{"env=ota"}}, binary); err != nil {
			t.Fatalf("pushing %s: %v", version, err)
		}
		return time.Now()
	}

	t.Run("refusals at push", func(t *testing.T) {
		binary, _ := os.ReadFile(v2)
		other := map[string]string{"amd64": "arm64", "arm64": "amd64"}[runtime.GOARCH]
		for _, spec := range []wire.ReleaseSpec{
			{Version: "v2", Arch: other, Targets: []string{"env=ota"}},
			{Version: "bad version!", Arch: runtime.GOARCH},
			{Version: "v2", Arch: runtime.GOARCH, Targets: []string{"env in ("}},
		} {
			if _, err := f.op.PushRelease(ctx, spec, binary); err == nil {
				t.Errorf("push of %+v succeeded, want a refusal", spec)
			} else {
				t.Logf("refused as expected: %v", err)
			}
		}
		if _, err := f.op.PushRelease(ctx, wire.ReleaseSpec{Version: "v2", Arch: runtime.GOARCH}, []byte("#!/bin/sh\necho not an agent\n")); err == nil {
			t.Error("push of a shell script succeeded, want a refusal")
		}
	})

	// The hub holds the build the agent runs, so v2 arrives as a delta.
	push("v1", v1)
	push("v2", v2)
	eventually(t, 3*time.Minute, "the agent to run v2", func() error { return agentAt(f, "ota", "v2", wire.UpdateDone) })
	sameFile(t, installed, v2)
	sameFile(t, installed+".prev", v1)
	if !strings.Contains(p.logs.String(), "encoding=delta") {
		t.Errorf("v2 did not arrive as a delta")
	}

	// Back: v1 pushed again is retargeted and the newest.
	push("v1", v1)
	eventually(t, 3*time.Minute, "the agent to run v1 again", func() error { return agentAt(f, "ota", "v1", wire.UpdateDone) })
	sameFile(t, installed, v1)

	// A release that crashes at start-up is rolled back on its own.
	pushed := push("v3-crash", crash)
	eventually(t, 3*time.Minute, "the crashing release to be rolled back", func() error {
		c, err := f.cluster("ota")
		if err != nil {
			return err
		}
		if u := c.AgentUpdate; u == nil || u.Version != "v3-crash" || u.State != wire.UpdateFailed {
			return fmt.Errorf("agent update %+v, want v3-crash Failed", c.AgentUpdate)
		}
		return agentAt(f, "ota", "v1", "")
	})
	t.Logf("crashing release pushed to rollback reported by the hub: %s", time.Since(pushed).Round(time.Millisecond))
	sameFile(t, installed, v1)
	if _, err := os.Stat(installed + ".next"); !os.IsNotExist(err) {
		t.Errorf("the failed release is still beside the binary (%v)", err)
	}
	c, _ := f.cluster("ota")
	t.Logf("clusters list reports: agentVersion %s, desired %s, update %+v", c.AgentVersion, c.DesiredAgentVersion, *c.AgentUpdate)
	if err := f.converged("ota"); err != nil {
		t.Errorf("the cluster lost its bundles: %v", err)
	}
	if err := wantValue(cs, updateNS, "update-cm", "v", "one")(); err != nil {
		t.Error(err)
	}
}

// agentAt checks that the cluster converged, its agent reports version
// and, when state is given, that its last update ended so.
func agentAt(f *fleet, name, version, state string) error {
	c, err := f.cluster(name)
	if err != nil {
		return err
	}
	if c.AgentVersion != version {
		return fmt.Errorf("agentVersion %q, want %q (update %+v)", c.AgentVersion, version, c.AgentUpdate)
	}
	if state != "" && (c.AgentUpdate == nil || c.AgentUpdate.State != state || c.AgentUpdate.Version != version) {
		return fmt.Errorf("agent update %+v, want %s %s", c.AgentUpdate, version, state)
	}
	return f.converged(name)
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

func sameFile(t *testing.T, got, want string) {
	t.Helper()
	a, err1 := os.ReadFile(got)
	b, err2 := os.ReadFile(want)
	if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
		t.Errorf("%s is not %s (%v, %v)", got, filepath.Base(want), err1, err2)
	}
}

// stop asks the process (a supervisor: it stops its agent first) to end,
// and kills it if it has not within 30 s.
func (p *agentProcess) stop() {
	_ = p.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}
