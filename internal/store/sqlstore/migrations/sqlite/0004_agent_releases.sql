-- Agent releases: the builds the hub serves, their bytes (compressed
-- builds and deltas between builds), and the release each manifest names.

CREATE TABLE agent_releases (
	arch          TEXT NOT NULL,
	version       TEXT NOT NULL,
	digest        TEXT NOT NULL,
	size          INTEGER NOT NULL,
	signed        BLOB NOT NULL,
	targets       TEXT NOT NULL,
	target_groups TEXT NOT NULL,
	created_at    INTEGER NOT NULL,
	PRIMARY KEY (arch, version)
);

CREATE TABLE agent_release_blobs (
	key  TEXT PRIMARY KEY,
	data BLOB NOT NULL
);

ALTER TABLE manifests ADD COLUMN agent TEXT NOT NULL DEFAULT '';
