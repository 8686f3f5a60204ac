-- PostgreSQL schema 1: everything SQLite schemas 1 and 2 hold, for several nodes on one
-- database, plus the blobs (chunked) that the nodes share.
--
-- Times are timestamptz (microseconds, like SQLite's integer times); a node writes its own
-- clock's times, never the server's now(), so that the audit hash covers exactly what was
-- written. Payloads are bytea. Uniqueness that the cluster relies on is enforced here:
-- message ids (inbound dedup), (local_ref, peer) (idempotent intake), one audit chain.

CREATE TABLE messages (
    id                  bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id          text        NOT NULL UNIQUE,
    direction           text        NOT NULL CHECK (direction IN ('out', 'in', 'local')),
    peer                text        NOT NULL,
    type                text        NOT NULL,
    state               text        NOT NULL,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    envelope            bytea       NOT NULL,
    signature           bytea       NOT NULL,
    envelope_sha256     text        NOT NULL,
    files               jsonb       NOT NULL DEFAULT '[]',
    expires_at          timestamptz,
    correlation_id      text,
    document_uid        text,
    registration_number text,
    local_ref           text,
    attempts            integer     NOT NULL DEFAULT 0,
    next_attempt_at     timestamptz,
    receipt             bytea,
    receipt_signature   bytea,
    error_code          text,
    error_message       text,
    error_document      bytea,
    lease_owner         text,
    lease_until         timestamptz,
    lease_node          uuid,         -- the node (store process) that took the lease
    -- When a queued message next needs a worker: its next attempt, or its expiry if sooner.
    due_at              timestamptz GENERATED ALWAYS AS (
                            LEAST(next_attempt_at, COALESCE(expires_at, next_attempt_at))
                        ) STORED
);

-- The gateway processes sharing this database, each with a heartbeat on the server's clock:
-- the leases of a node whose heartbeat stopped can be taken over before they expire.
CREATE TABLE nodes (
    id           uuid        PRIMARY KEY,
    description  text        NOT NULL,  -- host and process id, for operators
    started_at   timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX messages_queue ON messages (due_at, id) WHERE state = 'queued';
CREATE INDEX messages_handoff ON messages (id) WHERE state = 'accepted';
CREATE UNIQUE INDEX messages_local_ref ON messages (local_ref, peer) WHERE local_ref IS NOT NULL;
CREATE INDEX messages_state_direction ON messages (state, direction, id);
CREATE INDEX messages_direction ON messages (direction, id);
CREATE INDEX messages_document ON messages (document_uid, id) WHERE document_uid IS NOT NULL;
-- The operator's search: a partner's messages newest first, and a range of creation times.
CREATE INDEX messages_peer ON messages (peer, id);
CREATE INDEX messages_created ON messages (created_at);

-- Which blobs a message needs: what blob garbage collection asks before deleting one.
CREATE TABLE message_blobs (
    message_id text NOT NULL REFERENCES messages (message_id),
    sha256     text NOT NULL,
    PRIMARY KEY (sha256, message_id)
);

CREATE TABLE history (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id text        NOT NULL REFERENCES messages (message_id),
    at         timestamptz NOT NULL,
    state      text        NOT NULL,
    detail     text        NOT NULL
);
CREATE INDEX history_message ON history (message_id, id);

CREATE TABLE attempts (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id  text        NOT NULL REFERENCES messages (message_id),
    at          timestamptz NOT NULL,
    outcome     text        NOT NULL CHECK (outcome IN ('delivered', 'retry', 'rejected', 'expired')),
    http_status integer,
    error       text
);
CREATE INDEX attempts_message ON attempts (message_id, id);

CREATE TABLE audit (
    seq        bigint      PRIMARY KEY,
    at         timestamptz NOT NULL,
    actor      text        NOT NULL,
    action     text        NOT NULL,
    message_id text,
    detail     text        NOT NULL,
    prev_hash  text        NOT NULL,
    hash       text        NOT NULL
);

-- The chain's head: one row, locked (SELECT … FOR UPDATE) by every transaction that appends,
-- so that the nodes write ONE chain, in commit order, without gaps or forks.
CREATE TABLE audit_head (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    seq      bigint  NOT NULL,
    hash     text    NOT NULL
);
INSERT INTO audit_head (seq, hash) VALUES (0, repeat('0', 64));

-- Append-only against our own bugs; the hash chain is what shows tampering by anyone else.
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END
$$;
CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();

CREATE TABLE correlations (
    scope      text        NOT NULL,
    key        text        NOT NULL,
    value      text        NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (scope, key)
);

-- Blobs: content-addressed by SHA-256, stored as ~1 MiB chunks under a numeric id. Chunks are
-- written (and committed) first under a fresh id; the `blobs` row that names them by digest is
-- written last, so a blob that has a row is complete. An upload that never finished leaves
-- chunks whose id is only in `blob_uploads`; garbage collection removes them.
CREATE SEQUENCE blob_ids;

CREATE TABLE blob_uploads (
    id         bigint      PRIMARY KEY,
    started_at timestamptz NOT NULL
);

CREATE TABLE blobs (
    sha256     text        PRIMARY KEY,
    id         bigint      NOT NULL UNIQUE,
    size       bigint      NOT NULL,
    touched_at timestamptz NOT NULL  -- last stored (again): GC keeps it for a grace period
);

CREATE TABLE blob_chunks (
    id   bigint  NOT NULL,
    seq  integer NOT NULL,
    data bytea   NOT NULL,
    PRIMARY KEY (id, seq)
);
-- Chunks are written once and read whole: no compression (files are mostly PDF/ZIP already).
ALTER TABLE blob_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
