package hub

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"flotilla.io/flotilla/internal/store"
)

// batchStore records PutStatuses calls; it fails any batch that holds the
// cluster "bad".
type batchStore struct {
	store.Store
	mu      sync.Mutex
	batches [][]string
	release chan struct{} // the first write blocks until closed
}

func (s *batchStore) PutStatuses(_ context.Context, ss []store.ClusterStatus) error {
	s.mu.Lock()
	first := len(s.batches) == 0
	var ids []string
	for _, st := range ss {
		ids = append(ids, st.ClusterID)
	}
	s.batches = append(s.batches, ids)
	s.mu.Unlock()
	if first {
		<-s.release
	}
	for _, id := range ids {
		if id == "bad" {
			return errors.New("refused")
		}
	}
	return nil
}

func TestStatusBatcher(t *testing.T) {
	st := &batchStore{release: make(chan struct{})}
	var b statusBatcher
	ctx := context.Background()

	// The first reporter leads and blocks in its write; the others queue.
	first := make(chan error, 1)
	go func() { first <- b.put(ctx, st, store.ClusterStatus{ClusterID: "c0"}) }()
	pollUntil(t, func() bool { st.mu.Lock(); defer st.mu.Unlock(); return len(st.batches) == 1 })

	const n = 50
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- b.put(ctx, st, store.ClusterStatus{ClusterID: fmt.Sprintf("c%d", i+1)})
		}()
	}
	bad := make(chan error, 1)
	go func() { bad <- b.put(ctx, st, store.ClusterStatus{ClusterID: "bad"}) }()
	pollUntil(t, func() bool { b.mu.Lock(); defer b.mu.Unlock(); return len(b.pending) == n+1 })
	close(st.release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("status not stored: %v", err)
		}
	}
	if err := <-first; err != nil {
		t.Errorf("first status: %v", err)
	}
	if err := <-bad; err == nil {
		t.Error("a refused status was reported stored")
	}
	// One write for the leader, one for all that queued behind it, then
	// that failed batch written again one by one.
	if got := len(st.batches); got != 1+1+n+1 || len(st.batches[1]) != n+1 {
		t.Errorf("%d writes, the second of %d statuses; want %d writes, the second of %d", got, len(st.batches[1]), n+3, n+1)
	}
}

// pollUntil polls cond with a deadline.
func pollUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met before the deadline")
		}
		time.Sleep(time.Millisecond)
	}
}
