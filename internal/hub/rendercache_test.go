package hub

import (
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestRenderCacheIsBoundedByBytes: past its byte limit the cache drops the
// least recently used renders, counts hits and misses, and keeps each
// bundle's summary for listings.
func TestRenderCacheIsBoundedByBytes(t *testing.T) {
	m := newMetrics(nil, func() float64 { return 0 })
	one := rendered{hashes: make([]string, 10)}
	c := newRenderCache(3*one.size(), m)
	id := func(i int) renderID { return renderID{repo: "r", commit: "c1", key: fmt.Sprint(i)} }
	for i := range 3 {
		if _, start := c.begin(id(i)); !start {
			t.Fatalf("render %d not started", i)
		}
		c.finish(id(i), "b", one, true)
	}
	if _, ok := c.get(id(0), "b"); !ok { // 0 is now the most recent
		t.Fatal("render 0 missing before the limit was reached")
	}
	c.begin(id(3))
	c.finish(id(3), "b", one, true)
	tests := []struct {
		i    int
		kept bool
	}{{0, true}, {1, false}, {2, true}, {3, true}}
	for _, tc := range tests {
		if _, ok := c.peek(id(tc.i), "b"); ok != tc.kept {
			t.Errorf("render %d kept = %v, want %v", tc.i, ok, tc.kept)
		}
	}
	if c.bytes > c.maxBytes {
		t.Errorf("cache holds %d bytes, limit %d", c.bytes, c.maxBytes)
	}
	c.get(id(1), "b")
	if hits, misses := testutil.ToFloat64(m.cacheHits), testutil.ToFloat64(m.cacheMisses); hits != 1 || misses != 1 {
		t.Errorf("hits %v misses %v, want 1 and 1", hits, misses)
	}
	if n, _ := c.summary("b", "c1"); n != 10 {
		t.Errorf("summary objects %d, want 10 after evictions", n)
	}
	// A render in flight is started once; its waiters come back when it ends.
	if _, start := c.begin(id(9)); !start {
		t.Fatal("render 9 not started")
	}
	if _, start := c.begin(id(9)); start {
		t.Error("render 9 started twice")
	}
	if !c.wait(id(9), "cluster-a") {
		t.Error("could not wait for a render in flight")
	}
	if got := c.finish(id(9), "b", one, true); len(got) != 1 || got[0] != "cluster-a" {
		t.Errorf("waiters %v", got)
	}
	if c.wait(id(9), "cluster-b") {
		t.Error("waiting on a render that ended")
	}
}
