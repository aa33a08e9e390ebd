package sqlstore

import (
	"context"
	"fmt"

	"flotilla.io/flotilla/internal/store"
)

// PutManifest stores the cluster's new signed manifest in one conditional
// upsert: an existing row is only replaced by a strictly greater generation,
// so two writers racing with the same generation cannot both win.
// ErrConflict otherwise.
func (db *DB) PutManifest(ctx context.Context, m store.Manifest) error {
	doing := fmt.Sprintf("putting manifest of cluster %s generation %d", m.ClusterID, m.Generation)
	created, err := toNanos(m.CreatedAt)
	if err != nil {
		return fmt.Errorf("%s: %w", doing, err)
	}
	res, err := db.write.ExecContext(ctx, db.q(`INSERT INTO manifests (cluster_id, generation, signed, digest, created_at)
VALUES (?, ?, ?, ?, ?)
ON CONFLICT (cluster_id) DO UPDATE SET
	generation = excluded.generation, signed = excluded.signed,
	digest = excluded.digest, created_at = excluded.created_at
WHERE excluded.generation > manifests.generation`),
		m.ClusterID, m.Generation, blob(m.Signed), m.Digest, created)
	if err != nil {
		return db.fail(doing, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s: counting rows: %w", doing, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: generation not greater than the stored one: %w", doing, store.ErrConflict)
	}
	return nil
}

// GetManifest returns the cluster's current manifest; ErrNotFound when it
// has none yet.
func (db *DB) GetManifest(ctx context.Context, clusterID string) (store.Manifest, error) {
	var (
		m       store.Manifest
		created int64
	)
	err := db.read.QueryRowContext(ctx, db.q(`SELECT cluster_id, generation, signed, digest, created_at FROM manifests WHERE cluster_id = ?`), clusterID).
		Scan(&m.ClusterID, &m.Generation, &m.Signed, &m.Digest, &created)
	if err != nil {
		return store.Manifest{}, db.fail(fmt.Sprintf("getting manifest of cluster %s", clusterID), err)
	}
	m.CreatedAt = fromNanos(created)
	return m, nil
}
