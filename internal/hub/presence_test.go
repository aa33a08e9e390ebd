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

func TestAuthenticateTrustsMemoryBriefly(t *testing.T) {
	ctx := context.Background()
	h, db := newTestHub(t, &dirFetcher{})
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	h.now = func() time.Time { return now }
	if err := db.CreateCluster(ctx, store.Cluster{ID: "c1", Name: "edge", CertSerial: "aa", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, id, serial string
		after            time.Duration
		ok               bool
	}{
		{"current certificate", "c1", "aa", 0, true},
		{"other certificate", "c1", "bb", 0, false},
		{"unknown cluster", "nope", "aa", 0, false},
		{"again from memory", "c1", "aa", time.Second, true},
		{"after the TTL, from the store", "c1", "aa", authTTL + time.Second, true},
	}
	for _, tc := range tests {
		now = now.Add(tc.after)
		err := h.Authenticate(ctx, tc.id, tc.serial)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}
