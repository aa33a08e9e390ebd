package hub

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"golang.org/x/sync/singleflight"

	"flotilla.io/flotilla/internal/bindelta"
	"flotilla.io/flotilla/internal/store"
	"flotilla.io/flotilla/internal/wire"
)

// Release bytes are blobs in the store: "gzip/<digest>" holds a build
// compressed whole, "delta/<from>/<to>" a bindelta patch between two
// builds of one arch, "nogain/<from>/<to>" why that delta was not kept
// (no smaller than the build, or it could not be made), so that it is
// not made again after a restart. Deltas are made at push, from the newest
// maxDeltaBases builds before it, one at a time (a delta of a 26 MB agent
// takes ~15 s and ~400 MiB), and on demand when an agent runs an older
// build the hub holds.
const (
	maxDeltaBases = 3
	// releaseCacheBytes bounds the blobs kept in memory for serving: a
	// fleet updating at once fetches the same few.
	releaseCacheBytes = 96 << 20
)

func gzipKey(digest string) string     { return "gzip/" + digest }
func deltaKey(from, to string) string  { return "delta/" + from + "/" + to }
func noGainKey(from, to string) string { return "nogain/" + from + "/" + to }
func deltaFrom(key, to string) (string, bool) {
	rest, ok := strings.CutPrefix(key, "delta/")
	if !ok {
		return "", false
	}
	from, dst, ok := strings.Cut(rest, "/")
	return from, ok && dst == to
}

// releaseBytes serves release blobs and makes deltas.
type releaseBytes struct {
	// slot holds the one delta being made.
	slot chan struct{}
	// making counts the goroutines making deltas, which Run waits for.
	making sync.WaitGroup
	// stop is closed when Run ends: deltas not begun are dropped (an
	// agent that waited for one gets the whole build).
	stop     chan struct{}
	stopOnce sync.Once
	// loads reads a blob the cache lacks once for all who ask at once.
	loads singleflight.Group

	mu sync.Mutex // guards the following
	// inflight holds a channel per delta being made, closed when done.
	inflight map[string]chan struct{}
	// cache holds blobs by key, cached bytes in total.
	cache  map[string][]byte
	cached int
	// noGain holds the deltas known not to be kept (see noGainKey).
	noGain map[string]bool
}

func newReleaseBytes() *releaseBytes {
	return &releaseBytes{slot: make(chan struct{}, 1), stop: make(chan struct{}), inflight: map[string]chan struct{}{}, cache: map[string][]byte{}, noGain: map[string]bool{}}
}

