package sqlstore

import (
	"database/sql"
	"errors"
	"io/fs"
	"strconv"
	"strings"

	"flotilla.io/flotilla/internal/store"
)

// dialect holds what differs between SQL engines. Queries are written once
// with '?' placeholders and passed through rebind.
type dialect struct {
	// name appears in logs and errors.
	name string
	// migrations holds NNNN_name.sql files at its root.
	migrations fs.FS
	// numbered reports whether placeholders are $1, $2, ... (PostgreSQL)
	// instead of '?' (SQLite).
	numbered bool
	// maxParams bounds the bound parameters of one statement; long IN lists
	// and multi-row inserts are cut into chunks below it.
	maxParams int
	// greatest is the two-argument maximum function: MAX in SQLite,
	// GREATEST in PostgreSQL.
	greatest string
	// driverErr maps a driver error to a store sentinel, or returns it as
	// is.
	driverErr func(error) error
}

// translate maps err to a store sentinel where one applies: no rows is
// ErrNotFound, and the dialect knows its driver's constraint errors.
func (d *dialect) translate(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	return d.driverErr(err)
}

// rebind rewrites '?' placeholders for the dialect. Queries never hold a
// literal '?', so no quoting is parsed.
func (d *dialect) rebind(query string) string {
	if !d.numbered {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] != '?' {
			b.WriteByte(query[i])
			continue
		}
		n++
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(n))
	}
	return b.String()
}

// placeholders returns "(?,?),(?,?)..." for rows rows of cols columns, or
// "?,?,?" when cols is 0, before rebinding.
func placeholders(rows, cols int) string {
	var b strings.Builder
	if cols == 0 {
		b.Grow(rows * 2)
		for i := range rows {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteByte('?')
		}
		return b.String()
	}
	b.Grow(rows * (cols*2 + 2))
	for i := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('(')
		for j := range cols {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteByte('?')
		}
		b.WriteByte(')')
	}
	return b.String()
}
