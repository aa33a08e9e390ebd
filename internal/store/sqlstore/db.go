package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"

	"flotilla.io/flotilla/internal/store"
)

// Options configures a DB.
type Options struct {
	// Logger receives migration and lifecycle events; nil discards them.
	Logger *slog.Logger
}

// DB is a store.Store over a SQL database.
//
// Reads and writes go through separate pools. On SQLite the write pool has
// one connection, so writes queue in Go (honouring contexts) instead of
// contending for the database lock; on PostgreSQL both may be the same pool.
type DB struct {
	read  *sql.DB
	write *sql.DB
	d     *dialect
}

var _ store.Store = (*DB)(nil)

// Close closes both pools.
func (db *DB) Close() error {
	var errs []error
	if db.read != db.write {
		errs = append(errs, db.read.Close())
	}
	errs = append(errs, db.write.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("closing %s store: %w", db.d.name, err)
	}
	return nil
}

// q rebinds a generic query for the dialect.
func (db *DB) q(query string) string { return db.d.rebind(query) }

// fail translates a driver error to a store sentinel and wraps it with what
// was being done.
func (db *DB) fail(doing string, err error) error {
	return fmt.Errorf("%s: %w", doing, db.d.translate(err))
}

// inTx runs fn in a write transaction, committing when it returns nil.
func (db *DB) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("beginning transaction: %w", db.d.translate(err))
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback() // the error from fn is the one worth reporting
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing transaction: %w", db.d.translate(err))
	}
	return nil
}

// execOne runs a write that must touch exactly one row; ErrNotFound when it
// touched none.
func (db *DB) execOne(ctx context.Context, doing, query string, args ...any) error {
	res, err := db.write.ExecContext(ctx, db.q(query), args...)
	if err != nil {
		return db.fail(doing, err)
	}
	return oneRow(doing, res)
}

// oneRow returns ErrNotFound when res touched no row.
func oneRow(doing string, res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s: counting rows: %w", doing, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", doing, store.ErrNotFound)
	}
	return nil
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// queryAll runs a read query and collects one value per row with scan.
func queryAll[T any](ctx context.Context, db *DB, doing string, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := db.read.QueryContext(ctx, db.q(query), args...)
	if err != nil {
		return nil, db.fail(doing, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, db.fail(doing, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, db.fail(doing, err)
	}
	return out, nil
}