// releaseBlob returns a blob from the cache or the store. Requests that
// miss at once share one read: a fleet asks for the same build together.
func (h *Hub) releaseBlob(ctx context.Context, key string) ([]byte, error) {
	rb := h.releaseBytes
	if b, ok := rb.cachedBlob(key); ok {
		return b, nil
	}
	// Not under ctx: one agent leaving must not fail those that share its
	// read, and each of them stops waiting when it leaves.
	load := context.WithoutCancel(ctx)
	res := rb.loads.DoChan(key, func() (any, error) {
		if b, ok := rb.cachedBlob(key); ok { // a read that just ended
			return b, nil
		}
		b, err := h.store.GetReleaseBlob(load, key)
		if err != nil {
			return nil, err
		}
		rb.keep(key, b)
		return b, nil
	})
	select {
	case r := <-res:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.([]byte), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (rb *releaseBytes) cachedBlob(key string) ([]byte, bool) {
	rb.mu.Lock()
	defer rb.mu.Unlock()
	b, ok := rb.cache[key]
	return b, ok
}

// keep caches a blob read from the store, evicting others at random until
// it fits; a blob larger than the whole cache is not kept.
func (rb *releaseBytes) keep(key string, b []byte) {
	rb.mu.Lock()
	defer rb.mu.Unlock()
	if old, ok := rb.cache[key]; ok {
		delete(rb.cache, key)
		rb.cached -= len(old)
	}
	if len(b) > releaseCacheBytes {
		return
	}
	for k, v := range rb.cache {
		if rb.cached+len(b) <= releaseCacheBytes {
			break
		}
		delete(rb.cache, k)
		rb.cached -= len(v)
	}
	rb.cache[key], rb.cached = b, rb.cached+len(b)
}

// prepareDeltas starts making deltas to r from the newest builds of its
// arch pushed before it.
func (h *Hub) prepareDeltas(ctx context.Context, r store.Release) error {
	rs, err := h.store.ListReleases(ctx)
	if err != nil {
		return fmt.Errorf("listing agent releases: %w", err)
	}
	bases := 0
	seen := map[string]bool{r.Digest: true}
	for i := len(rs) - 1; i >= 0 && bases < maxDeltaBases; i-- {
		if rs[i].Arch != r.Arch || seen[rs[i].Digest] {
			continue
		}
		seen[rs[i].Digest] = true
		bases++
		h.startDelta(ctx, rs[i].Digest, r.Digest)
	}
	return nil
}

// startDelta makes the delta from one build to another in the
// background, unless it exists, is being made, or the hub is stopping;
// the returned channel is closed when it is done.
func (h *Hub) startDelta(ctx context.Context, from, to string) <-chan struct{} {
	rb := h.releaseBytes
	key := deltaKey(from, to)
	rb.mu.Lock()
	defer rb.mu.Unlock()
	if ch, ok := rb.inflight[key]; ok {
		return ch
	}
	ch := make(chan struct{})
	if rb.noGain[key] || rb.stopped() {
		close(ch)
		return ch
	}
	rb.inflight[key] = ch
	rb.making.Go(func() {
		defer func() {
			rb.mu.Lock()
			delete(rb.inflight, key)
			rb.mu.Unlock()
			close(ch)
		}()
		// An agent or operator leaving must not fail the others; the
		// hub stopping ends it.
		ctx, cancel := rb.untilStop(context.WithoutCancel(ctx))
		defer cancel()
		if h.deltaSettled(ctx, from, to) {
			return
		}
		select {
		case rb.slot <- struct{}{}:
			defer func() { <-rb.slot }()
		case <-ctx.Done():
			return
		}
		if ctx.Err() != nil {
			return
		}
		if err := h.makeDelta(ctx, from, to); err != nil && !errors.Is(err, context.Canceled) {
			h.log.Warn("making agent release delta", "from", from[:12], "to", to[:12], "err", err)
		}
	})
	return ch
}

// stopDeltas drops the deltas not begun and refuses new ones; Run calls
// it as it ends.
func (rb *releaseBytes) stopDeltas() {
	rb.stopOnce.Do(func() { close(rb.stop) })
}

func (rb *releaseBytes) stopped() bool {
	select {
	case <-rb.stop:
		return true
	default:
		return false
	}
}

// untilStop is ctx, cancelled when the deltas stop.
func (rb *releaseBytes) untilStop(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-rb.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// deltaSettled reports whether the delta from one build to another is
// stored, or known not to be kept: nothing to make, nothing to wait for.
func (h *Hub) deltaSettled(ctx context.Context, from, to string) bool {
	if _, err := h.store.GetReleaseBlob(ctx, noGainKey(from, to)); err == nil {
		rb := h.releaseBytes
		rb.mu.Lock()
		rb.noGain[deltaKey(from, to)] = true
		rb.mu.Unlock()
		return true
	}
	_, err := h.store.GetReleaseBlob(ctx, deltaKey(from, to))
	return err == nil
}

// makeDelta stores the delta from one build to another when it is
// smaller than the build compressed whole, and a no-gain marker when it
// is not or cannot be made from the builds stored (which will not change).
func (h *Hub) makeDelta(ctx context.Context, from, to string) error {
	oldZ, err := h.store.GetReleaseBlob(ctx, gzipKey(from))
	if err != nil {
		return fmt.Errorf("loading agent release %.12s: %w", from, err)
	}
	newZ, err := h.store.GetReleaseBlob(ctx, gzipKey(to))
	if err != nil {
		return fmt.Errorf("loading agent release %.12s: %w", to, err)
	}
	patch, err := diffBuilds(oldZ, newZ)
	// The work is done (bindelta cannot be stopped): keep it even when
	// the hub is stopping.
	ctx = context.WithoutCancel(ctx)
	if err != nil {
		h.markNoGain(ctx, from, to, err.Error())
		return err
	}
	if len(patch) >= len(newZ) {
		h.markNoGain(ctx, from, to, fmt.Sprintf("delta of %d bytes, build of %d gzipped", len(patch), len(newZ)))
		h.log.Info("agent release delta no smaller than the build", "from", from[:12], "to", to[:12], "delta", len(patch), "gzip", len(newZ))
		return nil
	}
	if err := h.store.PutReleaseBlob(ctx, deltaKey(from, to), patch); err != nil {
		return fmt.Errorf("storing agent release delta: %w", err)
	}
	h.log.Info("agent release delta made", "from", from[:12], "to", to[:12], "bytes", len(patch), "gzip", len(newZ))
	return nil
}

// diffBuilds is the bindelta patch between two gzipped builds.
func diffBuilds(oldZ, newZ []byte) ([]byte, error) {
	old, err := gunzip(oldZ, wire.MaxReleaseSize)
	if err != nil {
		return nil, err
	}
	new, err := gunzip(newZ, wire.MaxReleaseSize)
	if err != nil {
		return nil, err
	}
	return bindelta.Diff(old, new)
}

// markNoGain records that the delta from one build to another is not
// kept, in memory and in the store (for the next hub to start).
func (h *Hub) markNoGain(ctx context.Context, from, to, why string) {
	rb := h.releaseBytes
	rb.mu.Lock()
	rb.noGain[deltaKey(from, to)] = true
	rb.mu.Unlock()
	if err := h.store.PutReleaseBlob(ctx, noGainKey(from, to), []byte(why)); err != nil {
		h.log.Warn("storing agent release no-gain marker", "from", from[:12], "to", to[:12], "err", err)
	}
}

// gunzip decompresses a build, refusing one of more than limit bytes
// rather than cutting it short.
func gunzip(z []byte, limit int64) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(z))
	if err != nil {
		return nil, fmt.Errorf("decompressing agent release: %w", err)
	}
	b, err := io.ReadAll(io.LimitReader(zr, limit+1))
	if err != nil {
		return nil, fmt.Errorf("decompressing agent release: %w", err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("decompressing agent release: more than %d bytes", limit)
	}
	return b, nil
}

// ReleaseDownload is the bytes of the agent release a cluster's manifest
// names (digest): a delta from the build the agent runs (from) when the
// hub holds that build, else the build compressed whole. encoding is
// wire.ReleaseDelta or wire.ReleaseGzip.
func (h *Hub) ReleaseDownload(ctx context.Context, clusterID, digest, from string) (data []byte, encoding string, err error) {
	m, err := h.store.GetManifest(ctx, clusterID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, "", fmt.Errorf("loading manifest: %w", err)
	}
	if m.Agent != digest {
		return nil, "", errorf(NotFound, "agent release %.12s is not the one this cluster's manifest names", digest)
	}
	if from != "" && from != digest {
		// A delta is only ever made between two builds the hub holds:
		// one found needs no look at the list.
		if d, err := h.releaseBlob(ctx, deltaKey(from, digest)); err == nil {
			return d, wire.ReleaseDelta, nil
		}
	}
	if from != "" && from != digest && h.knownBuild(ctx, from, digest) {
		select {
		case <-h.startDelta(ctx, from, digest):
		case <-ctx.Done():
			return nil, "", ctx.Err()
		}
		if d, err := h.releaseBlob(ctx, deltaKey(from, digest)); err == nil {
			return d, wire.ReleaseDelta, nil
		}
	}
	z, err := h.releaseBlob(ctx, gzipKey(digest))
	if err != nil {
		return nil, "", fmt.Errorf("loading agent release %.12s: %w", digest, err)
	}
	return z, wire.ReleaseGzip, nil
}

// knownBuild reports whether from is a build of the same arch as to that
// the hub holds.
func (h *Hub) knownBuild(ctx context.Context, from, to string) bool {
	rs, err := h.store.ListReleases(ctx)
	if err != nil {
		return false
	}
	arch := map[string]string{}
	for _, r := range rs {
		arch[r.Digest] = r.Arch
	}
	return arch[from] != "" && arch[from] == arch[to]
}
