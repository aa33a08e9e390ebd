package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"flotilla.io/flotilla/internal/store"
)

const tokenColumns = `id, secret_hash, labels, created_at, expires_at, max_uses, uses`

// CreateToken inserts an enrollment token; ErrExists when its ID is taken.
func (db *DB) CreateToken(ctx context.Context, t store.Token) error {
	doing := fmt.Sprintf("creating token %s", t.ID)
	labels, err := toJSON(t.Labels)
	if err != nil {
		return fmt.Errorf("%s: %w", doing, err)
	}
	created, err := toNanos(t.CreatedAt)
	if err != nil {
		return fmt.Errorf("%s: %w", doing, err)
	}
	expires, err := toNanos(t.ExpiresAt)
	if err != nil {
		return fmt.Errorf("%s: %w", doing, err)
	}
	_, err = db.write.ExecContext(ctx, db.q(`INSERT INTO tokens (`+tokenColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`),
		t.ID, blob(t.SecretHash), labels, created, expires, t.MaxUses, t.Uses)
	if err != nil {
		return db.fail(doing, err)
	}
	return nil
}

// GetToken returns one token; ErrNotFound when absent.
func (db *DB) GetToken(ctx context.Context, id string) (store.Token, error) {
	row := db.read.QueryRowContext(ctx, db.q(`SELECT `+tokenColumns+` FROM tokens WHERE id = ?`), id)
	t, err := scanToken(row)
	if err != nil {
		return store.Token{}, db.fail(fmt.Sprintf("getting token %s", id), err)
	}
	return t, nil
}

// ListTokens returns every token, sorted by creation time.
func (db *DB) ListTokens(ctx context.Context) ([]store.Token, error) {
	return queryAll(ctx, db, "listing tokens", scanToken,
		`SELECT `+tokenColumns+` FROM tokens ORDER BY created_at, id`)
}

// ConsumeToken counts one use of a token that exists, has not expired at now
// and has uses left, in one conditional UPDATE so that concurrent consumers
// can never exceed MaxUses. When nothing was updated, it reads the token to
// say why: uses only grow and expiry is fixed, so the reason cannot have
// changed in between.
func (db *DB) ConsumeToken(ctx context.Context, id string, now time.Time) (store.Token, error) {
	doing := fmt.Sprintf("consuming token %s", id)
	at, err := toNanos(now)
	if err != nil {
		return store.Token{}, fmt.Errorf("%s: %w", doing, err)
	}
	row := db.write.QueryRowContext(ctx, db.q(`UPDATE tokens SET uses = uses + 1
WHERE id = ? AND (max_uses = 0 OR uses < max_uses) AND (expires_at = 0 OR expires_at > ?)
RETURNING `+tokenColumns), id, at)
	t, err := scanToken(row)
	if err == nil {
		return t, nil
	}
	if err = db.d.translate(err); !errors.Is(err, store.ErrNotFound) {
		return store.Token{}, fmt.Errorf("%s: %w", doing, err)
	}
	t, err = db.GetToken(ctx, id)
	if err != nil {
		return store.Token{}, fmt.Errorf("%s: %w", doing, err)
	}
	switch {
	case !t.ExpiresAt.IsZero() && !t.ExpiresAt.After(now):
		return store.Token{}, fmt.Errorf("%s: %w", doing, store.ErrExpired)
	case t.MaxUses != 0 && t.Uses >= t.MaxUses:
		return store.Token{}, fmt.Errorf("%s: %w", doing, store.ErrExhausted)
	}
	// Unreachable unless the row was rewritten outside the store.
	return store.Token{}, fmt.Errorf("%s: token changed concurrently: %w", doing, store.ErrConflict)
}

func scanToken(s scanner) (store.Token, error) {
	var (
		t                store.Token
		labels           string
		created, expires int64
	)
	if err := s.Scan(&t.ID, &t.SecretHash, &labels, &created, &expires, &t.MaxUses, &t.Uses); err != nil {
		return store.Token{}, err
	}
	if err := fromJSON(labels, &t.Labels); err != nil {
		return store.Token{}, err
	}
	t.CreatedAt = fromNanos(created)
	t.ExpiresAt = fromNanos(expires)
	return t, nil
}
