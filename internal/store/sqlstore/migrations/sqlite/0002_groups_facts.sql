-- Cluster groups, agent-reported facts, and sources that target groups.

CREATE TABLE groups (
	name       TEXT PRIMARY KEY,
	selector   TEXT NOT NULL,
	created_at INTEGER NOT NULL
);

ALTER TABLE clusters ADD COLUMN facts BLOB NOT NULL DEFAULT x'';

ALTER TABLE sources ADD COLUMN target_groups TEXT NOT NULL DEFAULT '[]';
