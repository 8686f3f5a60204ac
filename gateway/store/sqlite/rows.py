"""How the store's values look in SQLite rows: times, messages, history, attempts, audit.

Times are integer microseconds since the epoch (UTC), which round-trip a datetime exactly and
sort as numbers. This module only converts; it never runs a query.
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

_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECOND: Final = dt.timedelta(microseconds=1)

Row = tuple[Any, ...]


def to_us(at: dt.datetime) -> int:
    """A timezone-aware datetime as epoch microseconds."""
    if at.tzinfo is None or at.utcoffset() is None:
        # A naive time is ambiguous; guessing the zone would silently shift a schedule.
        raise ValueError(f"naive datetime {at.isoformat()}: the store takes aware UTC times")
    return (at - _EPOCH) // _MICROSECOND


def to_us_or_none(at: dt.datetime | None) -> int | None:
    return None if at is None else to_us(at)


def from_us(value: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(microseconds=value)


def from_us_or_none(value: int | None) -> dt.datetime | None:
    return None if value is None else from_us(value)


# The columns a MessageRecord is read from, in the order message_record() unpacks them. The
# SELECT_* texts below read rows in the order their converters unpack them.
MESSAGE_COLUMNS: Final = (
    "message_id, direction, peer, type, state, created_at, updated_at, envelope, signature,"
    " envelope_sha256, files, expires_at, correlation_id, document_uid, registration_number,"
    " local_ref, attempts, next_attempt_at, receipt, receipt_signature, error_code,"
    " error_message"
)


# Query text built from the constant column lists above, never from input.
SELECT_MESSAGES: Final = f"SELECT {MESSAGE_COLUMNS} FROM messages"  # noqa: S608


def message_record(row: Row) -> MessageRecord:
    (
        message_id,
        direction,
        peer,
        type_,
        state,
        created_at,
        updated_at,
        envelope,
        signature,
        envelope_sha256,
        files,
        expires_at,
        correlation_id,
        document_uid,
        registration_number,
        local_ref,
        attempts,
        next_attempt_at,
        receipt,
        receipt_signature,
        error_code,
        error_message,
    ) = row
    return MessageRecord(
        message_id=message_id,
        direction=Direction(direction),
        peer=peer,
        type=MessageType(type_),
        state=State(state),
        created_at=from_us(created_at),
        updated_at=from_us(updated_at),
        envelope=envelope,
        signature=signature,
        envelope_sha256=envelope_sha256,
        files=files_from_json(files),
        expires_at=from_us_or_none(expires_at),
        correlation_id=correlation_id,
        document_uid=document_uid,
        registration_number=registration_number,
        local_ref=local_ref,
        attempts=attempts,
        next_attempt_at=from_us_or_none(next_attempt_at),
        receipt=receipt,
        receipt_signature=receipt_signature,
        error_code=error_code,
        error_message=error_message,
    )


SELECT_HISTORY: Final = "SELECT at, state, detail FROM history"


def history_entry(row: Row) -> HistoryEntry:
    at, state, detail = row
    return HistoryEntry(at=from_us(at), state=State(state), detail=detail)


SELECT_ATTEMPTS: Final = "SELECT at, outcome, http_status, error FROM attempts"


def attempt(row: Row) -> Attempt:
    at, outcome, http_status, error = row
    return Attempt(at=from_us(at), outcome=outcome, http_status=http_status, error=error)


SELECT_AUDIT: Final = (
    "SELECT seq, at, actor, action, message_id, detail, prev_hash, hash FROM audit"
)


def audit_record(row: Row) -> AuditRecord:
    seq, at, actor, action, message_id, detail, prev_hash, hash_ = row
    return AuditRecord(
        seq=seq,
        at=from_us(at),
        actor=actor,
        action=action,
        message_id=message_id,
        detail=detail,
        prev_hash=prev_hash,
        hash=hash_,
    )
