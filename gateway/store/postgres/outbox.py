"""Outbound writes on PostgreSQL: queue, claim (``FOR UPDATE SKIP LOCKED``), attempts, operators.

The same steps as :mod:`gateway.store.sqlite.outbox`, safe with several nodes at once: a claim
skips rows another node is claiming, a finish locks its row and checks the lease first (a node
whose lease was taken over writes nothing), and idempotent intake is the database's unique
index on (local_ref, peer), not a check in one node's memory.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from gateway.store.api import (
    EXPIRED_CODE,
    Delivered,
    Direction,
    Expired,
    MessageRecord,
    NewMessage,
    Outcome,
    PeerRoom,
    Rejected,
    Retry,
    State,
)
from gateway.store.postgres import rows
from gateway.store.postgres.tables import Connection, Tx, require_direction

# Constant text; {candidates} is one of the constant sub-selects below and in inbox.
# $1 owner, $2 lease until, $3 now, $4 limit, $5 this node's id (or NULL), $6 seconds after
# which a node without a heartbeat counts as dead.
CLAIM: Final = (
    "UPDATE messages SET lease_owner = $1, lease_until = $2, lease_node = $5::uuid"  # noqa: S608
    " WHERE id IN ({candidates}) RETURNING due_at, id, " + rows.MESSAGE_COLUMNS
)

# A lease is free when it ran out, or when the node that holds it stopped beating (a crashed
# or killed process): its work goes on elsewhere without waiting for the lease's full term.
FREE: Final = (
    "(lease_until IS NULL OR lease_until <= $3 OR lease_node IN"
    " (SELECT id FROM nodes WHERE heartbeat_at < now() - make_interval(secs => $6)))"
)

# The peers with queued messages, one index probe each (a loose index scan), then each
# peer's oldest due messages with a free lease, at most its room ($7 peers named with $8 their
# rooms; $9 for any other) and at most $4, each with its turn (see PeerRoom), and of those the
# first $4 in {order}. Rows locked here but not chosen are free again when the statement ends
# (claims run outside a transaction); each peer's probe locks at most $4 rows.
_CLAIM_BY_PEER: Final = (
    "WITH RECURSIVE peers(peer) AS ("  # noqa: S608
    " (SELECT peer FROM messages WHERE state = 'queued' ORDER BY peer LIMIT 1)"
    " UNION ALL SELECT (SELECT m.peer FROM messages m WHERE m.state = 'queued'"
    " AND m.peer > p.peer ORDER BY m.peer LIMIT 1) FROM peers p WHERE p.peer IS NOT NULL)"
    " UPDATE messages SET lease_owner = $1, lease_until = $2, lease_node = $5::uuid"
    " WHERE id IN (SELECT c.id FROM peers p"
    " CROSS JOIN LATERAL (SELECT greatest(0, coalesce((SELECT r.room FROM"
    " unnest($7::text[], $8::int[]) AS r(peer, room) WHERE r.peer = p.peer), $9)) AS room) q"
    " CROSS JOIN LATERAL (SELECT d.id, d.due_at,"
    " row_number() OVER (ORDER BY d.due_at, d.id) - q.room AS turn FROM ("
    " SELECT id, due_at FROM messages WHERE state = 'queued' AND peer = p.peer"
    " AND due_at <= $3 AND " + FREE + " ORDER BY due_at, id LIMIT least(q.room, $4)"
    " FOR UPDATE SKIP LOCKED) d) c"
    " WHERE p.peer IS NOT NULL ORDER BY {order} LIMIT $4)"
    " RETURNING due_at, id, " + rows.MESSAGE_COLUMNS
)
_BY_TURN: Final = _CLAIM_BY_PEER.format(order="c.turn, c.due_at, c.id")
_BY_DUE: Final = _CLAIM_BY_PEER.format(order="c.due_at, c.id")


async def add(tx: Tx, message: NewMessage, actor: str) -> MessageRecord:
    require_direction(message, Direction.OUT)
    if message.local_ref is not None:
        earlier = await tx.fetch_local_ref(message.local_ref, message.peer)
        if earlier is not None:
            return earlier
    record = await tx.insert_message(
        message, state=State.QUEUED, detail=f"queued for {message.peer}", next_attempt_at=tx.at
    )
    if record is None:
        # Another node took the same local item in at this moment: its record stands.
        if message.local_ref is not None:
            earlier = await tx.fetch_local_ref(message.local_ref, message.peer)
            if earlier is not None:
                return earlier
        raise ValueError(f"message id {message.message_id} is already stored")
    ref = f" local_ref={message.local_ref}" if message.local_ref is not None else ""
    tx.audit(
        actor,
        "message.queued",
        message.message_id,
        f"{message.type.value} to {message.peer} envelope_sha256={message.envelope_sha256}"
        f" files={len(message.files)}{ref}",
    )
    return record


@dataclass(frozen=True)
class Claim:
    """Who claims: the lease owner, and the node (store process) it runs in."""

    owner: str
    node: uuid.UUID | None
    dead_after: float  # seconds without a heartbeat after which a node's leases are free


async def claim(
    conn: Connection,
    who: Claim,
    now: dt.datetime,
    lease: dt.timedelta,
    limit: int,
    per_peer: PeerRoom | None,
) -> list[MessageRecord]:
    now = rows.aware(now)
    rooms = per_peer or PeerRoom(limit)
    named = list(rooms.rooms.items())
    found = await conn.fetch(
        _BY_DUE if per_peer is None else _BY_TURN,
        who.owner,
        now + lease,
        now,
        limit,
        who.node,
        who.dead_after,
        [peer for peer, _ in named],
        [room for _, room in named],
        rooms.default,
    )
    return _in_claim_order(found)


async def claim_rows(
    conn: Connection,
    candidates: str,
    who: Claim,
    lease_until: dt.datetime,
    now: dt.datetime,
    limit: int,
) -> list[MessageRecord]:
    """Lease the rows ``candidates`` picks; in the order it picks them (``UPDATE …
    RETURNING`` returns rows in no particular order)."""
    found = await conn.fetch(
        CLAIM.format(candidates=candidates),
        who.owner,
        lease_until,
        now,
        limit,
        who.node,
        who.dead_after,
    )
    return _in_claim_order(found)


def _in_claim_order(found: Sequence[rows.Row]) -> list[MessageRecord]:
    epoch = dt.datetime.min.replace(tzinfo=dt.UTC)
    ordered = sorted(found, key=lambda row: (row["due_at"] or epoch, row["id"]))
    return [rows.message_record(row) for row in ordered]


async def finish(tx: Tx, message_id: str, owner: str, outcome: Outcome) -> bool:
    if not await tx.holds_lease(message_id, owner, State.QUEUED):
        return False  # fenced: another worker took the message over, or an operator acted
    match outcome:
        case Delivered():
            await _set(
                tx,
                message_id,
                State.DELIVERED,
                receipt=outcome.receipt,
                receipt_signature=outcome.receipt_signature,
                error_code=None,
                error_message=None,
            )
            await tx.attempt(message_id, "delivered", outcome.http_status, None)
            await tx.history(
                message_id,
                State.DELIVERED,
                f"signed receipt received (HTTP {outcome.http_status})",
            )
            receipt_sha256 = hashlib.sha256(outcome.receipt).hexdigest()
            tx.audit("gateway", "message.delivered", message_id, f"receipt_sha256={receipt_sha256}")
        case Retry():
            await tx.conn.execute(
                "UPDATE messages SET attempts = attempts + 1, next_attempt_at = $1,"
                " error_code = NULL, error_message = $2, lease_owner = NULL, lease_until = NULL,"
                " updated_at = $3 WHERE message_id = $4",
                rows.aware(outcome.next_attempt_at),
                outcome.error,
                tx.at,
                message_id,
            )
            await tx.attempt(message_id, "retry", outcome.http_status, outcome.error)
            tx.audit(
                "gateway",
                "message.attempt",
                message_id,
                f"failed{_status(outcome.http_status)}: {outcome.error};"
                f" next attempt at {outcome.next_attempt_at.astimezone(dt.UTC).isoformat()}",
            )
        case Rejected():
            await _set(
                tx,
                message_id,
                State.REJECTED,
                error_code=outcome.code,
                error_message=outcome.message,
                error_document=outcome.error_document,
            )
            why = f"{outcome.code}: {outcome.message}"
            await tx.attempt(message_id, "rejected", outcome.http_status, why)
            await tx.history(
                message_id,
                State.REJECTED,
                f"refused by the peer{_status(outcome.http_status)}: {why}",
            )
            tx.audit("gateway", "message.rejected", message_id, why)
            await tx.record_local(outcome.notification, message_id)
        case Expired():
            await _set(
                tx,
                message_id,
                State.EXPIRED,
                error_code=EXPIRED_CODE,
                error_message=outcome.error,
            )
            await tx.attempt(message_id, "expired", None, outcome.error)
            await tx.history(message_id, State.EXPIRED, outcome.error)
            tx.audit("gateway", "message.expired", message_id, outcome.error)
            await tx.record_local(outcome.notification, message_id)
    return True


async def release(conn: Connection, owner: str | None) -> int:
    if owner is None:
        status = await conn.execute(
            "UPDATE messages SET lease_owner = NULL, lease_until = NULL"
            " WHERE lease_owner IS NOT NULL"
        )
    else:
        status = await conn.execute(
            "UPDATE messages SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1",
            owner,
        )
    return int(str(status).rsplit(" ", 1)[-1])  # the command tag: "UPDATE <count>"


async def renew(
    conn: Connection, owner: str, message_ids: Sequence[str], lease_until: dt.datetime
) -> int:
    status = await conn.execute(
        # Never shortened: ``now`` was read before this write waited its turn.
        "UPDATE messages SET lease_until = greatest(lease_until, $1) WHERE lease_owner = $2"
        " AND message_id = ANY($3::text[])",
        lease_until,
        owner,
        message_ids,
    )
    return int(str(status).rsplit(" ", 1)[-1])  # the command tag: "UPDATE <count>"


async def retry(tx: Tx, message_id: str, actor: str, now: dt.datetime) -> MessageRecord:
    record = await _operator_target(tx, message_id)
    if not record.state.dead:
        raise ValueError(
            f"message {message_id} is {record.state.value}; only a dead letter (rejected, "
            "expired or cancelled) can be retried"
        )
    # The expiry is cleared: an operator's revival must not expire again at once.
    await tx.conn.execute(
        "UPDATE messages SET state = $1, next_attempt_at = $2, expires_at = NULL,"
        " lease_owner = NULL, lease_until = NULL, updated_at = $3 WHERE message_id = $4",
        State.QUEUED.value,
        rows.aware(now),
        tx.at,
        message_id,
    )
    why = f"{record.error_code}: {record.error_message}" if record.error_code else "no error"
    await tx.history(
        message_id, State.QUEUED, f"retried by {actor} (was {record.state.value}; {why})"
    )
    tx.audit(actor, "queue.retry", message_id, f"was {record.state.value}; {why}")
    revived = await tx.fetch(message_id)
    assert revived is not None
    return revived


async def cancel(tx: Tx, message_id: str, actor: str) -> MessageRecord:
    record = await _operator_target(tx, message_id)
    if record.state is not State.QUEUED:
        raise ValueError(
            f"message {message_id} is {record.state.value}; only a queued message can be cancelled"
        )
    owner, until = await tx.conn.fetchrow(
        "SELECT lease_owner, lease_until FROM messages WHERE message_id = $1", message_id
    )
    if owner is not None and until > tx.at:
        # Cancelling under a live attempt would fence out a delivery that may already have
        # reached the peer, and the record would then claim "cancelled" for a delivered letter.
        raise ValueError(
            f"message {message_id} is being delivered right now (by {owner}); "
            "try again when the attempt has ended"
        )
    await tx.conn.execute(
        "UPDATE messages SET state = $1, next_attempt_at = NULL, lease_owner = NULL,"
        " lease_until = NULL, updated_at = $2 WHERE message_id = $3",
        State.CANCELLED.value,
        tx.at,
        message_id,
    )
    await tx.history(message_id, State.CANCELLED, f"cancelled by {actor}")
    tx.audit(actor, "queue.cancel", message_id, "was queued")
    cancelled = await tx.fetch(message_id)
    assert cancelled is not None
    return cancelled


async def _operator_target(tx: Tx, message_id: str) -> MessageRecord:
    # Locked: a claim on another node waits (or skips it) until the operator's change is in.
    record = await tx.fetch(message_id, lock=True)
    if record is None:
        raise KeyError(message_id)
    if record.direction is not Direction.OUT:
        raise ValueError(
            f"message {message_id} is a {record.direction.value} message in state "
            f"{record.state.value}; operators retry and cancel outbound messages only"
        )
    return record


async def _set(
    tx: Tx,
    message_id: str,
    state: State,
    *,
    receipt: bytes | None = None,
    receipt_signature: bytes | None = None,
    error_code: str | None,
    error_message: str | None,
    error_document: bytes | None = None,
) -> None:
    """A final outcome: counts the attempt, leaves the queue and releases the lease."""
    await tx.conn.execute(
        "UPDATE messages SET state = $1, attempts = attempts + 1, next_attempt_at = NULL,"
        " receipt = coalesce($2, receipt), receipt_signature = coalesce($3, receipt_signature),"
        " error_code = $4, error_message = $5, error_document = coalesce($6, error_document),"
        " lease_owner = NULL, lease_until = NULL, updated_at = $7 WHERE message_id = $8",
        state.value,
        receipt,
        receipt_signature,
        error_code,
        error_message,
        error_document,
        tx.at,
        message_id,
    )


def _status(http_status: int | None) -> str:
    return f" (HTTP {http_status})" if http_status is not None else ""
