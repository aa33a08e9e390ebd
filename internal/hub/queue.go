package hub

import (
	"maps"
	"slices"
	"sync"
	"time"
)

// workQueue is the manifest worker's to-do list. Request paths (enrollment,
// status, operator changes) and the source loop mark what changed and
// return at once; the worker takes everything marked since its last pass
// and computes it in one, so a herd of requests costs one pass, not one
// each, and no request waits for a render.
type workQueue struct {
	kick chan struct{} // holds one wake-up at most

	mu sync.Mutex // guards the following
	// all asks for every cluster.
	all bool
	// sources asks for the clusters these sources target.
	sources map[string]struct{}
	// clusters asks for these clusters, each with the generation its next
	// manifest must exceed (0 for none).
	clusters map[string]int64
	// later holds clusters to mark once their time has come (facts that
	// changed again too soon).
	later map[string]time.Time
}

// work is what one pass computes.
type work struct {
	all      bool
	sources  []string
	clusters map[string]int64
}

func (w work) empty() bool { return !w.all && len(w.sources) == 0 && len(w.clusters) == 0 }

func newWorkQueue() *workQueue {
	return &workQueue{kick: make(chan struct{}, 1), sources: map[string]struct{}{}, clusters: map[string]int64{}, later: map[string]time.Time{}}
}

func (q *workQueue) wake() {
	select {
	case q.kick <- struct{}{}:
	default:
	}
}

// markAll asks for every cluster's manifest.
func (q *workQueue) markAll() {
	q.mu.Lock()
	q.all = true
	q.mu.Unlock()
	q.wake()
}

// markSources asks for the manifests of the clusters the sources target.
func (q *workQueue) markSources(names ...string) {
	q.mu.Lock()
	for _, n := range names {
		q.sources[n] = struct{}{}
	}
	q.mu.Unlock()
	q.wake()
}

// markClusters asks for the clusters' manifests, above floor.
func (q *workQueue) markClusters(floor int64, ids ...string) {
	q.mu.Lock()
	for _, id := range ids {
		q.clusters[id] = max(q.clusters[id], floor)
		delete(q.later, id)
	}
	q.mu.Unlock()
	q.wake()
}

// markLater asks for a cluster's manifest at a time, unless it is marked
// before that.
func (q *workQueue) markLater(id string, at time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, marked := q.clusters[id]; marked {
		return
	}
	if cur, ok := q.later[id]; !ok || at.Before(cur) {
		q.later[id] = at
	}
}

// take empties the queue into a work item; next is when the earliest
// later mark falls due (zero when none waits).
func (q *workQueue) take(now time.Time) (w work, next time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for id, at := range q.later {
		if at.After(now) {
			if next.IsZero() || at.Before(next) {
				next = at
			}
			continue
		}
		q.clusters[id] = max(q.clusters[id], 0)
		delete(q.later, id)
	}
	w = work{all: q.all, sources: slices.Sorted(maps.Keys(q.sources)), clusters: q.clusters}
	q.all = false
	q.sources = map[string]struct{}{}
	q.clusters = map[string]int64{}
	return w, next
}

// requeue puts back work a pass could not finish.
func (q *workQueue) requeue(w work) {
	q.mu.Lock()
	q.all = q.all || w.all
	for _, s := range w.sources {
		q.sources[s] = struct{}{}
	}
	for id, floor := range w.clusters {
		q.clusters[id] = max(q.clusters[id], floor)
	}
	q.mu.Unlock()
	q.wake()
}
