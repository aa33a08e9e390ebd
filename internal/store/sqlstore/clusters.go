package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"time"

	"flotilla.io/flotilla/internal/store"
)

const clusterColumns = `id, name, labels, cert_serial, created_at, last_seen, facts`

// CreateCluster inserts c; ErrExists when its ID or name is taken.
func (db *DB) CreateCluster(ctx context.Context, c store.Cluster) error {
	doing := fmt.Sprintf("creating cluster %s", c.ID)
	labels, err := toJSON(c.Labels)
	if err != nil {
		return fmt.Errorf("%s: %w", doing, err)
	}
	created, err := toNanos(c.CreatedAt)
	if err != nil {
		return fmt.Errorf("%s: %w", doing, err)
	}
	seen, err := toNanos(c.LastSeen)
	if err != nil {
		return fmt.Errorf("%s: %w", doing, err)
	}
	_, err = db.write.ExecContext(ctx, db.q(`INSERT INTO clusters (`+clusterColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`),
		c.ID, c.Name, labels, c.CertSerial, created, seen, nonNil(c.Facts))
	if err != nil {
		return db.fail(doing, err)
	}
	return nil
}

// GetCluster returns one cluster; ErrNotFound when absent.
func (db *DB) GetCluster(ctx context.Context, id string) (store.Cluster, error) {
	row := db.read.QueryRowContext(ctx, db.q(`SELECT `+clusterColumns+` FROM clusters WHERE id = ?`), id)
	c, err := scanCluster(row)
	if err != nil {
		return store.Cluster{}, db.fail(fmt.Sprintf("getting cluster %s", id), err)
	}
	return c, nil
}

// ListClusters returns every cluster, sorted by name.
func (db *DB) ListClusters(ctx context.Context) ([]store.Cluster, error) {
	return queryAll(ctx, db, "listing clusters", scanCluster,
		`SELECT `+clusterColumns+` FROM clusters ORDER BY name`)
}

// TouchClusters records when clusters' agents were seen, in one
// transaction; LastSeen only moves forward.
func (db *DB) TouchClusters(ctx context.Context, seen map[string]time.Time) error {
	if len(seen) == 0 {
		return nil
	}
	doing := fmt.Sprintf("touching %d clusters", len(seen))
	// Sorted so that concurrent writers take rows in the same order.
	ids := slices.Sorted(maps.Keys(seen))
	return db.inTx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, db.q(`UPDATE clusters SET last_seen = `+db.d.greatest+`(last_seen, ?) WHERE id = ?`))
		if err != nil {
			return db.fail(doing, err)
		}
		defer stmt.Close()
		for _, id := range ids {
			at, err := toNanos(seen[id])
			if err != nil {
				return fmt.Errorf("%s: cluster %s: %w", doing, id, err)
			}
			if _, err := stmt.ExecContext(ctx, at, id); err != nil {
				return db.fail(doing, err)
			}
		}
		return nil
	})
}

// SetClusterFacts replaces the facts the cluster's agent reported.
func (db *DB) SetClusterFacts(ctx context.Context, id string, facts []byte) error {
	return db.execOne(ctx, fmt.Sprintf("setting facts of cluster %s", id), `UPDATE clusters SET facts = ? WHERE id = ?`, nonNil(facts), id)
}

// nonNil keeps NOT NULL blob columns from receiving a NULL for an empty slice.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func scanCluster(s scanner) (store.Cluster, error) {
	var (
		c             store.Cluster
		labels        string
		created, seen int64
	)
	if err := s.Scan(&c.ID, &c.Name, &labels, &c.CertSerial, &created, &seen, &c.Facts); err != nil {
		return store.Cluster{}, err
	}
	if err := fromJSON(labels, &c.Labels); err != nil {
		return store.Cluster{}, err
	}
	c.CreatedAt = fromNanos(created)
	c.LastSeen = fromNanos(seen)
	if len(c.Facts) == 0 {
		c.Facts = nil
	}
	return c, nil
}
