package agent

import (
	"context"
	"testing"
	"time"
)

func TestBackoffNext(t *testing.T) {
	tests := []struct {
		name       string
		jitter     func(n time.Duration) time.Duration
		attempts   int
		retryAfter time.Duration
		want       []time.Duration
	}{
		{
			name:     "ceiling doubles up to the cap (jitter at half)",
			jitter:   func(n time.Duration) time.Duration { return n / 2 },
			attempts: 8,
			want: []time.Duration{
				time.Second / 2, time.Second, 2 * time.Second, 4 * time.Second,
				8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second,
			},
		},
		{
			name:     "full jitter can wait almost nothing",
			jitter:   func(time.Duration) time.Duration { return 0 },
			attempts: 3,
			want:     []time.Duration{time.Millisecond, time.Millisecond, time.Millisecond},
		},
		{
			name:       "Retry-After is a floor",
			jitter:     func(time.Duration) time.Duration { return 0 },
			attempts:   2,
			retryAfter: 45 * time.Second,
			want:       []time.Duration{45 * time.Second, 45 * time.Second},
		},
		{
			name:       "Retry-After is bounded by ten caps",
			jitter:     func(time.Duration) time.Duration { return 0 },
			attempts:   1,
			retryAfter: 24 * time.Hour,
			want:       []time.Duration{10 * time.Minute},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBackoff(newFakeClock(), time.Second, time.Minute)
			b.jitter = tc.jitter
			for i := range tc.attempts {
				got := b.next(tc.retryAfter)
				if got != tc.want[i] {
					t.Errorf("attempt %d: next = %v, want %v", i, got, tc.want[i])
				}
			}
		})
	}
}

func TestBackoffJitterStaysInRange(t *testing.T) {
	b := newBackoff(newFakeClock(), time.Second, time.Minute)
	for i := range 1000 {
		if i%10 == 0 {
			b.reset()
		}
		ceiling := min(time.Second<<b.attempt, time.Minute)
		if d := b.next(0); d <= 0 || d > ceiling {
			t.Fatalf("attempt %d: wait %v outside (0, %v]", b.attempt-1, d, ceiling)
		}
	}
}

func TestBackoffWaitUsesClock(t *testing.T) {
	clock := newFakeClock()
	b := newBackoff(clock, time.Second, time.Minute)
	b.jitter = func(time.Duration) time.Duration { return 0 }
	done := make(chan bool, 1)
	go func() { done <- b.wait(context.Background(), 30*time.Second) }()
	waitFor(t, "the backoff to start waiting", func() bool { return clock.waiting() == 1 })
	if got := clock.lastAsked(); got != 30*time.Second {
		t.Fatalf("waited %v, want the Retry-After of 30s", got)
	}
	clock.Advance(29 * time.Second)
	select {
	case <-done:
		t.Fatal("wait returned before Retry-After passed")
	default:
	}
	clock.Advance(time.Second)
	if !<-done {
		t.Error("wait = false, want true")
	}

	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- b.wait(ctx, 0) }()
	cancel()
	if <-done {
		t.Error("wait after cancel = true, want false")
	}
}

// waitFor polls cond until it holds or a deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
