-- A cluster of sealroom processes on this one database (package cluster): the nodes and
-- their leases, which node each room lives on, and the signaling sessions a node other
-- than the one that seated them may take over (a resume after the room moved).

-- +goose Up
-- Each node renews its lease every second or so; a node whose lease_until has passed (by
-- the database's clock, the one clock every node shares) is dead to the cluster.
CREATE TABLE cluster_nodes (
    id          text PRIMARY KEY CHECK (id <> '' AND length(id) <= 64),
    api_url     text NOT NULL,
    media_addr  text NOT NULL DEFAULT '',
    load        integer NOT NULL DEFAULT 0 CHECK (load >= 0),
    rooms       integer NOT NULL DEFAULT 0 CHECK (rooms >= 0),
    draining    boolean NOT NULL DEFAULT false,
    started_at  timestamptz NOT NULL DEFAULT now(),
    lease_until timestamptz NOT NULL
);

-- A room lives on one node at a time; generation counts its moves.
CREATE TABLE cluster_rooms (
    room       text PRIMARY KEY,
    node_id    text NOT NULL,
    placed_at  timestamptz NOT NULL DEFAULT now(),
    generation bigint NOT NULL DEFAULT 1
);
CREATE INDEX cluster_rooms_node ON cluster_rooms (node_id);

-- A signaling session as another node needs it to take the session over: who it belongs
-- to and the hash of its current resume secret (never the secret). Deleted when the
-- session ends; a row whose node died is swept once no resume could use it.
CREATE TABLE signal_sessions (
    id          text PRIMARY KEY,
    room        text NOT NULL,
    subject     text NOT NULL,
    role        text NOT NULL,
    name        text NOT NULL DEFAULT '',
    node_id     text NOT NULL,
    secret_hash bytea NOT NULL CHECK (length(secret_hash) = 32),
    joined_at   timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX signal_sessions_node ON signal_sessions (node_id);

GRANT SELECT, INSERT, UPDATE, DELETE ON cluster_nodes, cluster_rooms, signal_sessions TO sealroom_app;

-- +goose Down
DROP TABLE signal_sessions;
DROP TABLE cluster_rooms;
DROP TABLE cluster_nodes;
