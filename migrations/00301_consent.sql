-- Consent (package compliance): a room may require each participant to accept a notice
-- (a telehealth consent form) before joining; each acceptance is recorded.

-- +goose Up
CREATE TABLE room_policies (
    room            text PRIMARY KEY CHECK (room ~ '^[A-Za-z0-9._-]{1,64}$'),
    notice_version  text NOT NULL CHECK (notice_version <> '' AND length(notice_version) <= 64),
    notice_url      text NOT NULL DEFAULT '' CHECK (length(notice_url) <= 2048),
    updated_by      text NOT NULL CHECK (updated_by <> ''),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE consents (
    room            text NOT NULL,
    subject         text NOT NULL CHECK (subject <> ''),
    notice_version  text NOT NULL,
    accepted_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (room, subject, notice_version)
);
CREATE INDEX consents_subject ON consents (subject);

-- +goose Down
DROP TABLE consents;
DROP TABLE room_policies;
