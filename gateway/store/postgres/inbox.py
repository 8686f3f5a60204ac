"""Inbound and local writes on PostgreSQL: record a message once, lease it for hand-off, mark
it handed off.

Deduplication is the ``messages.message_id`` UNIQUE constraint (``INSERT … ON CONFLICT DO
NOTHING``): when two nodes accept the same message at once, the second insert waits for the
first to commit and then inserts nothing, so exactly one of them records it and every caller
gets the original record back. Exactly one hand-off follows from the lease check in
:func:`mark_handed_off`, which locks the row.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

from gateway.store.api import Accepted, Direction, MessageRecord, NewMessage, State
from gateway.store.postgres import rows
from gateway.store.postgres.outbox import FREE, Claim, claim_rows
from gateway.store.postgres.tables import Connection, Tx, require_direction

_ACCEPTED: Final = (
    "SELECT id FROM messages WHERE state = 'accepted' AND " + FREE +  # noqa: S608
    " ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED"
)


async def add(
    tx: Tx, message: NewMessage, receipt: bytes, receipt_signature: bytes, actor: str
) -> Accepted:
    require_direction(message, Direction.IN, Direction.LOCAL)
    record = await tx.insert_message(
        message,
        state=State.ACCEPTED,
        detail=f"accepted from {message.peer}",
        receipt=receipt,
        receipt_signature=receipt_signature,
    )
    if record is None:
        original = await tx.fetch(message.message_id)
        if original is None:  # only a message id can clash for IN and LOCAL (no local_ref)
            raise ValueError(f"message {message.message_id} clashes with a stored message")
        if original.direction is not message.direction:
            raise ValueError(
                f"message id {message.message_id} is already used by a "
                f"{original.direction.value} message"
            )
        return Accepted(new=False, record=original)
    action = "message.accepted" if message.direction is Direction.IN else "message.local"
    tx.audit(
        actor,
        action,
        message.message_id,
        f"{message.type.value} from {message.peer} envelope_sha256={message.envelope_sha256}"
        f" files={len(message.files)}",
    )
    return Accepted(new=True, record=record)


async def claim(
    conn: Connection, who: Claim, now: dt.datetime, lease: dt.timedelta, limit: int
) -> list[MessageRecord]:
    now = rows.aware(now)
    return await claim_rows(conn, _ACCEPTED, who, now + lease, now, limit)


async def mark_handed_off(tx: Tx, message_id: str, owner: str, detail: str) -> bool:
    # The lease check is the UPDATE's condition: the row lock it takes fences out any other
    # node until COMMIT, and the history row is written only when the update happened.
    done = await tx.conn.fetchval(
        "WITH u AS (UPDATE messages SET state = $1, lease_owner = NULL, lease_until = NULL,"
        " updated_at = $2 WHERE message_id = $3 AND lease_owner = $4 AND state = 'accepted'"
        " RETURNING message_id),"
        " h AS (INSERT INTO history (message_id, at, state, detail) SELECT message_id, $2, $1, $5"
        " FROM u) SELECT count(*) FROM u",
        State.HANDED_OFF.value,
        tx.at,
        message_id,
        owner,
        detail,
    )
    if not done:
        return False
    tx.audit("gateway", "message.handed-off", message_id, detail)
    return True
