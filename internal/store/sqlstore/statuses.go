package sqlstore

import (
	"context"
	"fmt"

	"flotilla.io/flotilla/internal/store"
)

// PutStatus replaces the status the cluster's agent last reported.
func (db *DB) PutStatus(ctx context.Context, s store.ClusterStatus) error {
	doing := fmt.Sprintf("putting status of cluster %s", s.ClusterID)
	received, err := toNanos(s.ReceivedAt)
	if err != nil {
		return fmt.Errorf("%s: %w", doing, err)
	}
	_, err = db.write.ExecContext(ctx, db.q(`INSERT INTO statuses (cluster_id, report, received_at) VALUES (?, ?, ?)
ON CONFLICT (cluster_id) DO UPDATE SET report = excluded.report, received_at = excluded.received_at`),
		s.ClusterID, blob(s.Report), received)
	if err != nil {
		return db.fail(doing, err)
	}
	return nil
}

// ListStatuses returns the last status of every cluster that reported,
// sorted by cluster ID.
func (db *DB) ListStatuses(ctx context.Context) ([]store.ClusterStatus, error) {
	return queryAll(ctx, db, "listing statuses", scanStatus,
		`SELECT cluster_id, report, received_at FROM statuses ORDER BY cluster_id`)
}

func scanStatus(sc scanner) (store.ClusterStatus, error) {
	var (
		s        store.ClusterStatus
		received int64
	)
	if err := sc.Scan(&s.ClusterID, &s.Report, &received); err != nil {
		return store.ClusterStatus{}, err
	}
	s.ReceivedAt = fromNanos(received)
	return s, nil
}
