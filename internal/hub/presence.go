package hub

import (
	"context"
	"errors"
	"fmt"
	"time"

	"flotilla.io/flotilla/internal/store"
)

// A fleet of long-polling agents makes a request per cluster every minute
// or so; each authenticates and marks the cluster seen. Both stay in
// memory on that path: the last-seen times are written in one transaction
// every seenFlush, and a certificate check is read from the store at most
// every authTTL per cluster.

const (
	// seenFlush is how often last-seen times are written.
	seenFlush = 10 * time.Second
	// authTTL bounds how long a cluster's certificate serial is trusted
	// from memory (another hub on the same PostgreSQL may re-enroll it).
	authTTL = 30 * time.Second
)

type authEntry struct {
	serial string
	at     time.Time
}

// Seen records that a cluster's agent made a request.
func (h *Hub) Seen(_ context.Context, clusterID string) error {
	now := h.now().UTC()
	h.mu.Lock()
	h.seen[clusterID] = now
	h.mu.Unlock()
	return nil
}

// lastSeen is when c's agent was last seen, by the store or since the
// last flush.
func (h *Hub) lastSeen(c store.Cluster) time.Time {
	h.mu.Lock()
	t := h.seen[c.ID]
	h.mu.Unlock()
	if t.After(c.LastSeen) {
		return t
	}
	return c.LastSeen
}

// flushSeen writes the last-seen times recorded since the previous flush.
func (h *Hub) flushSeen(ctx context.Context) {
	h.mu.Lock()
	batch := make(map[string]time.Time)
	for id, t := range h.seen {
		if t.After(h.seenWritten[id]) {
			batch[id] = t
		}
	}
	h.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	if err := h.store.TouchClusters(ctx, batch); err != nil {
		h.log.Warn("recording when clusters were seen", "clusters", len(batch), "err", err)
		return
	}
	h.mu.Lock()
	for id, t := range batch {
		h.seenWritten[id] = t
	}
	h.mu.Unlock()
}

// seenLoop flushes last-seen times every seenFlush, and once more at the end.
func (h *Hub) seenLoop(ctx context.Context) {
	t := time.NewTicker(seenFlush)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			h.flushSeen(context.WithoutCancel(ctx))
			return
		case <-t.C:
			h.flushSeen(ctx)
		}
	}
}

// Authenticate checks that an agent's client certificate is the one the
// cluster was enrolled with.
func (h *Hub) Authenticate(ctx context.Context, clusterID, serial string) error {
	now := h.now()
	h.mu.Lock()
	e, ok := h.auth[clusterID]
	h.mu.Unlock()
	if ok && e.serial == serial && now.Sub(e.at) < authTTL {
		return nil
	}
	c, err := h.store.GetCluster(ctx, clusterID)
	if errors.Is(err, store.ErrNotFound) {
		return errorf(Unauthorized, "unknown cluster")
	}
	if err != nil {
		return fmt.Errorf("loading cluster: %w", err)
	}
	if c.CertSerial != serial {
		return errorf(Unauthorized, "client certificate is not the cluster's current one")
	}
	h.mu.Lock()
	h.auth[clusterID] = authEntry{serial: serial, at: now}
	h.mu.Unlock()
	return nil
}
