package hub

import (
	"container/list"
	"context"
	"sync"
)

// DefaultRenderCacheBytes bounds the render cache when Options leave it 0:
// at ~2 KiB a render (25 object hashes) it holds some 30,000 renders.
const DefaultRenderCacheBytes = 64 << 20

// renderCache holds renders by renderID, evicting the least recently used
// past maxBytes (an agent that varies its facts cannot grow it without
// bound), and tracks the renders in flight so that one key renders once
// however many passes ask for it.
type renderCache struct {
	maxBytes int64
	metrics  *metrics

	mu sync.Mutex // guards the following
	// lru holds *cacheEntry, most recently used at the front.
	lru   *list.List
	byID  map[renderID]*list.Element
	bytes int64
	// inflight holds the renders under way.
	inflight map[renderID]*inflight
	// refusals holds, by repository, commit and bundle path, the error of
	// a render that hit a limit: the bundle's other renders at that commit
	// are refused with it at once.
	refusals map[refusal]string
	// summaries describe each bundle's renders at a commit for listings;
	// they outlive evictions.
	summaries map[bundleAt]summary
}

type cacheEntry struct {
	id renderID
	r  rendered
}

type inflight struct {
	done chan struct{}
	// waiters are clusters whose manifest waits for this render; they are
	// queued again when it ends.
	waiters map[string]struct{}
}

type refusal struct{ repo, commit, path string }

type bundleAt struct{ name, commit string }

type summary struct {
	objects int
	err     string
}

func newRenderCache(maxBytes int64, m *metrics) *renderCache {
	if maxBytes <= 0 {
		maxBytes = DefaultRenderCacheBytes
	}
	return &renderCache{
		maxBytes:  maxBytes,
		metrics:   m,
		lru:       list.New(),
		byID:      map[renderID]*list.Element{},
		inflight:  map[renderID]*inflight{},
		refusals:  map[refusal]string{},
		summaries: map[bundleAt]summary{},
	}
}

// get returns the cached render of id for bundle name, if any.
func (c *renderCache) get(id renderID, name string) (rendered, bool) {
	r, ok := c.peek(id, name)
	if ok {
		c.metrics.cacheHits.Inc()
	} else {
		c.metrics.cacheMisses.Inc()
	}
	return r, ok
}

// peek is get without counting a hit or a miss: a pass looks again for
// the renders it started.
func (c *renderCache) peek(id renderID, name string) (rendered, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byID[id]
	if !ok {
		return rendered{}, false
	}
	c.lru.MoveToFront(e)
	r := e.Value.(*cacheEntry).r
	c.summarizeLocked(name, id.commit, r)
	return r, true
}

// begin claims the render of id: start is true when the caller must run
// it. done closes when the render ends (at once when it already has).
func (c *renderCache) begin(id renderID) (done <-chan struct{}, start bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f, ok := c.inflight[id]; ok {
		return f.done, false
	}
	if _, ok := c.byID[id]; ok {
		ch := make(chan struct{})
		close(ch)
		return ch, false
	}
	f := &inflight{done: make(chan struct{}), waiters: map[string]struct{}{}}
	c.inflight[id] = f
	return f.done, true
}

// wait queues cluster to be woken when the render of id ends; false when
// it is not in flight (it ended already: the caller queues the cluster
// itself).
func (c *renderCache) wait(id renderID, cluster string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	f, ok := c.inflight[id]
	if ok {
		f.waiters[cluster] = struct{}{}
	}
	return ok
}

// finish records the render of id for bundle name (unless ok is false: a
// failure of the hub's, retried by the next pass that needs it) and
// returns the clusters waiting for it.
func (c *renderCache) finish(id renderID, name string, r rendered, ok bool) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ok {
		c.addLocked(id, r)
		c.summarizeLocked(name, id.commit, r)
	}
	f := c.inflight[id]
	delete(c.inflight, id)
	if f == nil {
		return nil
	}
	close(f.done)
	waiters := make([]string, 0, len(f.waiters))
	for w := range f.waiters {
		waiters = append(waiters, w)
	}
	return waiters
}

func (c *renderCache) addLocked(id renderID, r rendered) {
	if e, ok := c.byID[id]; ok {
		c.bytes -= e.Value.(*cacheEntry).r.size()
		c.lru.Remove(e)
	}
	c.byID[id] = c.lru.PushFront(&cacheEntry{id: id, r: r})
	c.bytes += r.size()
	for c.bytes > c.maxBytes && c.lru.Len() > 1 {
		c.removeLocked(c.lru.Back())
	}
	c.metrics.cacheBytes.Set(float64(c.bytes))
}

func (c *renderCache) removeLocked(e *list.Element) {
	ent := e.Value.(*cacheEntry)
	c.lru.Remove(e)
	delete(c.byID, ent.id)
	c.bytes -= ent.r.size()
}

func (c *renderCache) summarizeLocked(name, commit string, r rendered) {
	k := bundleAt{name, commit}
	s := c.summaries[k]
	s.objects = max(s.objects, len(r.hashes))
	if s.err == "" {
		s.err = r.err
	}
	c.summaries[k] = s
}

// refuse makes every later render of the bundle at path in id's commit
// fail with msg.
func (c *renderCache) refuse(id renderID, path, msg string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refusals[refusal{id.repo, id.commit, path}] = msg
}

// refused returns the error of an earlier render of the bundle that hit a
// limit at this commit.
func (c *renderCache) refused(id renderID, path string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	msg, ok := c.refusals[refusal{id.repo, id.commit, path}]
	return msg, ok
}

// summary describes bundle name's renders at commit: the most objects any
// target got, and the first render error.
func (c *renderCache) summary(name, commit string) (objects int, errMsg string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.summaries[bundleAt{name, commit}]
	return s.objects, s.err
}

// forget drops what belongs to commits no source has loaded any more, and
// the summaries of bundles that are gone.
func (c *renderCache) forget(liveCommit func(repo, commit string) bool, liveBundle func(name, commit string) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for e := c.lru.Front(); e != nil; {
		next := e.Next()
		if id := e.Value.(*cacheEntry).id; !liveCommit(id.repo, id.commit) {
			c.removeLocked(e)
		}
		e = next
	}
	for k := range c.refusals {
		if !liveCommit(k.repo, k.commit) {
			delete(c.refusals, k)
		}
	}
	for k := range c.summaries {
		if !liveBundle(k.name, k.commit) {
			delete(c.summaries, k)
		}
	}
	c.metrics.cacheBytes.Set(float64(c.bytes))
}

// busy reports whether renders are under way.
func (c *renderCache) busy() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.inflight) > 0
}

// idle waits until the renders under way now have ended.
func (c *renderCache) idle(ctx context.Context) error {
	c.mu.Lock()
	var dones []chan struct{}
	for _, f := range c.inflight {
		dones = append(dones, f.done)
	}
	c.mu.Unlock()
	for _, d := range dones {
		select {
		case <-d:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
