package hub

import (
	"context"
	"testing"
	"time"

	"flotilla.io/flotilla/internal/store"
)

func TestSeenIsBatchedAndShownAtOnce(t *testing.T) {
	ctx := context.Background()
	h, db := newTestHub(t, &dirFetcher{})
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	h.now = func() time.Time { return now }
	for _, id := range []string{"c1", "c2"} {
		if err := db.CreateCluster(ctx, store.Cluster{ID: id, Name: "edge-" + id, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.Seen(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	// Shown before it is written...
	cs, err := h.Clusters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		seen := c.LastSeen != nil && c.LastSeen.Equal(now)
		if seen != (c.ID == "c1") || c.Connected != (c.ID == "c1") {
			t.Errorf("cluster %s: lastSeen %v, connected %v", c.ID, c.LastSeen, c.Connected)
		}
	}
	if c, _ := db.GetCluster(ctx, "c1"); !c.LastSeen.IsZero() {
		t.Errorf("written before the flush: %v", c.LastSeen)
	}
	// ...written by the flush, and not again when nothing changed.
	h.flushSeen(ctx)
	if c, _ := db.GetCluster(ctx, "c1"); !c.LastSeen.Equal(now) {
		t.Errorf("after the flush the store has %v, want %v", c.LastSeen, now)
	}
	h.mu.Lock()
	written := len(h.seenWritten)
	h.mu.Unlock()
	if written != 1 {
		t.Errorf("%d clusters written, want 1", written)
	}
}

// countingStore counts cluster reads.
type countingStore struct {
	store.Store
	gets int
}

func (s *countingStore) GetCluster(ctx context.Context, id string) (store.Cluster, error) {
	s.gets++
	return s.Store.GetCluster(ctx, id)
}

func TestAuthenticateTrustsMemoryBriefly(t *testing.T) {
	ctx := context.Background()
	h, db := newTestHub(t, &dirFetcher{})
	cs := &countingStore{Store: db}
	h.store = cs
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	h.now = func() time.Time { return now }
	if err := db.CreateCluster(ctx, store.Cluster{ID: "c1", Name: "edge", CertSerial: "aa", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, id, serial string
		after            time.Duration
		ok               bool
		reads            int // store reads this check makes
	}{
		{"current certificate", "c1", "aa", 0, true, 1},
		{"other certificate", "c1", "bb", 0, false, 1},
		{"unknown cluster", "nope", "aa", 0, false, 1},
		{"again, from memory", "c1", "aa", time.Second, true, 0},
		{"after the TTL, from the store", "c1", "aa", authTTL + time.Second, true, 1},
	}
	for _, tc := range tests {
		now = now.Add(tc.after)
		before := cs.gets
		err := h.Authenticate(ctx, tc.id, tc.serial)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err = %v, want ok %v", tc.name, err, tc.ok)
		}
		if got := cs.gets - before; got != tc.reads {
			t.Errorf("%s: %d store reads, want %d", tc.name, got, tc.reads)
		}
	}
}
