package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestPollsNewestWins(t *testing.T) {
	p := newPolls()
	ctx := context.Background()

	first, replaced, releaseFirst := p.hold(ctx, "c1", "192.0.2.1:1000")
	if replaced != nil {
		t.Fatalf("first poll replaced %+v", replaced)
	}
	other, replaced, releaseOther := p.hold(ctx, "c2", "192.0.2.9:1000")
	if replaced != nil {
		t.Fatal("a poll of another cluster replaced one")
	}
	defer releaseOther()

	second, replaced, releaseSecond := p.hold(ctx, "c1", "192.0.2.1:2000")
	if replaced == nil || replaced.remote != "192.0.2.1:1000" || replaced.took {
		t.Fatalf("second poll replaced %+v, want the first, which replaced nothing", replaced)
	}
	if !errors.Is(context.Cause(first), errSuperseded) {
		t.Errorf("first poll's context: cause %v, want errSuperseded", context.Cause(first))
	}
	if second.Err() != nil || other.Err() != nil {
		t.Error("the newer poll or another cluster's poll ended")
	}

	// The old poll leaving does not unregister the new one.
	releaseFirst()
	_, replaced, releaseThird := p.hold(ctx, "c1", "192.0.2.2:3000")
	if replaced == nil || replaced.remote != "192.0.2.1:2000" || !replaced.took {
		t.Fatalf("third poll replaced %+v, want the second, which had itself replaced one", replaced)
	}
	releaseSecond()
	releaseThird()

	// Once every poll ended, a new one replaces nothing: sequential polls
	// (every agent's normal life) never trip this.
	_, replaced, release := p.hold(ctx, "c1", "192.0.2.1:4000")
	defer release()
	if replaced != nil {
		t.Errorf("a poll after the others ended replaced %+v", replaced)
	}
}

// records keeps the level and message of every record logged.
type records struct {
	mu  sync.Mutex // guards got
	got []string
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }

func (r *records) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, rec.Level.String())
	return nil
}

func (r *records) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *records) WithGroup(string) slog.Handler      { return r }

func (r *records) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	got := r.got
	r.got = nil
	return got
}

// TestReplacedPollsWarnOncePerMinute: two devices with one identity that
// ignore Retry-After replace each other's polls in a loop; the log gets
// one warning per cluster per minute, not one per poll.
func TestReplacedPollsWarnOncePerMinute(t *testing.T) {
	log := &records{}
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	s := newServer(Options{Logger: slog.New(log), Now: func() time.Time { return now }})
	restart := &heldPoll{remote: "192.0.2.1:1000"}
	clone := &heldPoll{remote: "192.0.2.2:1000", took: true}

	s.logReplaced("c1", "192.0.2.1:2000", restart)
	for range 5 {
		s.logReplaced("c1", "192.0.2.1:2000", clone)
	}
	s.logReplaced("c2", "192.0.2.9:2000", clone) // another cluster has its own
	if diff := cmp.Diff([]string{"INFO", "WARN", "DEBUG", "DEBUG", "DEBUG", "DEBUG", "WARN"}, log.take()); diff != "" {
		t.Errorf("levels logged (-want +got):\n%s", diff)
	}

	now = now.Add(replacedWarnEvery - time.Second)
	s.logReplaced("c1", "192.0.2.1:2000", clone)
	now = now.Add(time.Second)
	s.logReplaced("c1", "192.0.2.1:2000", clone)
	if diff := cmp.Diff([]string{"DEBUG", "WARN"}, log.take()); diff != "" {
		t.Errorf("levels logged a minute on (-want +got):\n%s", diff)
	}

	// Nor does each superseded poll's 409 log at Info.
	h := s.handle(func(http.ResponseWriter, *http.Request) error { return supersededError() })
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/agent/manifest", nil))
	if diff := cmp.Diff([]string{"DEBUG"}, log.take()); rec.Code != http.StatusConflict || diff != "" {
		t.Errorf("superseded answer %d, levels logged (-want +got):\n%s", rec.Code, diff)
	}
}

func TestWarnedIsPruned(t *testing.T) {
	p := newPolls()
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	for i := range 10 * minPruneAt {
		// Every cluster warned once, a minute apart from the one before.
		if !p.warnDue(fmt.Sprint("c", i), now.Add(time.Duration(i)*replacedWarnEvery)) {
			t.Fatalf("cluster %d not warned the first time", i)
		}
	}
	if len(p.warned) > minPruneAt {
		t.Errorf("%d clusters remembered, want at most %d: old entries are not pruned", len(p.warned), minPruneAt)
	}
}
