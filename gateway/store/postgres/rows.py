"""How the store's values look in PostgreSQL rows; this module only converts.

Times are ``timestamptz`` (asyncpg gives aware UTC datetimes back); a naive time is refused
before it reaches the database, as in the SQLite backend.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

from gateway.model import MessageType
from gateway.store.api import (
    Attempt,
    AuditRecord,
    Direction,
    HistoryEntry,
    MessageRecord,
    State,
)
from gateway.store.filesjson import files_from_json

Row = Any  # an asyncpg.Record: indexable by position and by column name


def aware(at: dt.datetime) -> dt.datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        # A naive time is ambiguous; guessing the zone would silently shift a schedule.
        raise ValueError(f"naive datetime {at.isoformat()}: the store takes aware UTC times")
    return at.astimezone(dt.UTC)


def aware_or_none(at: dt.datetime | None) -> dt.datetime | None:
    return None if at is None else aware(at)


def utc(at: dt.datetime) -> dt.datetime:
    return at.astimezone(dt.UTC)


def utc_or_none(at: dt.datetime | None) -> dt.datetime | None:
    return None if at is None else utc(at)


MESSAGE_COLUMNS: Final = (
    "message_id, direction, peer, type, state, created_at, updated_at, envelope, signature,"
    " envelope_sha256, files::text AS files, expires_at, correlation_id, document_uid,"
    " registration_number, local_ref, attempts, next_attempt_at, receipt, receipt_signature,"
    " error_code, error_message"
)

# Query text built from the constant column list above, never from input.
SELECT_MESSAGES: Final = f"SELECT {MESSAGE_COLUMNS} FROM messages"  # noqa: S608


def message_record(row: Row) -> MessageRecord:
    return MessageRecord(
        message_id=row["message_id"],
        direction=Direction(row["direction"]),
        peer=row["peer"],
        type=MessageType(row["type"]),
        state=State(row["state"]),
        created_at=utc(row["created_at"]),
        updated_at=utc(row["updated_at"]),
        envelope=bytes(row["envelope"]),
        signature=bytes(row["signature"]),
        envelope_sha256=row["envelope_sha256"],
        files=files_from_json(row["files"]),
        expires_at=utc_or_none(row["expires_at"]),
        correlation_id=row["correlation_id"],
        document_uid=row["document_uid"],
        registration_number=row["registration_number"],
        local_ref=row["local_ref"],
        attempts=row["attempts"],
        next_attempt_at=utc_or_none(row["next_attempt_at"]),
        receipt=None if row["receipt"] is None else bytes(row["receipt"]),
        receipt_signature=(
            None if row["receipt_signature"] is None else bytes(row["receipt_signature"])
        ),
        error_code=row["error_code"],
        error_message=row["error_message"],
    )


SELECT_HISTORY: Final = "SELECT at, state, detail FROM history"


def history_entry(row: Row) -> HistoryEntry:
    return HistoryEntry(at=utc(row["at"]), state=State(row["state"]), detail=row["detail"])


SELECT_ATTEMPTS: Final = "SELECT at, outcome, http_status, error FROM attempts"


def attempt(row: Row) -> Attempt:
    return Attempt(
        at=utc(row["at"]),
        outcome=row["outcome"],
        http_status=row["http_status"],
        error=row["error"],
    )


SELECT_AUDIT: Final = (
    "SELECT seq, at, actor, action, message_id, detail, prev_hash, hash FROM audit"
)


def audit_record(row: Row) -> AuditRecord:
    return AuditRecord(
        seq=row["seq"],
        at=utc(row["at"]),
        actor=row["actor"],
        action=row["action"],
        message_id=row["message_id"],
        detail=row["detail"],
        prev_hash=row["prev_hash"],
        hash=row["hash"],
    )
