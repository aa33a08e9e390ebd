package hub

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"flotilla.io/flotilla/internal/store"
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

// gatedBlobs is a store whose release blob reads wait for a gate and are
// counted.
type gatedBlobs struct {
	store.Store
	gate  chan struct{}
	reads atomic.Int32
}

func (s *gatedBlobs) GetReleaseBlob(ctx context.Context, key string) ([]byte, error) {
	s.reads.Add(1)
	<-s.gate
	return s.Store.GetReleaseBlob(ctx, key)
}

// TestReleaseBlobMissesShareOneRead: clusters that miss the cache at once
// wait for one store read, and the cache counts the blob once.
func TestReleaseBlobMissesShareOneRead(t *testing.T) {
	ctx := context.Background()
	gated := &gatedBlobs{gate: make(chan struct{})}
	h, db := newTestHubWith(t, &dirFetcher{}, func(o *Options) {
		gated.Store = o.Store
		o.Store = gated
	})
	blob := bytes.Repeat([]byte("z"), 9<<10)
	if err := db.PutReleaseBlob(ctx, gzipKey("d1"), blob); err != nil {
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
