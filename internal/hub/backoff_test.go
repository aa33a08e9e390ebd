package hub

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"flotilla.io/flotilla/internal/gitsource"
	"flotilla.io/flotilla/internal/wire"
)

// failingFetcher fails every fetch with err and counts them.
type failingFetcher struct {
	mu    sync.Mutex // guards the following
	err   error
	calls int
}

func (f *failingFetcher) Fetch(context.Context, string, string, string) (gitsource.Revision, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return gitsource.Revision{}, f.err
}

func (f *failingFetcher) Cached(string, string, string, string) (gitsource.Revision, error) {
	return gitsource.Revision{}, errors.New("no cache")
}

func (f *failingFetcher) set(err error) {
	f.mu.Lock()
	f.err = err
	f.mu.Unlock()
}

func (f *failingFetcher) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// TestFailingSourceBacksOff: a source whose fetch fails is tried again
// after 2, 4, 8 ... seconds up to its poll interval, not every second,
// and its failure is logged once per change of error and shown in the
// source list with the next try.
func TestFailingSourceBacksOff(t *testing.T) {
	ctx := context.Background()
	fetcher := &failingFetcher{err: errors.New("repository not found")}
	clk := &testClock{now: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)}
	var logs lockedBuffer
	h, _ := newTestHubWith(t, fetcher, func(o *Options) {
		o.Now = clk.Now
		o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	if _, err := h.AddSource(ctx, wire.SourceSpec{Name: "typo", Repo: "https://git.example/tyop.git", Poll: wire.Duration(20 * time.Second), Targets: []string{"env"}}); err != nil {
		t.Fatal(err)
	}
	var fetchedAt []int
	for sec := range 61 {
		before := fetcher.count()
		h.syncDue(ctx)
		if fetcher.count() > before {
			fetchedAt = append(fetchedAt, sec)
		}
		clk.advance(time.Second)
	}
	// 2, 4, 8 and 16 s apart, then the 20 s poll interval.
	want := []int{0, 2, 6, 14, 30, 50}
	if !slices.Equal(fetchedAt, want) {
		t.Errorf("fetched at seconds %v, want %v", fetchedAt, want)
	}
	if n := strings.Count(logs.String(), "fetching source failed"); n != 1 {
		t.Errorf("%d warnings for one unchanged error, want 1:\n%s", n, logs.String())
	}
	ss, err := h.Sources(ctx)
	if err != nil || len(ss) != 1 {
		t.Fatalf("sources %v, %v", ss, err)
	}
	if s := ss[0]; s.Failures != len(want) || s.NextFetch == nil || !s.NextFetch.After(clk.Now().Add(-time.Second)) || s.Error != "repository not found" {
		t.Errorf("source list shows failures %d, next %v, error %q", s.Failures, s.NextFetch, s.Error)
	}
	// A different error is logged again.
	fetcher.set(errors.New("authentication required"))
	clk.advance(time.Minute)
	h.syncDue(ctx)
	if n := strings.Count(logs.String(), "fetching source failed"); n != 2 {
		t.Errorf("%d warnings after the error changed, want 2", n)
	}
}
