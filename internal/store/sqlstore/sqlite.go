package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"flotilla.io/flotilla/internal/store"
)

//go:embed migrations/sqlite/*.sql
var sqliteMigrationFiles embed.FS

// sqliteBusyTimeoutMS bounds how long a connection waits for a lock held by
// another process (a backup, the CLI) before failing with SQLITE_BUSY.
const sqliteBusyTimeoutMS = 10000

// OpenSQLite opens the SQLite database at path, creating the file (mode
// 0600) when absent, and migrates it to the newest schema. It refuses a
// database migrated by a newer build (ErrSchemaTooNew).
//
// Settings, chosen for a hub with many concurrent readers (agents polling)
// and bursts of writes (status, touches, renders):
//   - WAL journal: readers never block the writer nor each other.
//   - synchronous=NORMAL: in WAL mode a commit is durable against crashes of
//     the process, and only the last commits may be lost on power loss; it
//     saves an fsync per commit.
//   - one writer connection: SQLite allows one writer at a time anyway.
//     Funnelling writes through a pool of one connection queues them in Go,
//     where they honour contexts, instead of retrying on SQLITE_BUSY inside
//     the driver, which under load fails requests and burns CPU. Write
//     transactions BEGIN IMMEDIATE so a read-then-write never needs a lock
//     upgrade.
//   - a pool of query_only reader connections sized to the CPUs.
//   - busy_timeout for the rare lock held by another process, foreign keys on.
func OpenSQLite(ctx context.Context, path string, opts Options) (*DB, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d, err := sqliteDialect()
	if err != nil {
		return nil, err
	}
	abs, err := createSQLiteFile(path)
	if err != nil {
		return nil, err
	}
	write, err := openSQLitePool(ctx, abs, true)
	if err != nil {
		return nil, err
	}
	version, err := migrate(ctx, write, d, log)
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("migrating %s: %w", abs, err)
	}
	read, err := openSQLitePool(ctx, abs, false)
	if err != nil {
		write.Close()
		return nil, err
	}
	log.Info("opened store", "dialect", d.name, "path", abs, "schema", version)
	return &DB{read: read, write: write, d: d}, nil
}

// sqliteDialect describes SQLite to the generic layer.
func sqliteDialect() (*dialect, error) {
	migs, err := fs.Sub(sqliteMigrationFiles, "migrations/sqlite")
	if err != nil {
		return nil, fmt.Errorf("loading sqlite migrations: %w", err)
	}
	return &dialect{
		name:       "sqlite",
		migrations: migs,
		// SQLite's default limit is 32766; stay well below so a statement
		// also fits the statement-size limits and stays quick to prepare.
		maxParams: 1000,
		greatest:  "MAX",
		driverErr: translateSQLite,
	}, nil
}

// translateSQLite maps SQLite constraint errors to store sentinels. The
// driver's message is kept as text, not as a wrapped error, so callers see
// no driver type.
func translateSQLite(err error) error {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return err
	}
	switch se.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return fmt.Errorf("%w (%s)", store.ErrExists, se.Error())
	}
	return err
}

// createSQLiteFile makes path absolute and creates it with mode 0600 when
// absent; SQLite gives its -wal and -shm files the same mode.
func createSQLiteFile(path string) (string, error) {
	if path == "" || path == ":memory:" {
		return "", fmt.Errorf("opening sqlite: need a file path, got %q", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("resolving sqlite path: %w", err)
	}
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case errors.Is(err, fs.ErrExist):
		return abs, nil
	case err != nil:
		return "", fmt.Errorf("creating sqlite file: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("creating sqlite file: %w", err)
	}
	return abs, nil
}

// openSQLitePool opens the writer pool (one connection) or the reader pool.
func openSQLitePool(ctx context.Context, abs string, writer bool) (*sql.DB, error) {
	role := "reader"
	if writer {
		role = "writer"
	}
	db, err := sql.Open("sqlite", sqliteDSN(abs, writer))
	if err != nil {
		return nil, fmt.Errorf("opening sqlite %s pool: %w", role, err)
	}
	n := 1
	if !writer {
		n = max(4, runtime.GOMAXPROCS(0))
	}
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connecting sqlite %s: %w", role, err)
	}
	return db, nil
}

// sqliteDSN builds a file: URI so that any character in the path is escaped,
// with the connection settings as modernc.org/sqlite query parameters.
func sqliteDSN(abs string, writer bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", sqliteBusyTimeoutMS))
	q.Add("_pragma", "foreign_keys(1)")
	if writer {
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(NORMAL)")
		q.Set("_txlock", "immediate")
	} else {
		q.Add("_pragma", "query_only(1)")
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: q.Encode()}
	return u.String()
}
