package e2e

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"flotilla.io/flotilla/internal/wire"
)

const crashNS = "e2e-crash"

// crashBundle is a bundle of n ConfigMaps whose values carry rev, so that
// every revision rewrites every object.
func crashBundle(n, rev int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "---\n%s", edgeCM(fmt.Sprintf("crash-%02d", i), strconv.Itoa(rev)))
	}
	return b.String()
}

// agentProcess is flotilla-agent run as a subprocess, so it can be killed.
type agentProcess struct {
	cmd  *exec.Cmd
	logs *syncBuffer
}

func buildAgent(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "flotilla-agent")
	out, err := exec.Command("go", "build", "-o", bin, "flotilla.io/flotilla/cmd/flotilla-agent").CombinedOutput()
	if err != nil {
		t.Fatalf("building flotilla-agent: %v\n%s", err, out)
	}
	return bin
}

func startAgentProcess(t *testing.T, bin string, args ...string) *agentProcess {
	t.Helper()
	p := &agentProcess{cmd: exec.Command(bin, args...), logs: &syncBuffer{}}
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting agent: %v", err)
	}
	return p
}

func (p *agentProcess) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_ = p.cmd.Wait()
}

// TestAgentCrashConsistency kills the agent with SIGKILL at random points
// while the hub issues new generations; every restart must load a valid
// state and the last one must converge. Then corrupted state files are
// refused with a clear message and the agent recovers.
// FLOTILLA_CRASH_ITERATIONS raises the number of kills for a long run.
func TestAgentCrashConsistency(t *testing.T) {
	iterations := 50
	if v, err := strconv.Atoi(os.Getenv("FLOTILLA_CRASH_ITERATIONS")); err == nil && v > 0 {
		iterations = v
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d, %d iterations", seed, iterations)
	rng := rand.New(rand.NewPCG(seed, seed))
	cs := clientset(t, prod)
	if err := ensureNamespace(cs, crashNS); err != nil {
		t.Fatal(err)
	}
	bin := buildAgent(t)
	f := newFleet(t)
	const objects = 20
	f.work.WriteFile(t, "crash/fleet.yaml", "defaultNamespace: "+crashNS+"\n")
	f.work.WriteFile(t, "crash/cms.yaml", crashBundle(objects, 0))
	f.work.CommitAndPush(t, "rev 0")
	f.startHub()
	if _, err := f.op.AddSource(t.Context(), wire.SourceSpec{Name: "crash", Repo: f.repoURL, Poll: wire.Duration(time.Second), Targets: []string{"env=crash"}}); err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(f.dir, "kubeconfig")
	if err := prod.WriteKubeconfig(kubeconfig); err != nil {
		t.Fatal(err)
	}
	stateDir := filepath.Join(f.dir, "agent-crash")
	args := []string{"--kubeconfig", kubeconfig, "--state-dir", stateDir, "--name", "crash", "--resync", "2s", "--log-level", "debug"}

	// Enrol once, undisturbed: a bootstrap token is single-use.
	p := startAgentProcess(t, bin, append(args, "--token", f.token("crash"))...)
	eventually(t, time.Minute, "the first convergence", func() error { return f.converged("crash") })
	p.kill()

	rev := 0
	for i := range iterations {
		if i%2 == 0 {
			rev++
			f.work.WriteFile(t, "crash/cms.yaml", crashBundle(objects, rev))
			f.work.CommitAndPush(t, fmt.Sprintf("rev %d", rev))
		}
		p := startAgentProcess(t, bin, args...)
		// The kill point itself is the fault injected, not a wait.
		time.Sleep(time.Duration(rng.Int64N(int64(900 * time.Millisecond))))
		p.kill()
		if logs := p.logs.String(); strings.Contains(logs, "kept state refused") || strings.Contains(logs, "panic") {
			t.Fatalf("iteration %d: restart found an invalid state:\n%s", i, logs)
		}
	}
	p = startAgentProcess(t, bin, args...)
	defer p.kill()
	eventually(t, time.Minute, fmt.Sprintf("convergence on rev %d after %d kills", rev, iterations), func() error {
		for i := range objects {
			if err := wantValue(cs, crashNS, fmt.Sprintf("crash-%02d", i), "v", strconv.Itoa(rev))(); err != nil {
				return err
			}
		}
		return f.converged("crash")
	})
	if logs := p.logs.String(); strings.Contains(logs, "kept state refused") {
		t.Fatalf("the last restart found an invalid state:\n%s", logs)
	}
	p.kill()

	t.Run("corrupted state files", func(t *testing.T) {
		testCorruptState(t, f, bin, args, stateDir)
	})
}

func testCorruptState(t *testing.T, f *fleet, bin string, args []string, stateDir string) {
	manifest := filepath.Join(stateDir, "manifest.json")
	tests := []struct {
		name    string
		corrupt func(t *testing.T)
		want    string
	}{
		{"truncated manifest", func(t *testing.T) {
			data := readFile(t, manifest)
			writeState(t, manifest, data[:len(data)/3])
		}, "manifest.json is corrupt or truncated"},
		{"bit flipped in an object", func(t *testing.T) {
			objs, _ := filepath.Glob(filepath.Join(stateDir, "objects", "*.json"))
			if len(objs) == 0 {
				t.Fatal("no kept objects")
			}
			for _, o := range objs {
				data := readFile(t, o)
				data[len(data)/2] ^= 0x04
				writeState(t, o, data)
			}
		}, "is corrupt"},
		{"wrong signature", func(t *testing.T) {
			data := readFile(t, manifest)
			// The signature is base64 in JSON; change one of its characters.
			i := strings.Index(string(data), `"signature":"`) + len(`"signature":"`) + 5
			if data[i] == 'A' {
				data[i] = 'B'
			} else {
				data[i] = 'A'
			}
			writeState(t, manifest, data)
		}, "manifest.json fails verification"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.corrupt(t)
			p := startAgentProcess(t, bin, args...)
			defer p.kill()
			eventually(t, 30*time.Second, "the refusal in the log", func() error {
				if logs := p.logs.String(); !strings.Contains(logs, tc.want) {
					return fmt.Errorf("log has no %q yet", tc.want)
				}
				return nil
			})
			eventually(t, time.Minute, "recovery", func() error { return f.converged("crash") })
			// Recovery rewrites a good state: the next start is clean.
			p.kill()
			q := startAgentProcess(t, bin, args...)
			defer q.kill()
			eventually(t, 30*time.Second, "a clean restart", func() error {
				logs := q.logs.String()
				if strings.Contains(logs, "kept state refused") {
					return fmt.Errorf("state still refused after recovery:\n%s", logs)
				}
				if !strings.Contains(logs, "reconciling kept manifest") {
					return fmt.Errorf("kept manifest not loaded yet")
				}
				return nil
			})
		})
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func writeState(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
