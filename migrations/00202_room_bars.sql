-- Room bars (package keyservice): a host's kick keeps the subject out of the room, not
-- just the connection it was using. A token is only one of the subject's ways in (a new
-- one can be minted, and another process honours a revocation only after its reload), so
-- the bar is keyed by subject and stored here, where every server process reads it when
-- it seats a member. It lasts until a host of the room readmits the subject.

-- +goose Up
CREATE TABLE ks_room_bars (
    room       text NOT NULL CHECK (room <> ''),
    subject    text NOT NULL CHECK (subject <> '' AND length(subject) <= 256),
    barred_by  text NOT NULL CHECK (barred_by <> ''),
    barred_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (room, subject)
);

GRANT SELECT, INSERT, UPDATE, DELETE ON ks_room_bars TO sealroom_app;

-- +goose Down
DROP TABLE ks_room_bars;
