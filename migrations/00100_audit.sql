-- Audit log (package audit, README there): an append-only, hash-chained, checkpoint-signed
-- event table partitioned by month, the one-row chain tip that serialises appenders across
-- processes, per-subject keys for crypto-shredding, and the retention machinery.
--
-- Append-only is enforced twice: the application role sealroom_app gets SELECT/INSERT only,
-- and triggers refuse UPDATE, DELETE and TRUNCATE for everyone (the table owner included).
-- Expiry drops whole partitions through audit_expire(), a SECURITY DEFINER function that
-- checks the retention period and legal holds itself.
--
-- Roles are cluster-wide: they are created idempotently here and never dropped by the down
-- migration, because other databases on the same server may still use them.

-- +goose Up
-- +goose StatementBegin
DO $$
BEGIN
    BEGIN
        CREATE ROLE sealroom_app NOLOGIN;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END;
    BEGIN
        CREATE ROLE sealroom_auditor NOLOGIN;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END;
END
$$;
-- +goose StatementEnd

-- One chain per deployment. Every appender locks this row (SELECT ... FOR UPDATE) inside its
-- batch transaction, so sequence numbers are gap-free across any number of processes.
CREATE TABLE audit_tip (
    id              boolean PRIMARY KEY DEFAULT true CHECK (id),
    seq             bigint NOT NULL CHECK (seq >= 0),
    hash            bytea NOT NULL CHECK (length(hash) = 32),
    chained_at      timestamptz NOT NULL,
    checkpoint_seq  bigint NOT NULL,
    checkpoint_at   timestamptz NOT NULL
);
INSERT INTO audit_tip (seq, hash, chained_at, checkpoint_seq, checkpoint_at)
VALUES (0, decode(repeat('00', 32), 'hex'), '2000-01-01T00:00:00Z', 0, now());

CREATE TABLE audit_events (
    seq          bigint NOT NULL CHECK (seq > 0),
    id           uuid NOT NULL,
    chained_at   timestamptz NOT NULL,
    occurred_at  timestamptz NOT NULL,
    actor        text NOT NULL CHECK (actor <> ''),
    actor_role   text NOT NULL,
    action       text NOT NULL,
    target_kind  text NOT NULL,
    target_id    text NOT NULL,
    room         text NOT NULL,
    outcome      text NOT NULL,
    request_id   text NOT NULL,
    subject      text NOT NULL,
    details      text NOT NULL,
    personal     bytea NOT NULL,
    prev_hash    bytea NOT NULL CHECK (length(prev_hash) = 32),
    hash         bytea NOT NULL CHECK (length(hash) = 32)
) PARTITION BY RANGE (chained_at);

CREATE INDEX audit_events_seq ON audit_events (seq);
CREATE INDEX audit_events_id ON audit_events (id);
CREATE INDEX audit_events_actor ON audit_events (actor, seq);
CREATE INDEX audit_events_subject ON audit_events (subject, seq);
CREATE INDEX audit_events_room ON audit_events (room, seq) WHERE room <> '';

-- Signed checkpoints: signature = Ed25519(audit key, see README "checkpoint signature input").
CREATE TABLE audit_checkpoints (
    seq        bigint PRIMARY KEY CHECK (seq > 0),
    head       bytea NOT NULL CHECK (length(head) = 32),
    signed_at  timestamptz NOT NULL,
    key_id     bytea NOT NULL CHECK (length(key_id) = 8),
    signature  bytea NOT NULL CHECK (length(signature) = 64)
);

-- The months that have a partition, so retention can reason about ranges without parsing
-- partition bounds.
CREATE TABLE audit_partitions (
    name         text PRIMARY KEY,
    range_start  timestamptz NOT NULL UNIQUE,
    range_end    timestamptz NOT NULL
);

