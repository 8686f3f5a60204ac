"""Row-level steps every write shares, on one transaction of one connection (:class:`Tx`).

Audit records are queued while an operation runs and appended at its end (:meth:`Tx.close`):
appending locks the chain's head row until COMMIT, so it comes last, when nothing else is left
to wait for — the head is the one lock every node's writes share, and a transaction that holds
it never waits for another. None of these steps commits, and none decides what a state means.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Final

from gateway.audit import record_hash
from gateway.store.api import Direction, MessageRecord, NewMessage, State
from gateway.store.filesjson import files_to_json
from gateway.store.postgres import rows

Connection = Any  # asyncpg.Connection (asyncpg ships no type information)

# One statement (one round trip) inserts the message, the blobs it needs and its first history
# row, and returns the new record; nothing at all when the message id or (local_ref, peer) is
# taken. Constant text.
_INSERT: Final = (
    "WITH m AS (INSERT INTO messages (message_id, direction, peer, type, state, created_at,"  # noqa: S608
    " updated_at, envelope, signature, envelope_sha256, files, expires_at, correlation_id,"
    " document_uid, registration_number, local_ref, next_attempt_at, receipt, receipt_signature)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, $12, $13, $14, $15, $16,"
    " $17, $18, $19) ON CONFLICT DO NOTHING RETURNING " + rows.MESSAGE_COLUMNS + "),"
    " b AS (INSERT INTO message_blobs (message_id, sha256)"
    "  SELECT m.message_id, d FROM m, unnest($20::text[]) AS d ON CONFLICT DO NOTHING),"
    " h AS (INSERT INTO history (message_id, at, state, detail)"
    "  SELECT m.message_id, $7, $5, $21 FROM m)"
    " SELECT * FROM m"
)

# Append queued audit records and move the chain's head, in one statement. Constant text.
_APPEND: Final = (
    "WITH head AS (UPDATE audit_head SET seq = $1, hash = $2)"
    " INSERT INTO audit (seq, at, actor, action, message_id, detail, prev_hash, hash)"
    " SELECT * FROM unnest($3::bigint[], $4::timestamptz[], $5::text[], $6::text[],"
    " $7::text[], $8::text[], $9::text[], $10::text[])"
)


@dataclass(frozen=True)
class _Audit:
    actor: str
    action: str
    message_id: str | None
    detail: str


class Tx:
    """One write transaction: its connection, its time, and the audit records it will add."""

    def __init__(self, conn: Connection, at: dt.datetime) -> None:
        self.conn = conn
        self.at = rows.aware(at)
        self._audit: list[_Audit] = []

    async def fetch(self, message_id: str, *, lock: bool = False) -> MessageRecord | None:
        sql = rows.SELECT_MESSAGES + " WHERE message_id = $1" + (" FOR UPDATE" if lock else "")
        row = await self.conn.fetchrow(sql, message_id)
        return None if row is None else rows.message_record(row)

    async def fetch_local_ref(self, local_ref: str, peer: str) -> MessageRecord | None:
        row = await self.conn.fetchrow(
            rows.SELECT_MESSAGES + " WHERE local_ref = $1 AND peer = $2", local_ref, peer
        )
        return None if row is None else rows.message_record(row)

    async def insert_message(
        self,
        message: NewMessage,
        *,
        state: State,
        detail: str,
        next_attempt_at: dt.datetime | None = None,
        receipt: bytes | None = None,
        receipt_signature: bytes | None = None,
    ) -> MessageRecord | None:
        """Insert one message, its blob references and its first history row (``state``,
        ``detail``); None (nothing written) when its message id, or its (local_ref, peer),
        is already stored."""
        row = await self.conn.fetchrow(
            _INSERT,
            message.message_id,
            message.direction.value,
            message.peer,
            message.type.value,
            state.value,
            rows.aware(message.created_at),
            self.at,
            message.envelope,
            message.signature,
            message.envelope_sha256,
            files_to_json(message.files),
            rows.aware_or_none(message.expires_at),
            message.correlation_id,
            message.document_uid,
            message.registration_number,
            message.local_ref,
            next_attempt_at,
            receipt,
            receipt_signature,
            sorted({f.sha256 for f in message.files}),
            detail,
        )
        return None if row is None else rows.message_record(row)

    async def history(self, message_id: str, state: State, detail: str) -> None:
        await self.conn.execute(
            "INSERT INTO history (message_id, at, state, detail) VALUES ($1, $2, $3, $4)",
            message_id,
            self.at,
            state.value,
            detail,
        )

    async def attempt(
        self, message_id: str, outcome: str, http_status: int | None, error: str | None
    ) -> None:
        await self.conn.execute(
            "INSERT INTO attempts (message_id, at, outcome, http_status, error)"
            " VALUES ($1, $2, $3, $4, $5)",
            message_id,
            self.at,
            outcome,
            http_status,
            error,
        )

    def audit(self, actor: str, action: str, message_id: str | None, detail: str) -> None:
        """Queue an audit record; :meth:`close` appends the queue to the chain in order."""
        self._audit.append(_Audit(actor, action, message_id, detail))

    async def holds_lease(self, message_id: str, owner: str, state: State) -> bool:
        """Whether ``owner`` still holds the message's lease in ``state``; locks the row so no
        other node can take the lease over before this transaction ends."""
        found = await self.conn.fetchval(
            "SELECT 1 FROM messages WHERE message_id = $1 AND lease_owner = $2 AND state = $3"
            " FOR UPDATE",
            message_id,
            owner,
            state.value,
        )
        return found is not None

    async def record_local(self, message: NewMessage, about: str) -> None:
        """Store a LOCAL item (a notification for our own system) as ACCEPTED."""
        require_direction(message, Direction.LOCAL)
        inserted = await self.insert_message(
            message, state=State.ACCEPTED, detail=f"notification about {about}"
        )
        if inserted is None:
            raise ValueError(f"message id {message.message_id} is already stored")
        self.audit(
            "gateway", "message.local", message.message_id, f"{message.type.value} about {about}"
        )

    async def close(self) -> None:
        """Append the queued audit records: lock the head, chain them on, move the head."""
        if not self._audit:
            return
        seq, prev_hash = await self.conn.fetchrow(
            "SELECT seq, hash FROM audit_head FOR UPDATE"
        )
        columns: list[list[object]] = [[] for _ in range(8)]
        for entry in self._audit:
            seq += 1
            digest = record_hash(
                prev_hash, seq, self.at, entry.actor, entry.action, entry.message_id, entry.detail
            )
            values = (seq, self.at, entry.actor, entry.action, entry.message_id, entry.detail,
                      prev_hash, digest)  # fmt: skip
            for column, value in zip(columns, values, strict=True):
                column.append(value)
            prev_hash = digest
        self._audit.clear()
        await self.conn.execute(_APPEND, seq, prev_hash, *columns)


def require_direction(message: NewMessage, *allowed: Direction) -> None:
    if message.direction not in allowed:
        names = " or ".join(d.value for d in allowed)
        raise ValueError(
            f"message {message.message_id} has direction {message.direction.value}; "
            f"expected {names}"
        )
