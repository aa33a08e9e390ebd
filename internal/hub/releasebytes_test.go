package hub

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"flotilla.io/flotilla/internal/store"
	"flotilla.io/flotilla/internal/wire"
)

// TestGunzipRefusesOversize: a build that decompresses to more than the
// limit is refused, not cut short to a build no agent could run.
func TestGunzipRefusesOversize(t *testing.T) {
	z, err := gzipBest(bytes.Repeat([]byte("x"), 1001))
	if err != nil {
		t.Fatal(err)
	}
	if b, err := gunzip(z, 1001); err != nil || len(b) != 1001 {
		t.Errorf("gunzip at the limit = %d bytes, %v", len(b), err)
	}
	if b, err := gunzip(z, 1000); err == nil || !strings.Contains(err.Error(), "more than 1000 bytes") {
		t.Errorf("gunzip over the limit = %d bytes, %v; want refused", len(b), err)
	}
}

// releaseStore is a store that counts release blob reads and release
// lists; blob reads wait for gate unless it is nil.
type releaseStore struct {
	store.Store
	gate         chan struct{}
	reads, lists atomic.Int32

	mu sync.Mutex // guards the following
	// builds counts the reads of whole builds.
	builds int
}

func (s *releaseStore) GetReleaseBlob(ctx context.Context, key string) ([]byte, error) {
	s.reads.Add(1)
	if strings.HasPrefix(key, "gzip/") {
		s.mu.Lock()
		s.builds++
		s.mu.Unlock()
	}
	if s.gate != nil {
		<-s.gate
	}
	return s.Store.GetReleaseBlob(ctx, key)
}

func (s *releaseStore) ListReleases(ctx context.Context) ([]store.Release, error) {
	s.lists.Add(1)
	return s.Store.ListReleases(ctx)
}

// newReleaseTestHub returns a hub over a releaseStore.
func newReleaseTestHub(t *testing.T) (*Hub, *releaseStore) {
	t.Helper()
	rs := &releaseStore{}
	h, _ := newTestHubWith(t, &dirFetcher{}, func(o *Options) {
		rs.Store = o.Store
		o.Store = rs
	})
	return h, rs
}

// TestReleaseBlobMissesShareOneRead: clusters that miss the cache at once
// wait for one store read, and the cache counts the blob once.
func TestReleaseBlobMissesShareOneRead(t *testing.T) {
	ctx := context.Background()
	h, gated := newReleaseTestHub(t)
	gated.gate = make(chan struct{})
	blob := bytes.Repeat([]byte("z"), 9<<10)
	if err := gated.PutReleaseBlob(ctx, gzipKey("d1"), blob); err != nil {
		t.Fatal(err)
	}
	const clusters = 10
	var started, done sync.WaitGroup
	started.Add(clusters)
	errs := make(chan error, clusters)
	for range clusters {
		done.Go(func() {
			started.Done()
			b, err := h.releaseBlob(ctx, gzipKey("d1"))
			if err == nil && !bytes.Equal(b, blob) {
				err = errors.New("another blob")
			}
			errs <- err
		})
	}
	started.Wait()
	close(gated.gate)
	done.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := gated.reads.Load(); n != 1 {
		t.Errorf("%d store reads for one blob, want 1", n)
	}
	rb := h.releaseBytes
	if rb.cached != len(blob) || len(rb.cache) != 1 {
		t.Errorf("cache counts %d bytes in %d blobs, want %d in 1", rb.cached, len(rb.cache), len(blob))
	}
}

// TestReleaseCacheStaysBounded: blobs past the limit evict others, one
// larger than the whole cache is served but not kept, and the count is
// always the bytes held.
func TestReleaseCacheStaysBounded(t *testing.T) {
	rb := newReleaseBytes()
	third := make([]byte, releaseCacheBytes/3)
	for i := range 5 {
		rb.keep(fmt.Sprint(i), third)
		rb.keep(fmt.Sprint(i), third) // kept again: counted once
	}
	rb.keep("huge", make([]byte, releaseCacheBytes+1))
	held := 0
	for _, b := range rb.cache {
		held += len(b)
	}
	if rb.cached != held || held > releaseCacheBytes || len(rb.cache) != 3 {
		t.Errorf("cache counts %d bytes, holds %d in %d blobs; want the count to be what it holds, 3 blobs, at most %d", rb.cached, held, len(rb.cache), releaseCacheBytes)
	}
	if _, ok := rb.cache["huge"]; ok {
		t.Error("a blob larger than the cache was kept")
	}
}

// TestReleaseDownloadServesAStoredDeltaFirst: a delta the hub holds is
// served without listing the releases.
func TestReleaseDownloadServesAStoredDeltaFirst(t *testing.T) {
	ctx := context.Background()
	h, rs := newReleaseTestHub(t)
	from, to := wire.Hash([]byte("v1")), wire.Hash([]byte("v2"))
	if err := rs.PutManifests(ctx, []store.Manifest{{ClusterID: "c1", Generation: 1, Signed: []byte("{}"), Digest: "content", Agent: to}}); err != nil {
		t.Fatal(err)
	}
	if err := rs.PutReleaseBlob(ctx, deltaKey(from, to), []byte("patch")); err != nil {
		t.Fatal(err)
	}
	b, enc, err := h.ReleaseDownload(ctx, "c1", to, from)
	if err != nil || enc != wire.ReleaseDelta || string(b) != "patch" {
		t.Fatalf("download = %q, %s, %v; want the delta", b, enc, err)
	}
	if n := rs.lists.Load(); n != 0 {
		t.Errorf("%d release lists to serve a stored delta, want 0", n)
	}
}

