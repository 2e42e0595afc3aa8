-- Unique user identification (HIPAA §164.312(a)(2)(i)): every subject that presented a
-- valid token, by its stable id only. Display names stay in tokens and audit events
-- (encrypted per subject), never here.

-- +goose Up
CREATE TABLE identities (
    subject     text PRIMARY KEY CHECK (subject <> '' AND length(subject) <= 256),
    first_seen  timestamptz NOT NULL DEFAULT now(),
    last_seen   timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE identities;
