package agent

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"flotilla.io/flotilla/internal/wire"
)

// TestSupervisorInstallDir runs the supervisor as the in-cluster
// Deployment does: its own binary is an image's (read-only, elsewhere)
// and the agent runs from, and updates in, an install dir. The steps run
// in order over one install dir, each a supervisor start until the
// agents it runs have logged the starts the step wants, then a stop.
func TestSupervisorInstallDir(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	exe, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	// Two images, two builds: the same test binary with trailing bytes.
	root := t.TempDir()
	img1 := writeImage(t, filepath.Join(root, "image1"), append(append([]byte{}, exe...), "image 1"...))
	img2 := writeImage(t, filepath.Join(root, "image2"), append(append([]byte{}, exe...), "image 2"...))
	dir, state := filepath.Join(root, "bin"), filepath.Join(root, "state")
	for _, d := range []string{dir, state} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "flotilla-agent")
	build := map[string][]byte{"img1": read(t, img1), "img2": read(t, img2)}
	build["rel1"] = append(append([]byte{}, build["img1"]...), "release"...) // what fakeUpdate writes
	build["rel2"] = append(append([]byte{}, build["img2"]...), "release"...)
	name := map[string]string{}
	for n, b := range build {
		name[wire.Hash(b)[:12]] = n
	}

	tests := []struct {
		name         string
		image        string
		agent        string // FLOTILLA_FAKE_AGENT
		release      string // FLOTILLA_FAKE_RELEASE
		freshRecord  bool   // start with no agent-update.json
		pendingTrial bool   // a release recorded for trial before the start
		wantStarts   []string
		wantLast     string // the outcome recorded, "" for none
		wantBin      string
		wantPrev     string // "" for no BINARY.prev
		wantOrigin   string
	}{
		{name: "first start copies the image into the empty dir", image: img1, agent: "healthy",
			wantStarts: []string{"flotilla-agent img1"}, wantBin: "img1", wantOrigin: "img1"},
		{name: "an update is promoted in the install dir", image: img1, agent: "update", release: "healthy", freshRecord: true,
			wantStarts: []string{"flotilla-agent img1", "flotilla-agent.next rel1"}, wantLast: wire.UpdateDone,
			wantBin: "rel1", wantPrev: "img1", wantOrigin: "img1"},
		{name: "a restart keeps the promoted update, not the image", image: img1, agent: "healthy",
			wantStarts: []string{"flotilla-agent rel1"}, wantLast: wire.UpdateDone, wantBin: "rel1", wantPrev: "img1", wantOrigin: "img1"},
		{name: "a new image replaces the update and drops a trial", image: img2, agent: "healthy", pendingTrial: true,
			wantStarts: []string{"flotilla-agent img2"}, wantBin: "img2", wantPrev: "rel1", wantOrigin: "img2"},
		{name: "a release that crashes at start is rolled back in the install dir", image: img2, agent: "update", release: "crash", freshRecord: true,
			wantStarts: []string{"flotilla-agent img2", "flotilla-agent.next rel2", "flotilla-agent img2"}, wantLast: wire.UpdateFailed,
			wantBin: "img2", wantPrev: "rel1", wantOrigin: "img2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.freshRecord {
				if err := os.Remove(filepath.Join(state, updateFile)); err != nil && !os.IsNotExist(err) {
					t.Fatal(err)
				}
			}
			if tc.pendingTrial {
				if err := os.WriteFile(bin+nextSuffix, []byte("a release"), 0o755); err != nil {
					t.Fatal(err)
				}
				rec := updateRecord{Trial: &trial{Version: "v9", Digest: wire.Hash([]byte("a release")), From: "v1", Started: time.Now()}}
				if err := rec.save(state); err != nil {
					t.Fatal(err)
				}
			}
			log := filepath.Join(t.TempDir(), "starts")
			t.Setenv("FLOTILLA_FAKE_LOG", log)
			t.Setenv("FLOTILLA_FAKE_AGENT", tc.agent)
			t.Setenv("FLOTILLA_FAKE_RELEASE", tc.release)
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() {
				done <- Supervise(ctx, SuperviseOptions{Binary: tc.image, InstallDir: dir, Args: []string{state}, StateDir: state,
					Deadline: 10 * time.Second, StopGrace: 5 * time.Second})
			}()
			var starts []string
			var rec updateRecord
			deadline := time.Now().Add(30 * time.Second)
			for {
				starts = readStarts(t, log, name)
				rec, err = loadUpdateRecord(state)
				if err == nil && cmp.Equal(starts, tc.wantStarts) && rec.Trial == nil && (tc.wantLast == "") == (rec.Last == nil) {
					break
				}
				select {
				case err := <-done:
					t.Fatalf("Supervise returned %v; agents started: %v", err, starts)
				default:
				}
				if time.Now().After(deadline) {
					cancel()
					t.Fatalf("agents started %v, want %v; recorded %+v (%v)", starts, tc.wantStarts, rec, err)
				}
				time.Sleep(20 * time.Millisecond)
			}
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Supervise = %v", err)
			}
			if tc.wantLast != "" && rec.Last.State != tc.wantLast {
				t.Errorf("outcome %+v, want %s", rec.Last, tc.wantLast)
			}
			if got := name[digestOf(t, bin)]; got != tc.wantBin {
				t.Errorf("the install dir's binary is %q, want %q", got, tc.wantBin)
			}
			if got := name[digestOf(t, bin+prevSuffix)]; got != tc.wantPrev {
				t.Errorf("%s is %q, want %q", prevSuffix, got, tc.wantPrev)
			}
			origin, _ := os.ReadFile(bin + originSuffix)
			if got := name[strings.TrimSpace(string(origin))[:min(12, len(origin))]]; got != tc.wantOrigin {
				t.Errorf("%s names %q, want %q", originSuffix, got, tc.wantOrigin)
			}
			if _, err := os.Stat(bin + nextSuffix); !os.IsNotExist(err) {
				t.Errorf("%s is still there (%v)", nextSuffix, err)
			}
		})
	}
}

