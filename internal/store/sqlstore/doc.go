// Package sqlstore keeps the hub's state in a SQL database. One layer of
// generic SQL serves every engine; a dialect supplies what differs between
// them (placeholders, a few functions, the schema migrations and how driver
// errors map to the store's sentinels). SQLite, through the pure-Go
// modernc.org/sqlite driver, is the default; PostgreSQL slots in as a second
// dialect.
//
// The generic SQL sticks to what SQLite (3.35+) and PostgreSQL share:
// INSERT ... ON CONFLICT ... DO UPDATE / DO NOTHING for upserts, UPDATE ...
// RETURNING, and plain INTEGER/TEXT columns. Times are stored as UTC
// unix-nanoseconds (0 for the zero time), durations as nanoseconds, maps and
// lists as JSON text, bytes as BLOB (BYTEA on PostgreSQL).
package sqlstore
