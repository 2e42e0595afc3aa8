-- +goose Up
-- The hash of the resume secret a session's last resume presented, kept until the client
-- acknowledges the new secret (resume_ack): a client whose connection died before the
-- resumed message reached it still holds only that one. NULL once acknowledged.
ALTER TABLE signal_sessions ADD COLUMN prev_secret_hash bytea CHECK (length(prev_secret_hash) = 32);

-- +goose Down
ALTER TABLE signal_sessions DROP COLUMN prev_secret_hash;
