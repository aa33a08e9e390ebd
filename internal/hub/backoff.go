package hub

import (
	"sync"
	"time"
)

// firstRetry is the wait after a source's first failed fetch; each
// further failure doubles it, up to the source's poll interval.
const firstRetry = 2 * time.Second

// sourceBackoff spaces out the fetches of failing sources: a mistyped URL
// must not be fetched, and logged, every second.
type sourceBackoff struct {
	mu       sync.Mutex // guards failures
	failures map[string]fetchFailure
}

// fetchFailure is a source whose last fetch or load failed.
type fetchFailure struct {
	count int
	err   string
	next  time.Time
}

func newSourceBackoff() *sourceBackoff {
	return &sourceBackoff{failures: map[string]fetchFailure{}}
}

// failed records a failure at now and returns it; changed is true when
// its error differs from the previous failure's (the one worth logging).
func (b *sourceBackoff) failed(name, err string, now time.Time, poll time.Duration) (f fetchFailure, changed bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	prev, had := b.failures[name]
	f = fetchFailure{count: prev.count + 1, err: err}
	delay := firstRetry << min(f.count-1, 20)
	if poll > 0 && delay > poll {
		delay = poll
	}
	f.next = now.Add(delay)
	b.failures[name] = f
	return f, !had || prev.err != err
}

// succeeded forgets a source's failures; true when it had some.
func (b *sourceBackoff) succeeded(name string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, had := b.failures[name]
	delete(b.failures, name)
	return had
}

func (b *sourceBackoff) get(name string) (fetchFailure, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f, ok := b.failures[name]
	return f, ok
}

func (b *sourceBackoff) forget(name string) {
	b.mu.Lock()
	delete(b.failures, name)
	b.mu.Unlock()
}
