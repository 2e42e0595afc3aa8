-- Compliance (package compliance): legal holds on a data subject, which block GDPR
-- erasure (Art. 17(3)(e): establishment, exercise or defence of legal claims).

-- +goose Up
CREATE TABLE subject_legal_holds (
    id           bigserial PRIMARY KEY,
    subject      text NOT NULL CHECK (subject <> '' AND length(subject) <= 256),
    reason       text NOT NULL CHECK (reason <> ''),
    placed_by    text NOT NULL CHECK (placed_by <> ''),
    placed_at    timestamptz NOT NULL DEFAULT now(),
    released_at  timestamptz
);
CREATE INDEX subject_legal_holds_active ON subject_legal_holds (subject) WHERE released_at IS NULL;

-- +goose Down
DROP TABLE subject_legal_holds;
