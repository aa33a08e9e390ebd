package agent

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"flotilla.io/flotilla/internal/wire"
)

// outboxState is what status.json restores.
type outboxState struct {
	Latest      *wire.StatusReport
	Pending     bool
	Transitions []wire.Transition
	Applied     map[string]string
}

func stateOf(o *outbox) outboxState {
	o.mu.Lock()
	defer o.mu.Unlock()
	return outboxState{o.latest, o.pending, o.transitions, o.applied}
}

// FuzzOpenOutbox: whatever status.json holds, the agent starts with the
// unsent status it holds, within the transition bound, or with none and
// an error; what it started with, kept again, opens equal.
func FuzzOpenOutbox(f *testing.F) {
	dir := f.TempDir()
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	o := newOutbox(dir)
	for i, r := range []wire.StatusReport{report(1, "a", wire.StateNotReady), report(2, "a", wire.StateReady, "b", wire.StateErrApplied)} {
		if err := o.put(r, t0.Add(time.Duration(i)*time.Second)); err != nil {
			f.Fatal(err)
		}
	}
	if err := o.setApplied(map[string]string{"a": "d1"}); err != nil {
		f.Fatal(err)
	}
	kept, err := os.ReadFile(filepath.Join(dir, statusFile))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(kept)
	f.Add([]byte(`{"pending":true}`))
	f.Add([]byte(`{"latest":null,"pending":true,"transitions":[{"bundle":"a","time":"2026-11-27T12:00:00+01:00"}]}`))
	f.Add([]byte(`{"latest":{"time":"0000-01-01T00:30:00+01:00","bundles":null}}`))
	f.Add([]byte(`{"transitions":[{"time":"9999-12-31T23:59:59-01:00"}]}`))
	f.Add([]byte(`{"applied":{"a":""},"transitions":[]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, statusFile), data, 0o600); err != nil {
			t.Fatal(err)
		}
		o, err := openOutbox(dir)
		got := stateOf(o)
		if err != nil {
			if diff := cmp.Diff(outboxState{}, got); diff != "" {
				t.Fatalf("refused status.json yet kept some of it:\n%s", diff)
			}
			return
		}
		if len(got.Transitions) > maxTransitions {
			t.Fatalf("opened %d transitions, more than the %d kept", len(got.Transitions), maxTransitions)
		}
		if r, ok := o.take(); ok != (got.Latest != nil && got.Pending) || ok && len(r.Transitions) != len(got.Transitions) {
			t.Fatalf("take = %v with %d transitions, for %+v", ok, len(r.Transitions), got)
		}
		o.mu.Lock()
		err = o.saveLocked()
		o.mu.Unlock()
		if err != nil {
			t.Fatalf("status opened from status.json cannot be kept again: %v", err)
		}
		again, err := openOutbox(dir)
		if err != nil {
			t.Fatalf("status kept again does not open: %v", err)
		}
		// An empty list or map is kept as none (omitempty): the same status.
		if diff := cmp.Diff(got, stateOf(again), cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("status kept again opens different (-first +again):\n%s", diff)
		}
	})
}

func manyTransitions(n int) string {
	ts := make([]wire.Transition, n)
	for i := range ts {
		ts[i] = wire.Transition{Bundle: fmt.Sprint("b", i), To: wire.StateReady, Time: time.Unix(int64(i), 0).UTC()}
	}
	data, _ := json.Marshal(ts)
	return string(data)
}
