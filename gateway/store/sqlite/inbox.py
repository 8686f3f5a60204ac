"""Inbound and local writes: record an accepted message once, lease it for hand-off, mark it
handed off.

Deduplication is the ``messages.message_id`` UNIQUE constraint, so two concurrent deliveries of
one message cannot both be recorded, whatever the process or thread. A duplicate never writes:
not a history row, not an audit record.
"""

from __future__ import annotations

import datetime as dt
import sqlite3

from gateway.store.api import Accepted, Direction, MessageRecord, NewMessage, State
from gateway.store.sqlite import rows, tables
from gateway.store.sqlite.tables import Clock


def add(
    conn: sqlite3.Connection,
    message: NewMessage,
    receipt: bytes,
    receipt_signature: bytes,
    actor: str,
    clock: Clock,
) -> Accepted:
    # LOCAL is allowed too: a failure notification made at intake (an unknown recipient) has
    # no delivery attempt to ride on, and goes to hand-off like any accepted message.
    tables.require_direction(message, Direction.IN, Direction.LOCAL)
    at = tables.now_us(clock)
    if not tables.insert_message(
        conn,
        message,
        state=State.ACCEPTED,
        at=at,
        receipt=receipt,
        receipt_signature=receipt_signature,
        if_new=True,
    ):
        original = tables.fetch(conn, message.message_id)
        assert original is not None
        if original.direction is not message.direction:
            raise ValueError(
                f"message id {message.message_id} is already used by a "
                f"{original.direction.value} message"
            )
        return Accepted(new=False, record=original)
    tables.add_history(
        conn, message.message_id, at, State.ACCEPTED, f"accepted from {message.peer}"
    )
    action = "message.accepted" if message.direction is Direction.IN else "message.local"
    tables.append_audit(
        conn,
        at,
        actor,
        action,
        message.message_id,
        f"{message.type.value} from {message.peer} envelope_sha256={message.envelope_sha256}"
        f" files={len(message.files)}",
    )
    return Accepted(
        new=True,
        record=tables.as_inserted(
            message,
            state=State.ACCEPTED,
            at=at,
            receipt=receipt,
            receipt_signature=receipt_signature,
        ),
    )


def claim(
    conn: sqlite3.Connection, owner: str, now: dt.datetime, lease: dt.timedelta, limit: int
) -> list[MessageRecord]:
    return tables.claim(
        conn,
        owner,
        lease_until=rows.to_us(now + lease),
        limit=limit,
        candidates=(
            # INDEXED BY: without statistics the planner would prefer the index on state.
            "SELECT id FROM messages INDEXED BY messages_handoff WHERE state = 'accepted'"
            " AND (lease_until IS NULL OR lease_until <= ?) ORDER BY id LIMIT ?"
        ),
        params=(rows.to_us(now),),
    )


def mark_handed_off(
    conn: sqlite3.Connection, message_id: str, owner: str, detail: str, clock: Clock
) -> bool:
    at = tables.now_us(clock)
    # Only while the owner holds the lease (see tables.holds_lease), in one statement.
    marked = conn.execute(
        "UPDATE messages SET state = ?, lease_owner = NULL, lease_until = NULL, updated_at = ?"
        " WHERE message_id = ? AND lease_owner = ? AND state = ?",
        (State.HANDED_OFF.value, at, message_id, owner, State.ACCEPTED.value),
    )
    if marked.rowcount != 1:
        return False
    tables.add_history(conn, message_id, at, State.HANDED_OFF, detail)
    tables.append_audit(conn, at, "gateway", "message.handed-off", message_id, detail)
    return True
