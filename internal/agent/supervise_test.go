package agent

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"flotilla.io/flotilla/internal/wire"
)

// The supervisor tests run copies of this test binary as the agent: with
// FLOTILLA_FAKE_AGENT set, TestMain plays the agent instead of testing.
// The installed binary plays FLOTILLA_FAKE_AGENT, the release on trial
// (BINARY.next) FLOTILLA_FAKE_RELEASE. With FLOTILLA_FAKE_LOG set, each
// start appends the name and digest of the binary it runs to that file.
func TestMain(m *testing.M) {
	if mode := os.Getenv("FLOTILLA_FAKE_AGENT"); mode != "" {
		if strings.HasSuffix(os.Args[0], nextSuffix) {
			mode = os.Getenv("FLOTILLA_FAKE_RELEASE")
		}
		fakeAgent(mode)
	}
	os.Exit(m.Run())
}

// fakeAgent behaves as mode says, then exits. In mode "update" it plays
// an agent that installs a release (its own bytes and "release") the
// first time, given the state directory as its argument; once an update
// is recorded it plays "healthy".
func fakeAgent(mode string) {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM)
	if log := os.Getenv("FLOTILLA_FAKE_LOG"); log != "" {
		logStart(log)
	}
	switch mode {
	case "update":
		if len(os.Args) < 2 {
			os.Exit(4)
		}
		if rec, err := loadUpdateRecord(os.Args[1]); err == nil && rec.Trial == nil && rec.Last == nil {
			os.Exit(fakeUpdate(os.Args[1]))
		}
		fallthrough
	case "healthy":
		supervisedFromEnv().healthy()
		<-stop
		os.Exit(0)
	case "hang":
		<-stop
		os.Exit(0)
	case "crash":
		fmt.Fprintln(os.Stderr, "fake release crashing at start-up")
		os.Exit(2)
	}
	os.Exit(3)
}

// logStart appends "NAME DIGEST" of the running binary to log.
func logStart(log string) {
	exe, err := os.Executable()
	if err != nil {
		os.Exit(5)
	}
	d, err := fileDigest(exe)
	if err != nil {
		os.Exit(5)
	}
	f, err := os.OpenFile(log, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		os.Exit(5)
	}
	fmt.Fprintf(f, "%s %.12s\n", filepath.Base(exe), d)
	f.Close()
}

// fakeUpdate writes a release beside the supervised binary and records
// it for trial, as the agent's update loop does; it returns the status
// to exit with.
func fakeUpdate(stateDir string) int {
	sup := supervisedFromEnv()
	exe, err := os.Executable()
	if sup == nil || err != nil {
		return 6
	}
	self, err := os.ReadFile(exe)
	if err != nil {
		return 6
	}
	release := append(self, "release"...)
	if err := os.WriteFile(sup.binary+nextSuffix, release, 0o755); err != nil {
		return 6
	}
	rec := updateRecord{Trial: &trial{Version: "v2", Digest: wire.Hash(release), From: "v1", Started: time.Now()}}
	if err := rec.save(stateDir); err != nil {
		return 6
	}
	return ExitUpdate
}

// TestSupervisor runs a release on trial that reports healthy, one that
// crashes at start-up and one that hangs, as real processes: the first is
// promoted, the others rolled back to the installed binary, which runs
// on; each outcome is recorded for the agent to report. A release whose
// trial a supervisor already began (and died during: a release over the
// memory limit takes the whole container down) is rolled back unstarted.
func TestSupervisor(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	exe, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		release   string
		runs      int
		wantState string
		wantMsg   string
		promoted  bool
	}{
		{"healthy", "healthy", 0, wire.UpdateDone, "updated from v1", true},
		{"crash", "crash", 0, wire.UpdateFailed, "exited with status 2 before reporting healthy; back on v1", false},
		{"hang", "hang", 0, wire.UpdateFailed, "did not report healthy within 1s; back on v1", false},
		{"supervisor died during the trial", "healthy", 1, wire.UpdateFailed, "was on trial when the agent's supervisor died; back on v1", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			bin := filepath.Join(dir, "flotilla-agent")
			installed := exe
			release := append(append([]byte{}, exe...), "release"...) // another build: trailing bytes
			if err := os.WriteFile(bin, installed, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(bin+nextSuffix, release, 0o755); err != nil {
				t.Fatal(err)
			}
			rec := updateRecord{Trial: &trial{Version: "v2", Digest: wire.Hash(release), From: "v1", Started: time.Now(), Runs: tc.runs}}
			if err := rec.save(dir); err != nil {
				t.Fatal(err)
			}
			t.Setenv("FLOTILLA_FAKE_AGENT", "healthy")
			t.Setenv("FLOTILLA_FAKE_RELEASE", tc.release)
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() {
				done <- Supervise(ctx, SuperviseOptions{Binary: bin, StateDir: dir, Deadline: time.Second, StopGrace: 5 * time.Second})
			}()
			var got updateRecord
			deadline := time.Now().Add(30 * time.Second)
			for {
				got, err = loadUpdateRecord(dir)
				if err == nil && got.Last != nil {
					break
				}
				if time.Now().After(deadline) {
					cancel()
					t.Fatalf("no outcome recorded: %+v, %v", got, err)
				}
				time.Sleep(20 * time.Millisecond)
			}
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Supervise = %v", err)
			}
			if got.Trial != nil || got.Last.Version != "v2" || got.Last.State != tc.wantState || !strings.Contains(got.Last.Message, tc.wantMsg) {
				t.Errorf("recorded %+v (trial %+v), want v2 %s %q", got.Last, got.Trial, tc.wantState, tc.wantMsg)
			}
			now, _ := os.ReadFile(bin)
			prev, prevErr := os.ReadFile(bin + prevSuffix)
			_, nextErr := os.Stat(bin + nextSuffix)
			if !os.IsNotExist(nextErr) {
				t.Errorf("%s is still there (%v)", nextSuffix, nextErr)
			}
			if tc.promoted {
				if string(now) != string(release) || string(prev) != string(installed) {
					t.Errorf("after promotion the binary is not the release, or %s not the old binary (%v)", prevSuffix, prevErr)
				}
				return
			}
			if string(now) != string(installed) {
				t.Error("after a rollback the binary is not the installed one")
			}
			if got.failed(wire.Hash(release)) != true {
				t.Errorf("the failed release is not remembered: %v", got.Failed)
			}
		})
	}
}