// TestNoGainDeltaIsNotMadeAgain: a delta no smaller than the build, or
// one that cannot be made from the builds stored, is not made again, not
// even by a hub started later over the same store.
func TestNoGainDeltaIsNotMadeAgain(t *testing.T) {
	ctx := context.Background()
	random := func(seed uint64) []byte {
		b := make([]byte, 64<<10)
		r := rand.New(rand.NewPCG(seed, seed))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	h, rs := newReleaseTestHub(t)
	v1, v2, v3 := wire.Hash([]byte("v1")), wire.Hash([]byte("v2")), wire.Hash([]byte("v3"))
	for digest, build := range map[string][]byte{v1: random(1), v2: random(2)} {
		z, err := gzipBest(build)
		if err != nil {
			t.Fatal(err)
		}
		if err := rs.PutReleaseBlob(ctx, gzipKey(digest), z); err != nil {
			t.Fatal(err)
		}
	}
	// v3 is not gzip: no delta to it can be made.
	if err := rs.PutReleaseBlob(ctx, gzipKey(v3), []byte("not gzip")); err != nil {
		t.Fatal(err)
	}
	pairs := [][2]string{{v1, v2}, {v1, v3}}
	for _, p := range pairs {
		<-h.startDelta(ctx, p[0], p[1])
		if _, err := rs.GetReleaseBlob(ctx, noGainKey(p[0], p[1])); err != nil {
			t.Errorf("no marker for the delta %.6s→%.6s: %v", p[0], p[1], err)
		}
	}
	restarted, rs2 := newReleaseTestHub(t)
	rs2.Store = rs.Store
	for _, p := range pairs {
		<-restarted.startDelta(ctx, p[0], p[1])
	}
	if rs2.builds != 0 {
		t.Errorf("the restarted hub read %d builds to remake deltas known not to help", rs2.builds)
	}
	if _, err := rs.GetReleaseBlob(ctx, deltaKey(v1, v2)); err == nil {
		t.Error("a delta no smaller than the build was kept")
	}
}

// TestStopDropsQueuedDeltas: the hub stops without waiting for the deltas
// queued behind the one being made; an agent waiting for one of them gets
// the whole build, and no delta begins once the hub stopped.
func TestStopDropsQueuedDeltas(t *testing.T) {
	ctx := context.Background()
	h, rs := newReleaseTestHub(t)
	var digests []string
	for i := range 4 {
		build := []byte(fmt.Sprintf("build %d", i))
		d := wire.Hash(build)
		digests = append(digests, d)
		z, err := gzipBest(build)
		if err != nil {
			t.Fatal(err)
		}
		if err := rs.PutReleaseBlob(ctx, gzipKey(d), z); err != nil {
			t.Fatal(err)
		}
		r := store.Release{Version: fmt.Sprintf("v%d", i), Arch: "arm64", Digest: d, Size: int64(len(build)), Signed: []byte("{}"), CreatedAt: time.Now()}
		if err := rs.PutRelease(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	newest := digests[3]
	if err := rs.PutManifests(ctx, []store.Manifest{{ClusterID: "c1", Generation: 1, Signed: []byte("{}"), Digest: "content", Agent: newest}}); err != nil {
		t.Fatal(err)
	}
	rb := h.releaseBytes
	rb.slot <- struct{}{} // a delta being made, for as long as the test runs
	defer func() { <-rb.slot }()

	runCtx, stop := context.WithCancel(ctx)
	runDone := make(chan error, 1)
	go func() { runDone <- h.Run(runCtx) }()
	queued := []<-chan struct{}{h.startDelta(ctx, digests[0], newest), h.startDelta(ctx, digests[1], newest)}
	type answer struct {
		enc string
		err error
	}
	downloaded := make(chan answer, 1)
	go func() {
		_, enc, err := h.ReleaseDownload(ctx, "c1", newest, digests[2])
		downloaded <- answer{enc, err}
	}()
	stop()

	deadline := time.After(10 * time.Second)
	select {
	case <-runDone:
	case <-deadline:
		t.Fatal("Run still waits for the queued deltas after its context ended")
	}
	for i, q := range queued {
		select {
		case <-q:
		case <-deadline:
			t.Fatalf("queued delta %d still waits", i)
		}
	}
	select {
	case a := <-downloaded:
		if a.err != nil || a.enc != wire.ReleaseGzip {
			t.Errorf("download as the hub stops = %s, %v; want the whole build", a.enc, a.err)
		}
	case <-deadline:
		t.Fatal("a download waiting for a delta got no answer when the hub stopped")
	}
	select {
	case <-h.startDelta(ctx, digests[0], digests[1]):
	default:
		t.Error("a delta began after the hub stopped")
	}
	keys, err := rs.ListReleaseBlobs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, "gzip/") {
			t.Errorf("blob %s stored after the hub stopped", k)
		}
	}
}
