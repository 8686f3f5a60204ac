-- Schema 1: messages with their queue and lease columns, state history, delivery attempts,
-- and the hash-chained audit log.
--
-- Times are INTEGER microseconds since the Unix epoch, UTC: they sort correctly, compare in
-- indexes without parsing, and round-trip a Python datetime exactly (the audit hash covers
-- the time to the microsecond). Small payloads (envelope, signatures, receipts) live inline;
-- file contents are content-addressed blobs on disk, referenced from `files` by SHA-256.

CREATE TABLE messages (
    id                  INTEGER PRIMARY KEY,          -- insertion order: newest-first, FIFO ties
    message_id          TEXT    NOT NULL UNIQUE,      -- inbound dedup is this constraint
    direction           TEXT    NOT NULL CHECK (direction IN ('out', 'in', 'local')),
    peer                TEXT    NOT NULL,
    type                TEXT    NOT NULL,
    state               TEXT    NOT NULL,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    envelope            BLOB    NOT NULL,
    signature           BLOB    NOT NULL,
    envelope_sha256     TEXT    NOT NULL,
    files               TEXT    NOT NULL DEFAULT '[]', -- JSON list of StoredFile objects
    expires_at          INTEGER,
    correlation_id      TEXT,
    document_uid        TEXT,
    registration_number TEXT,
    local_ref           TEXT,
    attempts            INTEGER NOT NULL DEFAULT 0,
    next_attempt_at     INTEGER,
    receipt             BLOB,
    receipt_signature   BLOB,
    error_code          TEXT,
    error_message       TEXT,
    error_document      BLOB,                         -- the peer's signed refusal, kept as proof
    lease_owner         TEXT,
    lease_until         INTEGER,
    -- When a queued message next needs a worker: its next attempt, or its expiry if that
    -- comes first (an expired message must be claimed to be declared expired).
    due_at              INTEGER GENERATED ALWAYS AS (
                            min(next_attempt_at, coalesce(expires_at, next_attempt_at))
                        ) VIRTUAL
);

-- The delivery queue: only QUEUED rows, in due order.
CREATE INDEX messages_queue ON messages (due_at, id) WHERE state = 'queued';
-- The hand-off queue: only ACCEPTED rows, oldest first.
CREATE INDEX messages_handoff ON messages (id) WHERE state = 'accepted';
-- Idempotent intake: one message per local item and destination participant.
CREATE UNIQUE INDEX messages_local_ref ON messages (local_ref, peer) WHERE local_ref IS NOT NULL;
-- Listing by state newest first (an index entry ends with the rowid, so each holds its rows
-- in id order), and counting by state and direction without reading the rows.
CREATE INDEX messages_state ON messages (state);
CREATE INDEX messages_state_direction ON messages (state, direction);

CREATE TABLE history (
    id         INTEGER PRIMARY KEY,
    message_id TEXT    NOT NULL REFERENCES messages (message_id),
    at         INTEGER NOT NULL,
    state      TEXT    NOT NULL,
    detail     TEXT    NOT NULL
);
CREATE INDEX history_message ON history (message_id, id);

CREATE TABLE attempts (
    id          INTEGER PRIMARY KEY,
    message_id  TEXT    NOT NULL REFERENCES messages (message_id),
    at          INTEGER NOT NULL,
    outcome     TEXT    NOT NULL CHECK (outcome IN ('delivered', 'retry', 'rejected', 'expired')),
    http_status INTEGER,
    error       TEXT
);
CREATE INDEX attempts_message ON attempts (message_id, id);

CREATE TABLE audit (
    seq        INTEGER PRIMARY KEY,
    at         INTEGER NOT NULL,
    actor      TEXT    NOT NULL,
    action     TEXT    NOT NULL,
    message_id TEXT,
    detail     TEXT    NOT NULL,
    prev_hash  TEXT    NOT NULL,
    hash       TEXT    NOT NULL
);

-- Append-only against our own bugs; someone with the file can still drop these triggers,
-- which is what the hash chain is for.
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;

CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
