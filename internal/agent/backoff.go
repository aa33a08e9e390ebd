package agent

import (
	"context"
	"math/rand/v2"
	"time"
)

// backoff is capped exponential backoff with full jitter, so that many
// agents retrying after one outage spread out instead of stampeding. A
// Retry-After from the hub is a floor under the jittered wait.
type backoff struct {
	base, max time.Duration
	clock     Clock
	// jitter returns a uniform duration in [0, n); rand.N unless a test sets it.
	jitter  func(n time.Duration) time.Duration
	attempt int
}

func newBackoff(clock Clock, base, max time.Duration) *backoff {
	return &backoff{base: base, max: max, clock: clock, jitter: rand.N[time.Duration]}
}

// next returns the wait before the next attempt: uniform in
// [1ms, min(max, base·2^attempt)), and never less than retryAfter.
func (b *backoff) next(retryAfter time.Duration) time.Duration {
	ceiling := b.base << min(b.attempt, 30)
	if ceiling > b.max || ceiling <= 0 {
		ceiling = b.max
	}
	b.attempt++
	d := max(b.jitter(ceiling), time.Millisecond)
	// The hub's Retry-After is honoured, but a hub cannot park an agent
	// for longer than ten caps.
	return max(d, min(retryAfter, 10*b.max))
}

func (b *backoff) reset() { b.attempt = 0 }

// wait waits for the next attempt; false when ctx ended first.
func (b *backoff) wait(ctx context.Context, retryAfter time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-b.clock.After(b.next(retryAfter)):
		return true
	}
}
