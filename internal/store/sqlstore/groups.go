package sqlstore

import (
	"context"
	"fmt"

	"flotilla.io/flotilla/internal/store"
)

// PutGroup inserts or replaces a cluster group.
func (db *DB) PutGroup(ctx context.Context, g store.Group) error {
	doing := fmt.Sprintf("putting group %s", g.Name)
	created, err := toNanos(g.CreatedAt)
	if err != nil {
		return fmt.Errorf("%s: %w", doing, err)
	}
	labels, err := toJSON(g.Labels)
	if err != nil {
		return fmt.Errorf("%s: %w", doing, err)
	}
	_, err = db.write.ExecContext(ctx, db.q(`INSERT INTO groups (name, selector, labels, created_at) VALUES (?, ?, ?, ?)
ON CONFLICT (name) DO UPDATE SET selector = excluded.selector, labels = excluded.labels`), g.Name, g.Selector, labels, created)
	if err != nil {
		return db.fail(doing, err)
	}
	return nil
}

// ListGroups returns every group, sorted by name.
func (db *DB) ListGroups(ctx context.Context) ([]store.Group, error) {
	return queryAll(ctx, db, "listing groups", scanGroup, `SELECT name, selector, labels, created_at FROM groups ORDER BY name`)
}

// DeleteGroup removes a group; ErrNotFound when absent.
func (db *DB) DeleteGroup(ctx context.Context, name string) error {
	return db.execOne(ctx, fmt.Sprintf("deleting group %s", name), `DELETE FROM groups WHERE name = ?`, name)
}

func scanGroup(s scanner) (store.Group, error) {
	var (
		g       store.Group
		labels  string
		created int64
	)
	if err := s.Scan(&g.Name, &g.Selector, &labels, &created); err != nil {
		return store.Group{}, err
	}
	if err := fromJSON(labels, &g.Labels); err != nil {
		return store.Group{}, err
	}
	g.CreatedAt = fromNanos(created)
	return g, nil
}
