"""Row-level steps that every write shares: insert a message, add a history row, an attempt
row, an audit record, read a message back.

These run inside a transaction the writer opened; none of them commits, and none decides
anything about what a state means.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable
from dataclasses import replace

from gateway.audit import GENESIS, record_hash
from gateway.store.api import Direction, MessageRecord, NewMessage, State, inserted
from gateway.store.filesjson import files_to_json
from gateway.store.sqlite import rows

Clock = Callable[[], dt.datetime]


def now_us(clock: Clock) -> int:
    return rows.to_us(clock())


def fetch(conn: sqlite3.Connection, message_id: str) -> MessageRecord | None:
    row = conn.execute(rows.SELECT_MESSAGES + " WHERE message_id = ?", (message_id,)).fetchone()
    return None if row is None else rows.message_record(row)


def fetch_local_ref(conn: sqlite3.Connection, local_ref: str, peer: str) -> MessageRecord | None:
    row = conn.execute(
        rows.SELECT_MESSAGES + " WHERE local_ref = ? AND peer = ?",
        (local_ref, peer),
    ).fetchone()
    return None if row is None else rows.message_record(row)


_INSERT = (
    "INSERT INTO messages (message_id, direction, peer, type, state, created_at, updated_at,"
    " envelope, signature, envelope_sha256, files, expires_at, correlation_id, document_uid,"
    " registration_number, local_ref, next_attempt_at, receipt, receipt_signature)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_IF_NEW = _INSERT + " ON CONFLICT (message_id) DO NOTHING"


def insert_message(
    conn: sqlite3.Connection,
    message: NewMessage,
    *,
    state: State,
    at: int,
    next_attempt_at: int | None = None,
    receipt: bytes | None = None,
    receipt_signature: bytes | None = None,
    if_new: bool = False,
) -> bool:
    """Insert one message; with ``if_new``, an existing message id is left alone and False
    returned. Otherwise a message id already stored is a ValueError (ids are GUIDs: a clash
    is a caller's bug, not something to overwrite)."""
    try:
        cursor = conn.execute(
            _INSERT_IF_NEW if if_new else _INSERT,
            (
                message.message_id,
                message.direction.value,
                message.peer,
                message.type.value,
                state.value,
                rows.to_us(message.created_at),
                at,
                message.envelope,
                message.signature,
                message.envelope_sha256,
                files_to_json(message.files),
                rows.to_us_or_none(message.expires_at),
                message.correlation_id,
                message.document_uid,
                message.registration_number,
                message.local_ref,
                next_attempt_at,
                receipt,
                receipt_signature,
            ),
        )
    except sqlite3.IntegrityError as exc:
        if conn.execute(
            "SELECT 1 FROM messages WHERE message_id = ?", (message.message_id,)
        ).fetchone():
            raise ValueError(f"message id {message.message_id} is already stored") from exc
        raise
    return cursor.rowcount == 1


def as_inserted(
    message: NewMessage,
    *,
    state: State,
    at: int,
    receipt: bytes | None = None,
    receipt_signature: bytes | None = None,
) -> MessageRecord:
    """The record :func:`insert_message` has just written, as :func:`fetch` would read it back
    (times to the stored microsecond), without reading it back."""
    record = inserted(
        message,
        state=state,
        at=rows.from_us(at),
        receipt=receipt,
        receipt_signature=receipt_signature,
    )
    return replace(
        record,
        created_at=rows.from_us(rows.to_us(message.created_at)),
        expires_at=rows.from_us_or_none(rows.to_us_or_none(message.expires_at)),
    )


def require_direction(message: NewMessage, *allowed: Direction) -> None:
    if message.direction not in allowed:
        names = " or ".join(d.value for d in allowed)
        raise ValueError(
            f"message {message.message_id} has direction {message.direction.value}; "
            f"expected {names}"
        )


def add_history(
    conn: sqlite3.Connection, message_id: str, at: int, state: State, detail: str
) -> None:
    conn.execute(
        "INSERT INTO history (message_id, at, state, detail) VALUES (?, ?, ?, ?)",
        (message_id, at, state.value, detail),
    )


def add_attempt(
    conn: sqlite3.Connection,
    message_id: str,
    at: int,
    outcome: str,
    http_status: int | None,
    error: str | None,
) -> None:
    conn.execute(
        "INSERT INTO attempts (message_id, at, outcome, http_status, error) VALUES (?, ?, ?, ?, ?)",
        (message_id, at, outcome, http_status, error),
    )


def append_audit(
    conn: sqlite3.Connection,
    at: int,
    actor: str,
    action: str,
    message_id: str | None,
    detail: str,
) -> None:
    """Append one record to the chain, linked to the last one in this same transaction.

    The tail is read afresh each time rather than cached: a rolled-back savepoint or a failed
    commit would leave a cached tail pointing at a record that does not exist.
    """
    last = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    seq, prev_hash = (last[0] + 1, last[1]) if last else (1, GENESIS)
    digest = record_hash(prev_hash, seq, rows.from_us(at), actor, action, message_id, detail)
    conn.execute(
        "INSERT INTO audit (seq, at, actor, action, message_id, detail, prev_hash, hash)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (seq, at, actor, action, message_id, detail, prev_hash, digest),
    )


def record_local(conn: sqlite3.Connection, message: NewMessage, at: int, about: str) -> None:
    """Store a LOCAL item (a notification for our own system) as ACCEPTED, ready for hand-off."""
    require_direction(message, Direction.LOCAL)
    insert_message(conn, message, state=State.ACCEPTED, at=at)
    add_history(conn, message.message_id, at, State.ACCEPTED, f"notification about {about}")
    append_audit(
        conn,
        at,
        "gateway",
        "message.local",
        message.message_id,
        f"{message.type.value} about {about}",
    )


# Constant text; {candidates} is one of the constant sub-selects in outbox and inbox.
_CLAIM = (
    "UPDATE messages SET lease_owner = ?, lease_until = ? WHERE id IN ({candidates})"  # noqa: S608
    " RETURNING coalesce(due_at, 0), id, " + rows.MESSAGE_COLUMNS
)


def claim(
    conn: sqlite3.Connection,
    owner: str,
    *,
    lease_until: int,
    limit: int,
    candidates: str,
    params: tuple[object, ...],
) -> list[MessageRecord]:
    """Lease the rows chosen by ``candidates`` (a SELECT of ``id`` with LIMIT); returned oldest
    due first. SQLite has no ``UPDATE … ORDER BY … LIMIT`` in its default build, so the choice
    lives in the sub-select and the RETURNING rows are sorted by due time."""
    claimed = conn.execute(
        _CLAIM.format(candidates=candidates),
        (owner, lease_until, *params, limit),
    ).fetchall()
    claimed.sort(key=lambda row: (row[0], row[1]))
    return [rows.message_record(row[2:]) for row in claimed]


def holds_lease(conn: sqlite3.Connection, message_id: str, owner: str, state: State) -> bool:
    """Whether ``owner`` still holds the message's lease and the message is in ``state``.

    Holding means the row still names the owner: a lease past its time that no other worker
    has taken over is still this owner's, and its result is the latest word on the message.
    """
    found = conn.execute(
        "SELECT 1 FROM messages WHERE message_id = ? AND lease_owner = ? AND state = ?",
        (message_id, owner, state.value),
    ).fetchone()
    return found is not None
