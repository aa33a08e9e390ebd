-- Groups carry labels of their own, as Fleet's ClusterGroups do:
-- fleet.yaml's clusterGroupSelector matches them.

ALTER TABLE groups ADD COLUMN labels TEXT NOT NULL DEFAULT '{}';
