package hub

import (
	"context"
	"sync"

	"flotilla.io/flotilla/internal/store"
)

// maxStatusBatch bounds the statuses written in one transaction.
const maxStatusBatch = 1000

// statusBatcher writes statuses by group commit: the first reporter to find
// no write in progress becomes the writer and commits everything that
// queued meanwhile, in batches, until the queue is empty. After a commit,
// thousands of agents report within a second; they share a handful of
// transactions instead of queueing one each behind SQLite's single writer.
// Every reporter still returns only once its status is durable.
type statusBatcher struct {
	mu      sync.Mutex
	pending []statusReq
	writing bool
}

type statusReq struct {
	s    store.ClusterStatus
	done chan error
}

// put stores s with whatever else is pending and returns its outcome.
func (b *statusBatcher) put(ctx context.Context, st store.Store, s store.ClusterStatus) error {
	req := statusReq{s: s, done: make(chan error, 1)}
	b.mu.Lock()
	b.pending = append(b.pending, req)
	lead := !b.writing
	b.writing = true
	b.mu.Unlock()
	if lead {
		// The writes are for every waiting reporter: the leader leaving
		// must not cancel them.
		b.drain(context.WithoutCancel(ctx), st)
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (b *statusBatcher) drain(ctx context.Context, st store.Store) {
	for {
		b.mu.Lock()
		n := min(len(b.pending), maxStatusBatch)
		if n == 0 {
			b.writing = false
			b.mu.Unlock()
			return
		}
		batch := b.pending[:n:n]
		b.pending = b.pending[n:]
		b.mu.Unlock()

		ss := make([]store.ClusterStatus, len(batch))
		for i, r := range batch {
			ss[i] = r.s
		}
		if err := st.PutStatuses(ctx, ss); err != nil {
			// One bad status must not fail the others: write each alone.
			for _, r := range batch {
				r.done <- st.PutStatuses(ctx, []store.ClusterStatus{r.s})
			}
			continue
		}
		for _, r := range batch {
			r.done <- nil
		}
	}
}
