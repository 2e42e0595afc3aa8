-- +goose Up
-- The node whose connection holds the seat (package cluster; '' for a process that runs
-- without a cluster registry). A seat whose node's lease lapsed is treated as disconnected
-- by every other node's sweep, so a crashed node's members leave the group after the
-- disconnect timeout unless they resume elsewhere; a node only ends the seats it holds.
ALTER TABLE ks_seats ADD COLUMN node_id text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE ks_seats DROP COLUMN node_id;
