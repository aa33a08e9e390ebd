package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ErrSchemaTooNew is returned when the database was migrated by a newer
// build than this one: running older code on it could corrupt it.
var ErrSchemaTooNew = errors.New("database schema is newer than this build")

// migration is one embedded schema step.
type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations reads NNNN_name.sql files from fsys and checks that their
// versions run 1, 2, 3... without gaps or duplicates.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("listing migrations: %w", err)
	}
	var out []migration
	for _, e := range entries {
		if e.IsDir() || path.Ext(e.Name()) != ".sql" {
			continue
		}
		v, err := migrationVersion(e.Name())
		if err != nil {
			return nil, err
		}
		b, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, fmt.Errorf("reading migration %s: %w", e.Name(), err)
		}
		out = append(out, migration{version: v, name: e.Name(), sql: string(b)})
	}
	slices.SortFunc(out, func(a, b migration) int { return a.version - b.version })
	for i, m := range out {
		if m.version != i+1 {
			return nil, fmt.Errorf("checking migration %s: want version %d", m.name, i+1)
		}
	}
	return out, nil
}

// migrationVersion parses the leading number of "0001_init.sql".
func migrationVersion(name string) (int, error) {
	num, _, ok := strings.Cut(name, "_")
	if !ok {
		return 0, fmt.Errorf("parsing migration name %q: want NNNN_name.sql", name)
	}
	v, err := strconv.Atoi(num)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("parsing migration name %q: want a positive version", name)
	}
	return v, nil
}

// migrate brings the schema up to the newest embedded migration in one
// transaction, so a failed step leaves the database as it was. It refuses a
// database whose schema is newer than the code. It returns the version the
// database is at.
func migrate(ctx context.Context, db *sql.DB, d *dialect, log *slog.Logger) (int, error) {
	migs, err := loadMigrations(d.migrations)
	if err != nil {
		return 0, err
	}
	latest := len(migs)
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("beginning migration: %w", d.translate(err))
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	// The bookkeeping table is outside the versioned steps so that even
	// version 0 can be read.
	_, err = tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
	version BIGINT PRIMARY KEY,
	applied_at BIGINT NOT NULL
)`)
	if err != nil {
		return 0, fmt.Errorf("creating schema_migrations: %w", d.translate(err))
	}
	var current int
	err = tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current)
	if err != nil {
		return 0, fmt.Errorf("reading schema version: %w", d.translate(err))
	}
	if current > latest {
		return 0, fmt.Errorf("opening schema version %d (this build knows up to %d): %w", current, latest, ErrSchemaTooNew)
	}
	for _, m := range migs[current:] {
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return 0, fmt.Errorf("applying migration %s: %w", m.name, d.translate(err))
		}
		_, err := tx.ExecContext(ctx, d.rebind(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`),
			m.version, time.Now().UnixNano())
		if err != nil {
			return 0, fmt.Errorf("recording migration %s: %w", m.name, d.translate(err))
		}
		log.Info("applied migration", "dialect", d.name, "version", m.version, "name", m.name)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("committing migrations: %w", d.translate(err))
	}
	return latest, nil
}
