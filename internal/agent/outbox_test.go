package agent

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"flotilla.io/flotilla/internal/kubeapply"
	"flotilla.io/flotilla/internal/wire"
)

func report(gen int64, states ...string) wire.StatusReport {
	r := wire.StatusReport{AppliedGeneration: gen}
	for i := 0; i+1 < len(states); i += 2 {
		r.Bundles = append(r.Bundles, wire.BundleStatus{Name: states[i], State: states[i+1], Generation: gen})
	}
	return r
}

func TestOutboxCoalescesAndKeepsTransitions(t *testing.T) {
	dir := t.TempDir()
	o, err := openOutbox(dir)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	steps := []wire.StatusReport{
		report(1, "a", wire.StateNotReady),
		report(1, "a", wire.StateNotReady), // unchanged: no transition, no write
		report(1, "a", wire.StateReady),
		report(2, "a", wire.StateReady, "b", wire.StateErrApplied),
		report(3, "b", wire.StateReady),
	}
	for i, r := range steps {
		if err := o.put(r, t0.Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	// A restart finds the same unsent status.
	o, err = openOutbox(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, ok := o.take()
	if !ok {
		t.Fatal("nothing to send after a restart")
	}
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	want := wire.StatusReport{
		AppliedGeneration: 3,
		Bundles:           []wire.BundleStatus{{Name: "b", State: wire.StateReady, Generation: 3}},
		Time:              at(4),
		Transitions: []wire.Transition{
			{Bundle: "a", To: wire.StateNotReady, Time: at(0)},
			{Bundle: "a", From: wire.StateNotReady, To: wire.StateReady, Time: at(2)},
			{Bundle: "b", To: wire.StateErrApplied, Time: at(3)},
			{Bundle: "b", From: wire.StateErrApplied, To: wire.StateReady, Time: at(4)},
			{Bundle: "a", From: wire.StateReady, Message: "bundle removed", Time: at(4)},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("report to send (-want +got):\n%s", diff)
	}
	if err := o.delivered(got); err != nil {
		t.Fatal(err)
	}
	if r, ok := o.take(); ok {
		t.Errorf("still something to send after delivery: %+v", r)
	}
	o, _ = openOutbox(dir)
	if r, ok := o.take(); ok {
		t.Errorf("delivery not kept across restart: %+v", r)
	}
}

func TestOutboxBoundsTransitions(t *testing.T) {
	o, _ := openOutbox(t.TempDir())
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	for i := range maxTransitions + 50 {
		st := wire.StateReady
		if i%2 == 1 {
			st = wire.StateNotReady
		}
		if err := o.put(report(1, "a", st), t0.Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	r, _ := o.take()
	if len(r.Transitions) != maxTransitions {
		t.Fatalf("%d transitions kept, want %d", len(r.Transitions), maxTransitions)
	}
	if want := t0.Add(50 * time.Second); !r.Transitions[0].Time.Equal(want) {
		t.Errorf("oldest kept transition at %v, want %v (oldest dropped first)", r.Transitions[0].Time, want)
	}
}

func TestOutboxFactsOnceAndOnChange(t *testing.T) {
	o, _ := openOutbox(t.TempDir())
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	f := wire.Facts{Arch: "arm64", Nodes: 1}
	o.setFacts(f)
	_ = o.put(report(1, "a", wire.StateReady), now)
	r, _ := o.take()
	if r.Facts == nil {
		t.Fatal("first report carries no facts")
	}
	_ = o.delivered(r)
	o.setFacts(f)
	if r, ok := o.take(); ok {
		t.Errorf("unchanged facts sent again: %+v", r)
	}
	f.Nodes = 2
	o.setFacts(f)
	r, ok := o.take()
	if !ok || r.Facts == nil || r.Facts.Nodes != 2 {
		t.Errorf("changed facts not sent: %+v", r)
	}
}

// countingApplier is a fakeApplier that counts health checks (one per
// resync).
type countingApplier struct {
	fakeApplier
	mu     sync.Mutex // guards checks
	checks int
}

func (c *countingApplier) Health(ctx context.Context, s kubeapply.Set) (kubeapply.Health, error) {
	c.mu.Lock()
	c.checks++
	c.mu.Unlock()
	return c.fakeApplier.Health(ctx, s)
}

func (c *countingApplier) healthChecks() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.checks
}

func TestStatusProducedOfflineArrives(t *testing.T) {
	hub := newFakeHub(t)
	dir := t.TempDir()
	hub.enrollInto(t, dir, "c1")
	hub.serve(t, "c1", 1, configMap("a", "1"))
	hub.mu.Lock()
	hub.shedding = true
	hub.mu.Unlock()
	// Offline: the kept manifest is applied from disk while the hub sheds.
	id, _ := loadIdentity(dir)
	keepGeneration(t, hub, store{dir: dir}, id)
	ap := &fakeApplier{}
	startAgent(t, dir, ap)
	eventually(t, "apply from disk while the hub refuses", func() bool { return len(ap.names("b")) == 1 })
	eventually(t, "status kept on disk", func() bool {
		_, err := os.Stat(filepath.Join(dir, statusFile))
		return err == nil
	})
	if _, ok := hub.lastReport(); ok {
		t.Fatal("a report arrived while the hub was shedding")
	}
	hub.mu.Lock()
	hub.shedding = false
	hub.mu.Unlock()
	eventually(t, "the offline status to arrive", func() bool {
		r, ok := hub.lastReport()
		return ok && r.AppliedGeneration == 1 && len(r.Transitions) > 0 && r.Transitions[0].To == wire.StateReady
	})
}

func TestIdleConnectedAgentWritesNothing(t *testing.T) {
	hub := newFakeHub(t)
	dir := t.TempDir()
	hub.enrollInto(t, dir, "c1")
	hub.serve(t, "c1", 1, configMap("a", "1"))
	ap := &countingApplier{}
	a, err := New(Options{StateDir: dir, Applier: ap, Resync: 10 * time.Millisecond, PollTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	eventually(t, "a delivered Ready report", func() bool {
		r, ok := hub.lastReport()
		return ok && r.AppliedGeneration == 1 && len(r.Bundles) == 1 && r.Bundles[0].State == wire.StateReady
	})
	eventually(t, "the outbox to settle", func() bool { _, ok := a.outbox.take(); return !ok })
	before := snapshotDir(t, dir)
	n := ap.healthChecks()
	eventually(t, "20 idle resyncs", func() bool { return ap.healthChecks() >= n+20 })
	if diff := cmp.Diff(before, snapshotDir(t, dir)); diff != "" {
		t.Errorf("state directory changed while idle (-before +after):\n%s", diff)
	}
}

// snapshotDir maps every file under dir to its modification time and size.
func snapshotDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		out[p] = fi.ModTime().String() + " " + fi.Name()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
