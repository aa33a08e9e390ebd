package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"flotilla.io/flotilla/internal/store"
)

// PutStatuses replaces the statuses the clusters' agents last reported, in
// one transaction; a later status of the same cluster wins.
func (db *DB) PutStatuses(ctx context.Context, ss []store.ClusterStatus) error {
	if len(ss) == 0 {
		return nil
	}
	doing := fmt.Sprintf("putting %d statuses", len(ss))
	return db.inTx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, db.q(`INSERT INTO statuses (cluster_id, report, received_at) VALUES (?, ?, ?)
ON CONFLICT (cluster_id) DO UPDATE SET report = excluded.report, received_at = excluded.received_at`))
		if err != nil {
			return db.fail(doing, err)
		}
		defer stmt.Close()
		for _, s := range ss {
			received, err := toNanos(s.ReceivedAt)
			if err != nil {
				return fmt.Errorf("%s: cluster %s: %w", doing, s.ClusterID, err)
			}
			if _, err := stmt.ExecContext(ctx, s.ClusterID, blob(s.Report), received); err != nil {
				return db.fail(doing, err)
			}
		}
		return nil
	})
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
