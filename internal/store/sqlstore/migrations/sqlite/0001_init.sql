-- Times are UTC unix-nanoseconds (0 = unset), durations nanoseconds, maps and
-- lists JSON text.

CREATE TABLE clusters (
	id          TEXT PRIMARY KEY,
	name        TEXT NOT NULL UNIQUE,
	labels      TEXT NOT NULL,
	cert_serial TEXT NOT NULL,
	created_at  INTEGER NOT NULL,
	last_seen   INTEGER NOT NULL
);

CREATE TABLE tokens (
	id          TEXT PRIMARY KEY,
	secret_hash BLOB NOT NULL,
	labels      TEXT NOT NULL,
	created_at  INTEGER NOT NULL,
	expires_at  INTEGER NOT NULL,
	max_uses    INTEGER NOT NULL,
	uses        INTEGER NOT NULL
);

CREATE INDEX tokens_created_at ON tokens (created_at, id);

CREATE TABLE sources (
	name        TEXT PRIMARY KEY,
	repo        TEXT NOT NULL,
	branch      TEXT NOT NULL,
	paths       TEXT NOT NULL,
	poll_ns     INTEGER NOT NULL,
	targets     TEXT NOT NULL,
	commit_sha  TEXT NOT NULL,
	fetch_error TEXT NOT NULL,
	fetched_at  INTEGER NOT NULL
);

-- Bundle names are unique across sources: status and rollouts refer to a
-- bundle by name alone.
CREATE TABLE bundles (
	name       TEXT PRIMARY KEY,
	source     TEXT NOT NULL REFERENCES sources (name) ON DELETE CASCADE,
	path       TEXT NOT NULL,
	commit_sha TEXT NOT NULL,
	objects    TEXT NOT NULL,
	error      TEXT NOT NULL,
	warnings   TEXT NOT NULL
);

CREATE INDEX bundles_source ON bundles (source);

-- Content-addressed: the key is the SHA-256 of data, so rows never change.
CREATE TABLE objects (
	hash TEXT PRIMARY KEY,
	data BLOB NOT NULL
) WITHOUT ROWID;

CREATE TABLE manifests (
	cluster_id TEXT PRIMARY KEY,
	generation INTEGER NOT NULL,
	signed     BLOB NOT NULL,
	digest     TEXT NOT NULL,
	created_at INTEGER NOT NULL
);

CREATE TABLE statuses (
	cluster_id  TEXT PRIMARY KEY,
	report      BLOB NOT NULL,
	received_at INTEGER NOT NULL
);
