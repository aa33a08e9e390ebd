package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"flotilla.io/flotilla/internal/store"
)

// PutRelease inserts an agent release, or retargets the same build pushed
// again; ErrConflict when its arch and version name another digest.
func (db *DB) PutRelease(ctx context.Context, r store.Release) error {
	doing := fmt.Sprintf("putting agent release %s/%s", r.Arch, r.Version)
	created, err := toNanos(r.CreatedAt)
	if err != nil {
		return fmt.Errorf("%s: %w", doing, err)
	}
	targets, err := toJSON(r.Targets)
	if err != nil {
		return fmt.Errorf("%s: %w", doing, err)
	}
	groups, err := toJSON(r.TargetGroups)
	if err != nil {
		return fmt.Errorf("%s: %w", doing, err)
	}
	return db.inTx(ctx, func(tx *sql.Tx) error {
		var digest string
		err := tx.QueryRowContext(ctx, db.q(`SELECT digest FROM agent_releases WHERE arch = ? AND version = ?`), r.Arch, r.Version).Scan(&digest)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			_, err = tx.ExecContext(ctx, db.q(`INSERT INTO agent_releases (arch, version, digest, size, signed, targets, target_groups, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)`), r.Arch, r.Version, r.Digest, r.Size, blob(r.Signed), targets, groups, created)
		case err != nil:
		case digest != r.Digest:
			return fmt.Errorf("%s: it exists with digest %.12s: %w", doing, digest, store.ErrConflict)
		default:
			_, err = tx.ExecContext(ctx, db.q(`UPDATE agent_releases SET targets = ?, target_groups = ?, created_at = ? WHERE arch = ? AND version = ?`),
				targets, groups, created, r.Arch, r.Version)
		}
		if err != nil {
			return db.fail(doing, err)
		}
		return nil
	})
}

// ListReleases returns every release, oldest first.
func (db *DB) ListReleases(ctx context.Context) ([]store.Release, error) {
	return queryAll(ctx, db, "listing agent releases", scanRelease,
		`SELECT arch, version, digest, size, signed, targets, target_groups, created_at FROM agent_releases ORDER BY created_at, arch, version`)
}

func scanRelease(s scanner) (store.Release, error) {
	var (
		r               store.Release
		targets, groups string
		created         int64
	)
	if err := s.Scan(&r.Arch, &r.Version, &r.Digest, &r.Size, &r.Signed, &targets, &groups, &created); err != nil {
		return store.Release{}, err
	}
	if err := fromJSON(targets, &r.Targets); err != nil {
		return store.Release{}, err
	}
	if err := fromJSON(groups, &r.TargetGroups); err != nil {
		return store.Release{}, err
	}
	r.CreatedAt = fromNanos(created)
	return r, nil
}

// PutReleaseBlob keeps bytes under key; an existing key is left alone.
func (db *DB) PutReleaseBlob(ctx context.Context, key string, data []byte) error {
	_, err := db.write.ExecContext(ctx, db.q(`INSERT INTO agent_release_blobs (key, data) VALUES (?, ?) ON CONFLICT (key) DO NOTHING`), key, blob(data))
	if err != nil {
		return db.fail(fmt.Sprintf("putting release blob %s", key), err)
	}
	return nil
}

// GetReleaseBlob returns the bytes under key; ErrNotFound when absent.
func (db *DB) GetReleaseBlob(ctx context.Context, key string) ([]byte, error) {
	var data []byte
	err := db.read.QueryRowContext(ctx, db.q(`SELECT data FROM agent_release_blobs WHERE key = ?`), key).Scan(&data)
	if err != nil {
		return nil, db.fail(fmt.Sprintf("getting release blob %s", key), err)
	}
	return data, nil
}

// ListReleaseBlobs returns every blob key, sorted.
func (db *DB) ListReleaseBlobs(ctx context.Context) ([]string, error) {
	return queryAll(ctx, db, "listing release blobs", func(s scanner) (string, error) {
		var k string
		err := s.Scan(&k)
		return k, err
	}, `SELECT key FROM agent_release_blobs ORDER BY key`)
}