-- What retention dropped: the chain restarts after last_seq with prev_hash = last_hash.
CREATE TABLE audit_expiries (
    name         text PRIMARY KEY,
    range_start  timestamptz NOT NULL,
    range_end    timestamptz NOT NULL,
    first_seq    bigint,
    last_seq     bigint,
    row_count    bigint NOT NULL,
    last_hash    bytea,
    expired_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE audit_settings (
    id         boolean PRIMARY KEY DEFAULT true CHECK (id),
    retention  interval NOT NULL DEFAULT interval '6 years' CHECK (retention >= interval '1 day')
);
INSERT INTO audit_settings DEFAULT VALUES;

-- A legal hold keeps every partition overlapping [from_time, until_time) until released.
CREATE TABLE audit_legal_holds (
    id           bigserial PRIMARY KEY,
    reason       text NOT NULL CHECK (reason <> ''),
    from_time    timestamptz NOT NULL,
    until_time   timestamptz NOT NULL CHECK (until_time > from_time),
    created_by   text NOT NULL CHECK (created_by <> ''),
    created_at   timestamptz NOT NULL DEFAULT now(),
    released_at  timestamptz
);

-- Per-subject keys for personal data in audit events. Erasure sets key to NULL
-- (crypto-shredding); the row stays as the record that the subject was erased.
CREATE TABLE subject_keys (
    subject      text PRIMARY KEY CHECK (subject <> '' AND length(subject) <= 256),
    key          bytea CHECK (key IS NULL OR length(key) = 32),
    created_at   timestamptz NOT NULL DEFAULT now(),
    shredded_at  timestamptz,
    CHECK ((key IS NULL) = (shredded_at IS NOT NULL))
);

-- +goose StatementBegin
CREATE FUNCTION audit_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit: % on % is not allowed: the audit log is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION audit_tip_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.seq < OLD.seq OR NEW.chained_at < OLD.chained_at OR NEW.checkpoint_seq < OLD.checkpoint_seq THEN
        RAISE EXCEPTION 'audit: the chain tip only moves forward' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION subject_keys_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.subject <> OLD.subject OR NEW.created_at <> OLD.created_at
       OR OLD.key IS NULL OR NEW.key IS NOT NULL THEN
        RAISE EXCEPTION 'audit: a subject key can only be shredded' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_refuse();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse();
CREATE TRIGGER audit_checkpoints_no_change BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_refuse();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse();
CREATE TRIGGER audit_expiries_no_change BEFORE UPDATE OR DELETE ON audit_expiries
    FOR EACH ROW EXECUTE FUNCTION audit_refuse();
CREATE TRIGGER audit_expiries_no_truncate BEFORE TRUNCATE ON audit_expiries
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse();
CREATE TRIGGER audit_tip_forward BEFORE UPDATE ON audit_tip
    FOR EACH ROW EXECUTE FUNCTION audit_tip_guard();
CREATE TRIGGER audit_tip_no_delete BEFORE DELETE ON audit_tip
    FOR EACH ROW EXECUTE FUNCTION audit_refuse();
CREATE TRIGGER audit_tip_no_truncate BEFORE TRUNCATE ON audit_tip
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse();
CREATE TRIGGER subject_keys_shred_only BEFORE UPDATE ON subject_keys
    FOR EACH ROW EXECUTE FUNCTION subject_keys_guard();
CREATE TRIGGER subject_keys_no_delete BEFORE DELETE ON subject_keys
    FOR EACH ROW EXECUTE FUNCTION audit_refuse();
CREATE TRIGGER subject_keys_no_truncate BEFORE TRUNCATE ON subject_keys
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse();

-- audit_ensure_partition creates the month partition holding at, with its own TRUNCATE
-- trigger (statement triggers are not inherited by partitions).
-- +goose StatementBegin
CREATE FUNCTION audit_ensure_partition(at timestamptz) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    lo timestamptz := date_trunc('month', at, 'UTC');
    hi timestamptz := date_trunc('month', at, 'UTC') + interval '1 month';
    part text := 'audit_events_' || to_char(lo AT TIME ZONE 'UTC', 'YYYY_MM');
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('audit_ensure_partition'));
    IF EXISTS (SELECT 1 FROM audit_partitions WHERE name = part) THEN
        RETURN part;
    END IF;
    IF EXISTS (SELECT 1 FROM audit_expiries WHERE name = part) THEN
        RAISE EXCEPTION 'audit: partition % already expired', part USING ERRCODE = 'check_violation';
    END IF;
    EXECUTE format('CREATE TABLE %I PARTITION OF audit_events FOR VALUES FROM (%L) TO (%L)', part, lo, hi);
    EXECUTE format('CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON %I
        FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse()', part);
    INSERT INTO audit_partitions (name, range_start, range_end) VALUES (part, lo, hi);
    RETURN part;
END
$$;
-- +goose StatementEnd

-- audit_expire drops, oldest first, every partition that ended more than the retention
-- period before now and overlaps no active legal hold; it stops at the first one it must
-- keep, so what remains is always a contiguous tail of the chain.
-- +goose StatementBegin
CREATE FUNCTION audit_expire(now_at timestamptz) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    keep interval;
    p record;
    first_seq bigint;
    last_seq bigint;
    n bigint;
    last_hash bytea;
    dropped integer := 0;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('audit_ensure_partition'));
    SELECT retention INTO keep FROM audit_settings;
    FOR p IN SELECT * FROM audit_partitions ORDER BY range_start LOOP
        EXIT WHEN p.range_end > now_at - keep OR now_at > now();
        EXIT WHEN EXISTS (SELECT 1 FROM audit_legal_holds h WHERE h.released_at IS NULL
                          AND h.from_time < p.range_end AND h.until_time > p.range_start);
        EXECUTE format('SELECT min(seq), max(seq), count(*) FROM %I', p.name) INTO first_seq, last_seq, n;
        EXECUTE format('SELECT hash FROM %I ORDER BY seq DESC LIMIT 1', p.name) INTO last_hash;
        INSERT INTO audit_expiries (name, range_start, range_end, first_seq, last_seq, row_count, last_hash)
        VALUES (p.name, p.range_start, p.range_end, first_seq, last_seq, n, last_hash);
        EXECUTE format('DROP TABLE %I', p.name);
        -- audit_partitions is bookkeeping, not evidence: its rows go with the partition.
        DELETE FROM audit_partitions WHERE name = p.name;
        dropped := dropped + 1;
    END LOOP;
    RETURN dropped;
