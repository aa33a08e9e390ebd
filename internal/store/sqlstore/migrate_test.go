package sqlstore

import (
	"database/sql"
	"log/slog"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

// rawSQLite opens a bare writer pool on a new file, without migrating.
func rawSQLite(t *testing.T) *sql.DB {
	t.Helper()
	abs, err := createSQLiteFile(filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	db, err := openSQLitePool(t.Context(), abs, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// tables lists the user tables of db.
func tables(t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), `SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestMigrate(t *testing.T) {
	one := &fstest.MapFile{Data: []byte(`CREATE TABLE a (x INTEGER); CREATE TABLE b (y TEXT);`)}
	two := &fstest.MapFile{Data: []byte(`CREATE TABLE c (z BLOB);`)}
	bad := &fstest.MapFile{Data: []byte(`CREATE TABLE d (w TEXT); THIS IS NOT SQL;`)}
	tests := []struct {
		name        string
		steps       []fstest.MapFS // applied in turn to one database
		wantErr     bool           // from the last step
		wantVersion int
		wantTables  []string
	}{
		{
			name:        "fresh",
			steps:       []fstest.MapFS{{"0001_ab.sql": one, "0002_c.sql": two, "README": {}}},
			wantVersion: 2,
			wantTables:  []string{"a", "b", "c", "schema_migrations"},
		},
		{
			name:        "upgrade",
			steps:       []fstest.MapFS{{"0001_ab.sql": one}, {"0001_ab.sql": one, "0002_c.sql": two}},
			wantVersion: 2,
			wantTables:  []string{"a", "b", "c", "schema_migrations"},
		},
		{
			name:        "rerun is a no-op",
			steps:       []fstest.MapFS{{"0001_ab.sql": one}, {"0001_ab.sql": one}},
			wantVersion: 1,
			wantTables:  []string{"a", "b", "schema_migrations"},
		},
		{
			name:        "failed step rolls back every pending step",
			steps:       []fstest.MapFS{{"0001_ab.sql": one, "0002_bad.sql": bad}},
			wantErr:     true,
			wantVersion: 0,
			wantTables:  nil,
		},
		{
			name:        "gap",
			steps:       []fstest.MapFS{{"0001_ab.sql": one, "0003_c.sql": two}},
			wantErr:     true,
			wantVersion: 0,
			wantTables:  nil,
		},
		{
			name:        "newer database",
			steps:       []fstest.MapFS{{"0001_ab.sql": one, "0002_c.sql": two}, {"0001_ab.sql": one}},
			wantErr:     true,
			wantVersion: 2,
			wantTables:  []string{"a", "b", "c", "schema_migrations"},
		},
	}
	log := slog.New(slog.DiscardHandler)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := rawSQLite(t)
			d, err := sqliteDialect()
			if err != nil {
				t.Fatal(err)
			}
			for i, step := range tc.steps {
				d.migrations = step
				_, err = migrate(t.Context(), db, d, log)
				if last := i == len(tc.steps)-1; !last && err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
			}
			if (err != nil) != tc.wantErr {
				t.Fatalf("migrating: error %v, want error %v", err, tc.wantErr)
			}
			var version int
			if got := tables(t, db); len(got) > 0 {
				if err := db.QueryRowContext(t.Context(), `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&version); err != nil {
					t.Fatal(err)
				}
			}
			if version != tc.wantVersion {
				t.Errorf("schema version %d, want %d", version, tc.wantVersion)
			}
			if d := cmp.Diff(tc.wantTables, tables(t, db)); d != "" {
				t.Errorf("tables (-want +got):\n%s", d)
			}
		})
	}
}
