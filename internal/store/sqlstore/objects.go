package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
)

// objectBatch is how many rows one statement reads or writes: within every
// dialect's parameter limit (two per row on insert).
func (db *DB) objectBatch() int { return max(1, min(500, db.d.maxParams/2)) }

// PutObjects stores objects by hash in one transaction, with multi-row
// inserts; hashes already stored are left alone.
func (db *DB) PutObjects(ctx context.Context, objects map[string][]byte) error {
	if len(objects) == 0 {
		return nil
	}
	doing := fmt.Sprintf("putting %d objects", len(objects))
	// Sorted so that the inserts walk the index in order and concurrent
	// callers take rows in the same order.
	hashes := slices.Sorted(maps.Keys(objects))
	batch := db.objectBatch()
	return db.inTx(ctx, func(tx *sql.Tx) error {
		var full *sql.Stmt
		args := make([]any, 0, 2*batch)
		for chunk := range slices.Chunk(hashes, batch) {
			args = args[:0]
			for _, h := range chunk {
				args = append(args, h, blob(objects[h]))
			}
			query := db.q(`INSERT INTO objects (hash, data) VALUES ` + placeholders(len(chunk), 2) + ` ON CONFLICT (hash) DO NOTHING`)
			var err error
			if len(chunk) == batch {
				// Full batches share one prepared statement.
				if full == nil {
					if full, err = tx.PrepareContext(ctx, query); err != nil {
						return db.fail(doing, err)
					}
					defer full.Close()
				}
				_, err = full.ExecContext(ctx, args...)
			} else {
				_, err = tx.ExecContext(ctx, query, args...)
			}
			if err != nil {
				return db.fail(doing, err)
			}
		}
		return nil
	})
}

// GetObjects returns the objects it holds among hashes, querying in chunks
// to stay within the dialect's parameter limit; missing hashes are absent
// from the map.
func (db *DB) GetObjects(ctx context.Context, hashes []string) (map[string][]byte, error) {
	out := make(map[string][]byte, len(hashes))
	if len(hashes) == 0 {
		return out, nil
	}
	doing := fmt.Sprintf("getting %d objects", len(hashes))
	uniq := slices.Compact(slices.Sorted(slices.Values(hashes)))
	args := make([]any, 0, db.objectBatch())
	for chunk := range slices.Chunk(uniq, db.objectBatch()) {
		args = args[:0]
		for _, h := range chunk {
			args = append(args, h)
		}
		if err := db.getObjectChunk(ctx, out, args); err != nil {
			return nil, db.fail(doing, err)
		}
	}
	return out, nil
}

// getObjectChunk adds the objects among hashes to out.
func (db *DB) getObjectChunk(ctx context.Context, out map[string][]byte, hashes []any) error {
	rows, err := db.read.QueryContext(ctx, db.q(`SELECT hash, data FROM objects WHERE hash IN (`+placeholders(len(hashes), 0)+`)`), hashes...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			h    string
			data []byte
		)
		if err := rows.Scan(&h, &data); err != nil {
			return err
		}
		out[h] = blob(data)
	}
	return rows.Err()
}
