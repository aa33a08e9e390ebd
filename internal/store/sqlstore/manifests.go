package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"flotilla.io/flotilla/internal/store"
)

// PutManifest stores the cluster's new signed manifest in one conditional
// upsert: an existing row is only replaced by a strictly greater generation,
// so two writers racing with the same generation cannot both win.
// ErrConflict otherwise.
func (db *DB) PutManifest(ctx context.Context, m store.Manifest) error {
	return db.PutManifests(ctx, []store.Manifest{m})
}

// PutManifests stores new signed manifests in one transaction; nothing is
// stored when one generation is not above the stored one.
func (db *DB) PutManifests(ctx context.Context, ms []store.Manifest) error {
	if len(ms) == 0 {
		return nil
	}
	return db.inTx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, db.q(`INSERT INTO manifests (cluster_id, generation, signed, digest, agent, created_at)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (cluster_id) DO UPDATE SET
	generation = excluded.generation, signed = excluded.signed,
	digest = excluded.digest, agent = excluded.agent, created_at = excluded.created_at
WHERE excluded.generation > manifests.generation`))
		if err != nil {
			return db.fail(fmt.Sprintf("putting %d manifests", len(ms)), err)
		}
		defer stmt.Close()
		for _, m := range ms {
			doing := fmt.Sprintf("putting manifest of cluster %s generation %d", m.ClusterID, m.Generation)
			created, err := toNanos(m.CreatedAt)
			if err != nil {
				return fmt.Errorf("%s: %w", doing, err)
			}
			res, err := stmt.ExecContext(ctx, m.ClusterID, m.Generation, blob(m.Signed), m.Digest, m.Agent, created)
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
		}
		return nil
	})
}

// ListManifestHeads returns the generation and digest of every cluster's
// current manifest.
func (db *DB) ListManifestHeads(ctx context.Context) (map[string]store.ManifestHead, error) {
	rows, err := db.read.QueryContext(ctx, db.q(`SELECT cluster_id, generation, digest, agent FROM manifests`))
	if err != nil {
		return nil, db.fail("listing manifests", err)
	}
	defer rows.Close()
	out := map[string]store.ManifestHead{}
	for rows.Next() {
		var (
			id string
			h  store.ManifestHead
		)
		if err := rows.Scan(&id, &h.Generation, &h.Digest, &h.Agent); err != nil {
			return nil, db.fail("listing manifests", err)
		}
		out[id] = h
	}
	if err := rows.Err(); err != nil {
		return nil, db.fail("listing manifests", err)
	}
	return out, nil
}

// GetManifest returns the cluster's current manifest; ErrNotFound when it
// has none yet.
func (db *DB) GetManifest(ctx context.Context, clusterID string) (store.Manifest, error) {
	var (
		m       store.Manifest
		created int64
	)
	err := db.read.QueryRowContext(ctx, db.q(`SELECT cluster_id, generation, signed, digest, agent, created_at FROM manifests WHERE cluster_id = ?`), clusterID).
		Scan(&m.ClusterID, &m.Generation, &m.Signed, &m.Digest, &m.Agent, &created)
	if err != nil {
		return store.Manifest{}, db.fail(fmt.Sprintf("getting manifest of cluster %s", clusterID), err)
	}
	m.CreatedAt = fromNanos(created)
	return m, nil
}
