-- +goose Up
-- A session that ended stays recorded for 12 hours under the hashes of its last secrets,
-- without its display name: a stale tab whose resume reaches whichever node holds the room
-- then (the room may have moved since) proves it held the session, and is told that its
-- seat went on in another tab or device instead of joining anew and taking it back.
-- NULL while the session lives; such rows are never adopted.
ALTER TABLE signal_sessions ADD COLUMN ended_at timestamptz;
CREATE INDEX signal_sessions_ended ON signal_sessions (ended_at) WHERE ended_at IS NOT NULL;

-- +goose Down
DROP INDEX signal_sessions_ended;
ALTER TABLE signal_sessions DROP COLUMN ended_at;