// TestSupervisorInstallDirRefused checks that an install dir the
// supervisor cannot use is a clear error before any agent starts.
func TestSupervisorInstallDirRefused(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		setup   func(t *testing.T, root string) string
		wantErr string
	}{
		{"missing", func(t *testing.T, root string) string { return filepath.Join(root, "nope") }, "does not exist"},
		{"a file", func(t *testing.T, root string) string {
			p := filepath.Join(root, "file")
			if err := os.WriteFile(p, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			return p
		}, "is not a directory"},
		{"read-only", func(t *testing.T, root string) string {
			if os.Geteuid() == 0 {
				t.Skip("root writes through a directory's mode bits")
			}
			p := filepath.Join(root, "ro")
			if err := os.Mkdir(p, 0o500); err != nil {
				t.Fatal(err)
			}
			return p
		}, "is not writable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			dir := tc.setup(t, root)
			t.Setenv("FLOTILLA_FAKE_AGENT", "healthy")
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			err := Supervise(ctx, SuperviseOptions{Binary: self, InstallDir: dir, StateDir: root})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), dir) {
				t.Errorf("Supervise = %v, want an error naming %s that says %q", err, dir, tc.wantErr)
			}
		})
	}
}

// TestSupervisorSaysBinaryDirNotWritable: without an install dir, a binary
// directory no release can be written to is said at start, naming it,
// rather than found at the first update.
func TestSupervisorSaysBinaryDirNotWritable(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "gone") // what root cannot write either
	var logged bytes.Buffer
	ctx, cancel := context.WithCancel(t.Context())
	cancel() // the probe only: no agent is started
	err := Supervise(ctx, SuperviseOptions{Binary: filepath.Join(dir, "flotilla-agent"), StateDir: t.TempDir(),
		Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if out := logged.String(); !strings.Contains(out, "not writable") || !strings.Contains(out, "update will be refused") || !strings.Contains(out, dir) {
		t.Errorf("supervisor logged %q; want it to say that updates will be refused, naming %s", out, dir)
	}
}

// TestSupervisorRemovesLeftovers: the temporary files of writes a crash
// cut short (a download, a release or a copy being written, of this
// build and of earlier ones) are removed at the supervisor's start, and
// nothing else is.
func TestSupervisorRemovesLeftovers(t *testing.T) {
	for _, installDir := range []bool{false, true} {
		t.Run(fmt.Sprintf("install dir %t", installDir), func(t *testing.T) {
			root := t.TempDir()
			stateDir, binDir := filepath.Join(root, "state"), filepath.Join(root, "bin")
			for _, d := range []string{stateDir, binDir} {
				if err := os.Mkdir(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			o := SuperviseOptions{Binary: filepath.Join(binDir, "flotilla-agent"), StateDir: stateDir}
			if installDir {
				o.Binary = filepath.Join(root, "image", "flotilla-agent")
				o.InstallDir = binDir
			}
			leftovers := []string{
				filepath.Join(stateDir, ".release-download"),
				filepath.Join(stateDir, ".release-download-123"),
				filepath.Join(binDir, ".flotilla-agent.next.tmp-456"),
				filepath.Join(binDir, ".flotilla-agent.tmp-789"),
				filepath.Join(binDir, ".flotilla-agent.next-123"),
				filepath.Join(binDir, ".flotilla-agent-123"),
				filepath.Join(binDir, ".write-probe-1"),
			}
			kept := []string{
				filepath.Join(stateDir, "agent-update.json"),
				filepath.Join(binDir, "flotilla-agent.next"),
				filepath.Join(binDir, "flotilla-agent.prev"),
				filepath.Join(binDir, "other"),
			}
			for _, p := range append(slices.Clone(leftovers), kept...) {
				if err := os.WriteFile(p, []byte("{}"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithCancel(t.Context())
			cancel()              // no agent is started
			_ = Supervise(ctx, o) // with an install dir, it fails on the missing image after the clean-up
			for _, p := range leftovers {
				if _, err := os.Stat(p); !os.IsNotExist(err) {
					t.Errorf("%s left in place (%v)", p, err)
				}
			}
			for _, p := range kept {
				if _, err := os.Stat(p); err != nil {
					t.Errorf("%s removed: %v", p, err)
				}
			}
		})
	}
}

func TestChildArgs(t *testing.T) {
	tests := []struct {
		args, want []string
	}{
		{[]string{"--supervise", "--state-dir=/s"}, []string{"--state-dir=/s"}},
		{[]string{"agent", "--install-dir", "/b", "--supervise=true", "--name", "x"}, []string{"agent", "--name", "x"}},
		{[]string{"-install-dir=/b", "-supervise", "--update-deadline", "1m"}, []string{"--update-deadline", "1m"}},
		{[]string{"--name", "x", "--", "--supervise"}, []string{"--name", "x", "--", "--supervise"}},
	}
	for _, tc := range tests {
		if diff := cmp.Diff(tc.want, ChildArgs(tc.args)); diff != "" {
			t.Errorf("ChildArgs(%q) (-want +got):\n%s", tc.args, diff)
		}
	}
}

// writeImage writes b as dir/flotilla-agent, read-only as an image's.
func writeImage(t *testing.T, dir string, b []byte) string {
	t.Helper()
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "flotilla-agent")
	if err := os.WriteFile(p, b, 0o555); err != nil {
		t.Fatal(err)
	}
	return p
}

func read(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// digestOf is the first 12 hex digits of p's SHA-256, "" when p is
// missing.
func digestOf(t *testing.T, p string) string {
	t.Helper()
	d, err := fileDigest(p)
	if os.IsNotExist(err) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return d[:12]
}

// readStarts reads the agents' start log, naming builds by name.
func readStarts(t *testing.T, log string, name map[string]string) []string {
	t.Helper()
	data, err := os.ReadFile(log)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var starts []string
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		file, digest, _ := strings.Cut(line, " ")
		if n, ok := name[digest]; ok {
			digest = n
		}
		starts = append(starts, file+" "+digest)
	}
	return starts
}
