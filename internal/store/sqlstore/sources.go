package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"flotilla.io/flotilla/internal/store"
)

const sourceColumns = `name, repo, branch, paths, poll_ns, targets, commit_sha, fetch_error, fetched_at, target_groups`

// PutSource inserts or replaces a source's definition. An existing source
// keeps its fetch state; a new one starts with s.SourceFetch.
func (db *DB) PutSource(ctx context.Context, s store.Source) error {
	doing := fmt.Sprintf("putting source %s", s.Name)
	paths, err := toJSON(s.Paths)
	if err != nil {
		return fmt.Errorf("%s: %w", doing, err)
	}
	targets, err := toJSON(s.Targets)
	if err != nil {
		return fmt.Errorf("%s: %w", doing, err)
	}
	groups, err := toJSON(s.TargetGroups)
	if err != nil {
		return fmt.Errorf("%s: %w", doing, err)
	}
	fetched, err := toNanos(s.FetchedAt)
	if err != nil {
		return fmt.Errorf("%s: %w", doing, err)
	}
	_, err = db.write.ExecContext(ctx, db.q(`INSERT INTO sources (`+sourceColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (name) DO UPDATE SET
	repo = excluded.repo, branch = excluded.branch, paths = excluded.paths,
	poll_ns = excluded.poll_ns, targets = excluded.targets, target_groups = excluded.target_groups`),
		s.Name, s.Repo, s.Branch, paths, int64(s.Poll), targets, s.Commit, s.Error, fetched, groups)
	if err != nil {
		return db.fail(doing, err)
	}
	return nil
}

// GetSource returns one source; ErrNotFound when absent.
func (db *DB) GetSource(ctx context.Context, name string) (store.Source, error) {
	row := db.read.QueryRowContext(ctx, db.q(`SELECT `+sourceColumns+` FROM sources WHERE name = ?`), name)
	s, err := scanSource(row)
	if err != nil {
		return store.Source{}, db.fail(fmt.Sprintf("getting source %s", name), err)
	}
	return s, nil
}

// ListSources returns every source, sorted by name.
func (db *DB) ListSources(ctx context.Context) ([]store.Source, error) {
	return queryAll(ctx, db, "listing sources", scanSource,
		`SELECT `+sourceColumns+` FROM sources ORDER BY name`)
}

// DeleteSource removes a source and its bundles; ErrNotFound when absent.
func (db *DB) DeleteSource(ctx context.Context, name string) error {
	doing := fmt.Sprintf("deleting source %s", name)
	return db.inTx(ctx, func(tx *sql.Tx) error {
		// Explicit rather than left to ON DELETE CASCADE, which depends on
		// the connection's foreign_keys setting.
		if _, err := tx.ExecContext(ctx, db.q(`DELETE FROM bundles WHERE source = ?`), name); err != nil {
			return db.fail(doing, err)
		}
		res, err := tx.ExecContext(ctx, db.q(`DELETE FROM sources WHERE name = ?`), name)
		if err != nil {
			return db.fail(doing, err)
		}
		return oneRow(doing, res)
	})
}

// SetSourceFetch records the outcome of a fetch; ErrNotFound when the source
// is absent.
func (db *DB) SetSourceFetch(ctx context.Context, name string, f store.SourceFetch) error {
	doing := fmt.Sprintf("setting fetch of source %s", name)
	fetched, err := toNanos(f.FetchedAt)
	if err != nil {
		return fmt.Errorf("%s: %w", doing, err)
	}
	return db.execOne(ctx, doing, `UPDATE sources SET commit_sha = ?, fetch_error = ?, fetched_at = ? WHERE name = ?`,
		f.Commit, f.Error, fetched, name)
}

func scanSource(sc scanner) (store.Source, error) {
	var (
		s                      store.Source
		paths, targets, groups string
		poll, fetched          int64
	)
	if err := sc.Scan(&s.Name, &s.Repo, &s.Branch, &paths, &poll, &targets, &s.Commit, &s.Error, &fetched, &groups); err != nil {
		return store.Source{}, err
	}
	if err := fromJSON(groups, &s.TargetGroups); err != nil {
		return store.Source{}, err
	}
	if err := fromJSON(paths, &s.Paths); err != nil {
		return store.Source{}, err
	}
	if err := fromJSON(targets, &s.Targets); err != nil {
		return store.Source{}, err
	}
	s.Poll = time.Duration(poll)
	s.FetchedAt = fromNanos(fetched)
	return s, nil
}
