package api

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"
)

// supersededRetryAfter is how long an agent whose long-poll was taken
// over waits before it polls again. A real agent never reads it (its old
// poll is the one answered, on a connection it has left); two devices
// with one identity then alternate every half minute instead of in a
// tight loop.
const supersededRetryAfter = 30 * time.Second

// errSuperseded ends a long-poll that a newer one for its cluster replaced.
var errSuperseded = errors.New("superseded by a newer long-poll for the same cluster")

// replacedWarnEvery is the least time between two warnings that one
// cluster's long-polls keep replacing each other.
const replacedWarnEvery = time.Minute

// polls holds the one long-poll each cluster may have open. The newest
// wins: an agent that restarts, or whose link died without the hub
// noticing, polls again on a new connection, and must not find itself
// locked out by the poll it left behind.
type polls struct {
	mu        sync.Mutex // guards the following
	byCluster map[string]*heldPoll
	// warned is when each cluster was last warned of; entries older than
	// replacedWarnEvery are dropped once it reaches pruneAt.
	warned  map[string]time.Time
	pruneAt int
}

type heldPoll struct {
	remote string
	cancel context.CancelCauseFunc
	// took says this poll replaced a live one. A restart replaces one
	// poll once; two devices with one identity replace each other again
	// and again, and only that is worth a warning.
	took bool
}

func newPolls() *polls {
	return &polls{byCluster: map[string]*heldPoll{}, warned: map[string]time.Time{}, pruneAt: minPruneAt}
}

// minPruneAt is the size of warned below which it is never pruned.
const minPruneAt = 64

// warnDue says whether clusterID's replacing polls are due a warning at
// now, and if so counts one.
func (p *polls) warnDue(clusterID string, now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if last, ok := p.warned[clusterID]; ok && now.Sub(last) < replacedWarnEvery {
		return false
	}
	if len(p.warned) >= p.pruneAt {
		for id, last := range p.warned {
			if now.Sub(last) >= replacedWarnEvery {
				delete(p.warned, id)
			}
		}
		p.pruneAt = max(2*len(p.warned), minPruneAt)
	}
	p.warned[clusterID] = now
	return true
}

// hold registers a long-poll for clusterID from remote and answers the
// one it replaces, if any. The returned context ends with errSuperseded as
// its cause when a newer poll replaces this one; release unregisters it.
func (p *polls) hold(ctx context.Context, clusterID, remote string) (_ context.Context, replaced *heldPoll, release func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	mine := &heldPoll{remote: remote, cancel: cancel}
	p.mu.Lock()
	if old, ok := p.byCluster[clusterID]; ok {
		old.cancel(errSuperseded)
		replaced, mine.took = old, true
	}
	p.byCluster[clusterID] = mine
	p.mu.Unlock()
	return ctx, replaced, func() {
		p.mu.Lock()
		if p.byCluster[clusterID] == mine {
			delete(p.byCluster, clusterID)
		}
		p.mu.Unlock()
		cancel(nil)
	}
}

// reasonSuperseded is the reason of supersededError's answer.
const reasonSuperseded = "Superseded"

// supersededError answers a long-poll that a newer one replaced.
func supersededError() error {
	return &httpError{
		code: http.StatusConflict, reason: reasonSuperseded,
		msg:        "a newer long-poll for this cluster replaced this one: two agents may be running with one identity",
		retryAfter: supersededRetryAfter,
	}
}
