package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"flotilla.io/flotilla/internal/store"
)

const bundleColumns = `name, source, path, commit_sha, objects, error, warnings`

// ReplaceBundles sets the bundles of one source in one transaction: the
// source's old bundles are removed and the given ones inserted. Bundle names
// are unique across sources: a name held by another source, or repeated in
// the list, is ErrExists and changes nothing. ErrNotFound when the source is
// absent.
func (db *DB) ReplaceBundles(ctx context.Context, source string, bundles []store.Bundle) error {
	doing := fmt.Sprintf("replacing bundles of source %s", source)
	return db.inTx(ctx, func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, db.q(`SELECT 1 FROM sources WHERE name = ?`), source).Scan(&one)
		if err != nil {
			return db.fail(doing, err)
		}
		if _, err := tx.ExecContext(ctx, db.q(`DELETE FROM bundles WHERE source = ?`), source); err != nil {
			return db.fail(doing, err)
		}
		if len(bundles) == 0 {
			return nil
		}
		stmt, err := tx.PrepareContext(ctx, db.q(`INSERT INTO bundles (`+bundleColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`))
		if err != nil {
			return db.fail(doing, err)
		}
		defer stmt.Close()
		for _, b := range bundles {
			if err := insertBundle(ctx, stmt, source, b); err != nil {
				return db.fail(fmt.Sprintf("%s: inserting %s", doing, b.Name), err)
			}
		}
		return nil
	})
}

// insertBundle inserts b as a bundle of source, whatever b.Source says.
func insertBundle(ctx context.Context, stmt *sql.Stmt, source string, b store.Bundle) error {
	objects, err := toJSON(b.Objects)
	if err != nil {
		return err
	}
	warnings, err := toJSON(b.Warnings)
	if err != nil {
		return err
	}
	_, err = stmt.ExecContext(ctx, b.Name, source, b.Path, b.Commit, objects, b.Error, warnings)
	return err
}

// ListBundles returns every bundle, sorted by name.
func (db *DB) ListBundles(ctx context.Context) ([]store.Bundle, error) {
	return queryAll(ctx, db, "listing bundles", scanBundle,
		`SELECT `+bundleColumns+` FROM bundles ORDER BY name`)
}

func scanBundle(s scanner) (store.Bundle, error) {
	var (
		b                 store.Bundle
		objects, warnings string
	)
	if err := s.Scan(&b.Name, &b.Source, &b.Path, &b.Commit, &objects, &b.Error, &warnings); err != nil {
		return store.Bundle{}, err
	}
	if err := fromJSON(objects, &b.Objects); err != nil {
		return store.Bundle{}, err
	}
	if err := fromJSON(warnings, &b.Warnings); err != nil {
		return store.Bundle{}, err
	}
	return b, nil
}
