package agent

import (
	"context"
	"math/rand/v2"
	"time"
)

// backoff is capped exponential backoff with full jitter, so that many
// agents retrying after one outage spread out instead of stampeding.
type backoff struct {
	base, max time.Duration
	attempt   int
}

func newBackoff(base, max time.Duration) *backoff {
	return &backoff{base: base, max: max}
}

// next returns the wait before the next attempt.
func (b *backoff) next() time.Duration {
	ceiling := b.base << min(b.attempt, 30)
	if ceiling > b.max || ceiling <= 0 {
		ceiling = b.max
	}
	b.attempt++
	return rand.N(ceiling) + time.Millisecond
}

func (b *backoff) reset() { b.attempt = 0 }

// wait waits for the next attempt; false when ctx ended first.
func (b *backoff) wait(ctx context.Context) bool {
	t := time.NewTimer(b.next())
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
