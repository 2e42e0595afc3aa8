-- MLS Delivery Service (package keyservice, PROTOCOL.md there): the KeyPackage directory,
-- each room's public group state, the seats that grant membership, the server's pending
-- proposals and the handshake fan-out queue shared by every server process.
--
-- Nothing here is a group secret: KeyPackages, GroupInfos, proposals, commits and Welcomes
-- are public or encrypted to their recipients. Chat never touches a table.

-- +goose Up
-- KeyPackages, single use: consumed_at is set (under a row lock) when the server issues the
-- Add for one. Expired and consumed rows are pruned by the service.
CREATE TABLE ks_keypackages (
    ref          bytea PRIMARY KEY,
    subject      text NOT NULL CHECK (subject <> '' AND length(subject) <= 256),
    conn_id      text NOT NULL,
    data         bytea NOT NULL,
    not_after    timestamptz NOT NULL,
    uploaded_at  timestamptz NOT NULL DEFAULT now(),
    consumed_at  timestamptz,
    consumed_room text
);
CREATE INDEX ks_keypackages_free ON ks_keypackages (subject, uploaded_at) WHERE consumed_at IS NULL;

-- One MLS group per room. epoch is the compare-and-set guard: exactly one commit moves it.
-- group_info is the latest member-signed GroupInfo with the ratchet_tree extension, from
-- which any process rebuilds its public view; roster maps leaf -> {sub, conn}.
CREATE TABLE ks_rooms (
    room               text PRIMARY KEY,
    group_id           bytea NOT NULL,
    epoch              bigint NOT NULL CHECK (epoch >= 0),
    sender_index       integer NOT NULL CHECK (sender_index >= 0),
    group_info         bytea NOT NULL,
    roster             jsonb NOT NULL,
    last_commit        bytea,
    committer_leaf     bigint,
    committer_deadline timestamptz,
    updated_at         timestamptz NOT NULL DEFAULT now()
);

-- A seat is a verified grant for a room held by one live connection. A disconnected seat is
-- kept for the disconnect timeout; a kicked one until its connection ends.
CREATE TABLE ks_seats (
    room            text NOT NULL,
    subject         text NOT NULL,
    conn_id         text NOT NULL,
    role            text NOT NULL,
    joined_at       timestamptz NOT NULL DEFAULT now(),
    disconnected_at timestamptz,
    kicked          boolean NOT NULL DEFAULT false,
    PRIMARY KEY (room, subject)
);

-- Proposals the server (as external sender) issued for an epoch; a commit for that epoch
-- must include every one of them.
CREATE TABLE ks_proposals (
    room       text NOT NULL,
    epoch      bigint NOT NULL,
    ref        bytea NOT NULL,
    kind       text NOT NULL CHECK (kind IN ('add', 'remove')),
    subject    text NOT NULL,
    conn_id    text NOT NULL,
    leaf       bigint,
    kp_ref     bytea,
    message    bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (room, epoch, ref)
);

-- Handshake fan-out across processes: a row per message, announced with NOTIFY ks_events;
-- recipient NULL means every connection of the room but exclude.
CREATE TABLE ks_events (
    id         bigserial PRIMARY KEY,
    room       text NOT NULL,
    type       text NOT NULL,
    recipient  text,
    exclude    text,
    data       bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ks_events_created ON ks_events (created_at);

GRANT SELECT, INSERT, UPDATE, DELETE ON ks_keypackages, ks_rooms, ks_seats, ks_proposals, ks_events TO sealroom_app;
GRANT USAGE ON SEQUENCE ks_events_id_seq TO sealroom_app;

-- +goose Down
DROP TABLE ks_events;
DROP TABLE ks_proposals;
DROP TABLE ks_seats;
DROP TABLE ks_rooms;
DROP TABLE ks_keypackages;
