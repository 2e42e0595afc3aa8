-- +goose Up
-- A member whose connection changed (a page reload, another device of the same person) may
-- replace its own earlier leaf by an external commit (RFC 9420 §12.4.3.2) instead of being
-- removed and added again. While that window is open the Delivery Service neither removes
-- the earlier leaf nor adds the new connection; resync_until is when the last open window
-- closes, so every process's sweep knows when to look at the room again.
ALTER TABLE ks_rooms ADD COLUMN resync_until timestamptz;

-- +goose Down
ALTER TABLE ks_rooms DROP COLUMN resync_until;
