// Package hub is the hub's domain: enrollment, Git sources and their
// bundles, each cluster's signed manifest, long-poll wake-ups and status
// aggregation. It knows nothing of HTTP or SQL: api serves it, store keeps
// its state.
package hub

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"flotilla.io/flotilla/internal/gitsource"
	"flotilla.io/flotilla/internal/pki"
	"flotilla.io/flotilla/internal/render"
	"flotilla.io/flotilla/internal/store"
)

// Fetcher brings a Git source's branch head into a local checkout.
type Fetcher interface {
	Fetch(ctx context.Context, name, url, branch string) (gitsource.Revision, error)
	// Cached returns a commit fetched before, without the network.
	Cached(name, url, branch, commit string) (gitsource.Revision, error)
}

// Options configure a Hub.
type Options struct {
	Store      store.Store
	CA         *pki.CA
	SigningKey ed25519.PrivateKey
	Fetcher    Fetcher
	// URL is the hub's advertised agent endpoint, written into tokens.
	URL string
	// LongPoll is how long a manifest request waits for a change.
	LongPoll time.Duration
	// Now is the clock; time.Now when nil.
	Now    func() time.Time
	Logger *slog.Logger
	// Metrics registers the hub's series; none are exported when nil.
	Metrics prometheus.Registerer
	// Render configures rendering in the hub's own process (chart cache,
	// remote Kustomize, limits) when Renderer is nil.
	Render render.Options
	// Renderer renders bundles (renderworker's pool, in the hub); nil
	// renders in this process with Render.
	Renderer render.Renderer
	// RenderParallel bounds the renders under way at once; GOMAXPROCS
	// when zero.
	RenderParallel int
	// RenderCacheBytes bounds the render cache; DefaultRenderCacheBytes
	// when zero.
	RenderCacheBytes int64
	// FactsInterval is the least time between two manifest computations a
	// cluster's changing facts cause; DefaultFactsInterval when zero.
	FactsInterval time.Duration
}

// Hub is the hub's domain logic. Its methods are safe for concurrent use.
type Hub struct {
	store    store.Store
	ca       *pki.CA
	key      ed25519.PrivateKey
	fetcher  Fetcher
	url      string
	longPoll time.Duration
	now      func() time.Time
	log      *slog.Logger

	// syncNow asks the source loop to fetch a source at once.
	syncNow chan string

	waiters *waiters
	metrics *metrics

	// queue holds the work of the manifest worker, the only computer of
	// manifests (so generations are assigned one at a time per cluster).
	queue    *workQueue
	renderer render.Renderer
	// renderSlots holds one token per render under way.
	renderSlots chan struct{}
	// renders caches renders and tracks those in flight; rendering counts
	// the goroutines that run them, which Run waits for.
	renders   *renderCache
	rendering sync.WaitGroup
	// facts limits how often a cluster's facts cause a recomputation.
	facts *factsLimiter
	// backoff tracks failing source fetches.
	backoff *sourceBackoff

	// shipments caches manifest answers by (held content, new content).
	shipments shipments
	// statuses batches status writes.
	statuses statusBatcher
	// releaseBytes serves agent releases and makes deltas between them.
	releaseBytes *releaseBytes

	mu sync.Mutex // guards the following
	// loaded holds each source's current checkout and parsed bundles; a
	// source is absent until fetched since this hub started.
	loaded map[string]*loaded
	// seen is when each cluster's agent was last seen; seenWritten what
	// the store has of it.
	seen, seenWritten map[string]time.Time
	// auth holds certificate serials checked recently, by cluster ID.
	auth map[string]authEntry
	// contents caches manifest content by digest for serving.
	contents map[string][]byte
}

// New returns a Hub. Run must be called for sources to be fetched.
func New(opts Options) (*Hub, error) {
	if opts.Store == nil || opts.CA == nil || opts.SigningKey == nil || opts.Fetcher == nil {
		return nil, errors.New("creating hub: store, CA, signing key and fetcher are required")
	}
	h := &Hub{
		store:       opts.Store,
		ca:          opts.CA,
		key:         opts.SigningKey,
		fetcher:     opts.Fetcher,
		url:         opts.URL,
		longPoll:    opts.LongPoll,
		now:         opts.Now,
		log:         opts.Logger,
		syncNow:     make(chan string, 64),
		waiters:     newWaiters(),
		loaded:      map[string]*loaded{},
		queue:       newWorkQueue(),
		renderer:    opts.Renderer,
		seen:        map[string]time.Time{},
		seenWritten: map[string]time.Time{},
		auth:        map[string]authEntry{},
		contents:    map[string][]byte{},

		releaseBytes: newReleaseBytes(),
	}
	if h.longPoll <= 0 {
		h.longPoll = 60 * time.Second
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	h.metrics = newMetrics(opts.Metrics, func() float64 { return float64(h.waiters.pollingCount()) })
	h.renders = newRenderCache(opts.RenderCacheBytes, h.metrics)
	if h.renderer == nil {
		h.renderer = render.InProcess{Options: opts.Render}
	}
	if opts.RenderParallel <= 0 {
		opts.RenderParallel = runtime.GOMAXPROCS(0)
	}
	h.renderSlots = make(chan struct{}, opts.RenderParallel)
	h.facts = newFactsLimiter(opts.FactsInterval)
	h.backoff = newSourceBackoff()
	return h, nil
}

// Run fetches sources on their poll intervals, computes manifests as
// sources, groups and clusters change, and writes when clusters were last
// seen, until ctx ends.
func (h *Hub) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer h.rendering.Wait()
	defer h.releaseBytes.making.Wait()
	defer h.releaseBytes.stopDeltas()
	defer wg.Wait()
	wg.Go(func() { h.seenLoop(ctx) })
	wg.Go(func() { h.manifestLoop(ctx) })
	h.queue.markAll()
	return h.sourceLoop(ctx)
}

// Error is a domain error with the HTTP-ish class a caller should answer
// with; Msg is safe to show to the client.
type Error struct {
	Kind Kind
	Msg  string
	Err  error
}

// Kind classifies an Error.
type Kind int

// Error kinds.
const (
	Invalid Kind = iota + 1
	Unauthorized
	NotFound
	Conflict
)

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %v", e.Msg, e.Err)
	}
	return e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

func errorf(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}
