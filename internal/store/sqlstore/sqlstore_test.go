package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"flotilla.io/flotilla/internal/store"
	"flotilla.io/flotilla/internal/store/storetest"
)

// openTemp opens a fresh SQLite store in t's temporary directory.
func openTemp(t testing.TB) *DB {
	t.Helper()
	return openAt(t, filepath.Join(t.TempDir(), "hub.db"))
}

// openAt opens the store at path and closes it when t ends.
func openAt(t testing.TB, path string) *DB {
	t.Helper()
	db, err := OpenSQLite(t.Context(), path, Options{})
	if err != nil {
		t.Fatalf("opening %s: %v", path, err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("closing: %v", err)
		}
	})
	return db
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openTemp(t) })
}

func TestOpenCreatesPrivateFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hub.db")
	openAt(t, path)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("database file mode %v, want 0600", mode)
	}
}

func TestOpenSettings(t *testing.T) {
	db := openTemp(t)
	ctx := t.Context()
	tests := []struct {
		name   string
		pool   string
		pragma string
		want   string
	}{
		{"WAL journal", "write", "journal_mode", "wal"},
		{"synchronous NORMAL", "write", "synchronous", "1"},
		{"writer foreign keys", "write", "foreign_keys", "1"},
		{"writer busy timeout", "write", "busy_timeout", fmt.Sprint(sqliteBusyTimeoutMS)},
		{"reader busy timeout", "read", "busy_timeout", fmt.Sprint(sqliteBusyTimeoutMS)},
		{"reader query only", "read", "query_only", "1"},
		{"writer not query only", "write", "query_only", "0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pool := db.write
			if tc.pool == "read" {
				pool = db.read
			}
			var got string
			if err := pool.QueryRowContext(ctx, "PRAGMA "+tc.pragma).Scan(&got); err != nil {
				t.Fatalf("reading %s: %v", tc.pragma, err)
			}
			if got != tc.want {
				t.Errorf("%s pool PRAGMA %s = %q, want %q", tc.pool, tc.pragma, got, tc.want)
			}
		})
	}
}

func TestOpenBadPath(t *testing.T) {
	tests := []struct {
		name string
		path string
	}{
		{"empty", ""},
		{"memory", ":memory:"},
		{"missing directory", filepath.Join(t.TempDir(), "no", "such", "dir", "hub.db")},
		{"a directory", t.TempDir()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db, err := OpenSQLite(t.Context(), tc.path, Options{})
			if err == nil {
				db.Close()
				t.Fatalf("opening %q succeeded, want an error", tc.path)
			}
		})
	}
}

func TestOpenOddPath(t *testing.T) {
	// Characters that mean something in a URI must reach the file system
	// as they are.
	dir := filepath.Join(t.TempDir(), "a dir?x=1#frag%20")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "hub?.db")
	db := openAt(t, path)
	if err := db.PutSource(t.Context(), store.Source{Name: "s"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database not at %q: %v", path, err)
	}
}

func TestReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hub.db")
	ctx := t.Context()
	want := store.Cluster{ID: "c1", Name: "truck-1", Labels: map[string]string{"a": "b"}, CreatedAt: time.Unix(1700000000, 5).UTC()}

	db, err := OpenSQLite(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateCluster(ctx, want); err != nil {
		t.Fatal(err)
	}
	if err := db.PutObjects(ctx, map[string][]byte{"h": []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = openAt(t, path)
	got, err := db.GetCluster(ctx, "c1")
	if err != nil {
		t.Fatalf("getting after reopen: %v", err)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("cluster after reopen (-want +got):\n%s", d)
	}
	objs, err := db.GetObjects(ctx, []string{"h"})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(map[string][]byte{"h": []byte("x")}, objs); d != "" {
		t.Errorf("objects after reopen (-want +got):\n%s", d)
	}
	var n int
	if err := db.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if want := len(mustMigrations(t)); n != want {
		t.Errorf("schema_migrations has %d rows after reopen, want %d", n, want)
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hub.db")
	ctx := t.Context()
	db, err := OpenSQLite(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	future := len(mustMigrations(t)) + 1
	if _, err := db.write.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, 0)`, future); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = OpenSQLite(ctx, path, Options{})
	if err == nil {
		db.Close()
		t.Fatal("opening a database with a future schema succeeded")
	}
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Errorf("got %v, want ErrSchemaTooNew", err)
	}
}

func mustMigrations(t *testing.T) []migration {
	t.Helper()
	d, err := sqliteDialect()
	if err != nil {
		t.Fatal(err)
	}
	migs, err := loadMigrations(d.migrations)
	if err != nil {
		t.Fatal(err)
	}
	return migs
}

func TestMigrationVersion(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		want    int
		wantErr bool
	}{
		{"first", "0001_init.sql", 1, false},
		{"no padding", "12_more.sql", 12, false},
		{"no underscore", "0001.sql", 0, true},
		{"not a number", "abcd_init.sql", 0, true},
		{"zero", "0000_init.sql", 0, true},
		{"negative", "-1_init.sql", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := migrationVersion(tc.file)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("migrationVersion(%q) = %d, %v; want %d, error %v", tc.file, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestEmbeddedMigrationsAreContiguous(t *testing.T) {
	migs := mustMigrations(t)
	if len(migs) == 0 {
		t.Fatal("no embedded migrations")
	}
	for i, m := range migs {
		if m.version != i+1 {
			t.Errorf("migration %d is %s", i+1, m.name)
		}
	}
}

// TestConcurrentWritesAndReads checks that bursts of writes from many
// goroutines, alongside readers, never surface SQLITE_BUSY.
func TestConcurrentWritesAndReads(t *testing.T) {
	db := openTemp(t)
	ctx := t.Context()
	const workers, rounds = 16, 40
	for i := range workers {
		c := store.Cluster{ID: fmt.Sprint("c", i), Name: fmt.Sprint("n", i), CreatedAt: time.Now()}
		if err := db.CreateCluster(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex // guards errs
		errs []error
	)
	record := func(err error) {
		if err != nil {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}
	}
	for i := range workers {
		id := fmt.Sprint("c", i)
		wg.Go(func() {
			for r := range rounds {
				record(db.TouchClusters(ctx, map[string]time.Time{id: time.Now()}))
				record(db.PutStatuses(ctx, []store.ClusterStatus{{ClusterID: id, Report: []byte("{}"), ReceivedAt: time.Now()}}))
				record(db.PutObjects(ctx, map[string][]byte{fmt.Sprint(id, "-", r): []byte("x")}))
			}
		})
		wg.Go(func() {
			for range rounds {
				_, err := db.ListClusters(ctx)
				record(err)
				_, err = db.GetObjects(ctx, []string{id + "-1", id + "-2"})
				record(err)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		t.Error(err)
	}
}

func TestCanceledContext(t *testing.T) {
	db := openTemp(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := db.PutStatuses(ctx, []store.ClusterStatus{{ClusterID: "c"}}); !errors.Is(err, context.Canceled) {
		t.Errorf("PutStatus with a canceled context: %v, want context.Canceled", err)
	}
}

func TestTimeOutOfRange(t *testing.T) {
	db := openTemp(t)
	far := time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)
	err := db.CreateCluster(t.Context(), store.Cluster{ID: "c", Name: "c", CreatedAt: far})
	if err == nil {
		t.Fatal("creating a cluster in year 3000 succeeded")
	}
	if _, err := db.GetCluster(t.Context(), "c"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("cluster stored despite the error: %v", err)
	}
}
