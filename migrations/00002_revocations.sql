-- Token revocation (HIPAA §164.312(a)(1) access control, (d) authentication): a token is
-- refused once its id is revoked, and every token of a subject issued before a cut-off
-- is refused once the subject is revoked (offboarding, a lost device).

-- +goose Up
CREATE TABLE token_revocations (
    jti         text PRIMARY KEY CHECK (jti <> '' AND length(jti) <= 128),
    subject     text NOT NULL,
    expires_at  timestamptz NOT NULL,
    revoked_by  text NOT NULL CHECK (revoked_by <> ''),
    revoked_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE subject_revocations (
    subject     text PRIMARY KEY CHECK (subject <> '' AND length(subject) <= 256),
    not_before  timestamptz NOT NULL,
    revoked_by  text NOT NULL CHECK (revoked_by <> ''),
    revoked_at  timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE subject_revocations;
DROP TABLE token_revocations;
