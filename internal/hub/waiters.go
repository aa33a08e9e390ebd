package hub

import "sync"

// waiters wakes long-polls. Each cluster has a channel that is closed and
// replaced when its manifest changes; a poller takes the channel before it
// reads the store, so a change between the read and the wait is not missed.
type waiters struct {
	mu     sync.Mutex // guards the following
	ch     map[string]chan struct{}
	active map[string]int // long-polls in flight per cluster
}

func newWaiters() *waiters {
	return &waiters{ch: map[string]chan struct{}{}, active: map[string]int{}}
}

func (w *waiters) channel(id string) chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	c, ok := w.ch[id]
	if !ok {
		c = make(chan struct{})
		w.ch[id] = c
	}
	return c
}

func (w *waiters) wake(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if c, ok := w.ch[id]; ok {
		close(c)
		delete(w.ch, id)
	}
}

func (w *waiters) enter(id string) {
	w.mu.Lock()
	w.active[id]++
	w.mu.Unlock()
}

func (w *waiters) leave(id string) {
	w.mu.Lock()
	if w.active[id]--; w.active[id] <= 0 {
		delete(w.active, id)
	}
	w.mu.Unlock()
}

func (w *waiters) polling(id string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.active[id] > 0
}

// pollingCount is how many clusters hold a long-poll now.
func (w *waiters) pollingCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.active)
}
