package api

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"
)

// pool bounds the requests of one kind of caller being served at once.
// Each kind has its own, so that enrollments and operators never take a
// slot an agent is waiting for.
type pool struct {
	// slots holds one token per request in flight; full means queue. Nil
	// when the pool is unbounded.
	slots     chan struct{}
	queueWait time.Duration
	// what is the request kind and flag named when shedding.
	what, flag string
}

func newPool(size int, queueWait time.Duration, what, flag string) *pool {
	p := &pool{queueWait: queueWait, what: what, flag: flag}
	if size > 0 {
		p.slots = make(chan struct{}, size)
	}
	return p
}

// acquire takes a slot, queueing for up to queueWait when none is free,
// then refuses with 503 and Retry-After, so that a fleet reconnecting at
// once after an outage is spread out (agents back off with jitter and
// honour Retry-After) instead of queueing without bound. The short queue
// absorbs the burst after a commit, when thousands of agents report
// within a second and each report takes a millisecond: shedding those
// would only delay them by seconds.
func (p *pool) acquire(ctx context.Context) (release func(), err error) {
	if p.slots == nil {
		return func() {}, nil
	}
	release = func() { <-p.slots }
	select {
	case p.slots <- struct{}{}:
		return release, nil
	default:
	}
	t := time.NewTimer(p.queueWait)
	defer t.Stop()
	select {
	case p.slots <- struct{}{}:
		return release, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-t.C:
		return nil, &httpError{
			code: http.StatusServiceUnavailable, reason: "Overloaded",
			msg:        fmt.Sprintf("hub is shedding load: %d %s in flight (hub flag %s); retry later", cap(p.slots), p.what, p.flag),
			retryAfter: time.Duration(1+rand.IntN(3)) * time.Second,
		}
	}
}
