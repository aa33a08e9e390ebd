package api

import (
	linked "container/list"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// sourceLimiter is a token bucket per source prefix. It remembers at most
// max prefixes, forgetting the least recently seen first: a forgotten
// prefix comes back with a full bucket, which costs one burst, while a
// map without a bound would let many addresses exhaust the hub's memory.
type sourceLimiter struct {
	rate  rate.Limit
	burst int
	max   int

	mu    sync.Mutex // guards the following
	byKey map[netip.Prefix]*linked.Element
	lru   linked.List // of *sourceBucket, most recently seen first
}

type sourceBucket struct {
	key netip.Prefix
	lim *rate.Limiter
}

func newSourceLimiter(perSecond float64, burst, size int) *sourceLimiter {
	return &sourceLimiter{rate: rate.Limit(perSecond), burst: max(burst, 1), max: max(size, 1), byKey: map[netip.Prefix]*linked.Element{}}
}

// allow takes a token for key at now. When none is left it returns false
// and how long until one is.
func (l *sourceLimiter) allow(key netip.Prefix, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucketLocked(key)
	if b.lim.AllowN(now, 1) {
		return true, 0
	}
	missing := 1 - b.lim.TokensAt(now)
	return false, time.Duration(missing / float64(l.rate) * float64(time.Second))
}

func (l *sourceLimiter) bucketLocked(key netip.Prefix) *sourceBucket {
	if e, ok := l.byKey[key]; ok {
		l.lru.MoveToFront(e)
		return e.Value.(*sourceBucket)
	}
	for l.lru.Len() >= l.max {
		oldest := l.lru.Back()
		delete(l.byKey, oldest.Value.(*sourceBucket).key)
		l.lru.Remove(oldest)
	}
	b := &sourceBucket{key: key, lim: rate.NewLimiter(l.rate, l.burst)} // starts full
	l.byKey[key] = l.lru.PushFront(b)
	return b
}

// len is how many prefixes are remembered.
func (l *sourceLimiter) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lru.Len()
}