END
$$;
-- +goose StatementEnd

REVOKE ALL ON audit_tip, audit_events, audit_checkpoints, audit_partitions, audit_expiries,
    audit_settings, audit_legal_holds, subject_keys FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_ensure_partition(timestamptz), audit_expire(timestamptz) FROM PUBLIC;
GRANT SELECT, UPDATE ON audit_tip TO sealroom_app;
GRANT SELECT, INSERT ON audit_events, audit_checkpoints TO sealroom_app;
GRANT SELECT ON audit_partitions, audit_expiries TO sealroom_app;
GRANT SELECT, UPDATE ON audit_settings TO sealroom_app;
GRANT SELECT, INSERT ON audit_legal_holds TO sealroom_app;
GRANT UPDATE (released_at) ON audit_legal_holds TO sealroom_app;
GRANT USAGE ON SEQUENCE audit_legal_holds_id_seq TO sealroom_app;
GRANT SELECT, INSERT ON subject_keys TO sealroom_app;
GRANT UPDATE (key, shredded_at) ON subject_keys TO sealroom_app;
GRANT EXECUTE ON FUNCTION audit_ensure_partition(timestamptz), audit_expire(timestamptz) TO sealroom_app;
GRANT SELECT ON audit_tip, audit_events, audit_checkpoints, audit_partitions, audit_expiries,
    audit_settings, audit_legal_holds TO sealroom_auditor;

-- +goose Down
-- Roles stay: they are cluster-wide and other databases may still use them. Dropping the
-- tables drops their grants.
DROP TABLE audit_events;
DROP TABLE audit_tip, audit_checkpoints, audit_partitions, audit_expiries, audit_settings,
    audit_legal_holds, subject_keys;
DROP FUNCTION audit_expire(timestamptz);
DROP FUNCTION audit_ensure_partition(timestamptz);
DROP FUNCTION subject_keys_guard();
DROP FUNCTION audit_tip_guard();
DROP FUNCTION audit_refuse();
