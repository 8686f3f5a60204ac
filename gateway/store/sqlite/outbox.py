"""Outbound writes: queue a sealed message, lease due ones, record attempts, operator actions.

Each function runs inside the writer's transaction and records the change, its history row,
its attempt row and its audit record together. It records what the caller decided (deliver,
retry at a time, reject, expire); it never decides when to retry or whether a message expired.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sqlite3
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
from gateway.store.sqlite import rows, tables
from gateway.store.sqlite.tables import Clock


def add(conn: sqlite3.Connection, message: NewMessage, actor: str, clock: Clock) -> MessageRecord:
    tables.require_direction(message, Direction.OUT)
    if message.local_ref is not None:
        earlier = tables.fetch_local_ref(conn, message.local_ref, message.peer)
        if earlier is not None:
            return earlier
    at = tables.now_us(clock)
    tables.insert_message(conn, message, state=State.QUEUED, at=at, next_attempt_at=at)
    tables.add_history(conn, message.message_id, at, State.QUEUED, f"queued for {message.peer}")
    ref = f" local_ref={message.local_ref}" if message.local_ref is not None else ""
    tables.append_audit(
        conn,
        at,
        actor,
        "message.queued",
        message.message_id,
        f"{message.type.value} to {message.peer} envelope_sha256={message.envelope_sha256}"
        f" files={len(message.files)}{ref}",
    )
    record = tables.fetch(conn, message.message_id)
    assert record is not None
    return record


# The peers with queued messages, one index probe each (a loose index scan). INDEXED BY:
# without statistics the planner prefers the index on state, and each probe would read every
# queued row.
_PEERS: Final = (
    "WITH RECURSIVE peers(peer) AS ("
    " SELECT min(peer) FROM messages INDEXED BY messages_queue_peer WHERE state = 'queued'"
    " UNION ALL SELECT (SELECT min(peer) FROM messages INDEXED BY messages_queue_peer"
    " WHERE state = 'queued' AND peer > peers.peer) FROM peers WHERE peers.peer IS NOT NULL)"
    " SELECT peer FROM peers WHERE peer IS NOT NULL"
)
# One peer's oldest due messages whose lease is free, up to its room, each with its turn (see
# PeerRoom). due_at covers "next attempt reached" and "expiry reached" in one indexed column;
# the index walks the peer's queue in due order and stops at the LIMIT (its leased messages,
# in flight, are passed over on the way).
_DUE_OF_PEER: Final = (
    "SELECT id, due_at, row_number() OVER (ORDER BY due_at, id) - ? AS turn FROM ("
    "SELECT id, due_at FROM messages INDEXED BY messages_queue_peer"
    " WHERE state = 'queued' AND peer = ? AND due_at <= ?"
    " AND (lease_until IS NULL OR lease_until <= ?) ORDER BY due_at, id LIMIT ?)"
)
_PEERS_PER_QUERY: Final = 400  # under SQLite's 500 terms in one compound SELECT


def claim(
    conn: sqlite3.Connection,
    owner: str,
    now: dt.datetime,
    lease: dt.timedelta,
    limit: int,
    per_peer: PeerRoom | None,
) -> list[MessageRecord]:
    now_us = rows.to_us(now)
    lease_until = rows.to_us(now + lease)
    rooms = per_peer or PeerRoom(limit)
    order = "due_at, id" if per_peer is None else "turn, due_at, id"
    wanted = [
        (peer, min(room, limit)) for (peer,) in conn.execute(_PEERS) if (room := rooms.of(peer))
    ]
    parts = [
        wanted[start : start + _PEERS_PER_QUERY]
        for start in range(0, len(wanted), _PEERS_PER_QUERY)
    ]
    if len(parts) == 1:
        return tables.claim(
            conn,
            owner,
            lease_until=lease_until,
            limit=limit,
            candidates=f"SELECT id FROM ({_due(parts[0])}) ORDER BY {order} LIMIT ?",  # noqa: S608
            params=_due_params(parts[0], now_us),
        )
    # More peers than one statement takes: each part's best candidates, then the best of all.
    found: list[tuple[int, int, int]] = []  # (turn, due_at, id): ``order`` is its tail or all
    for part in parts:
        query = f"SELECT turn, due_at, id FROM ({_due(part)}) ORDER BY {order} LIMIT ?"  # noqa: S608
        found += conn.execute(query, (*_due_params(part, now_us), limit)).fetchall()
    if not found:
        return []
    found.sort(key=lambda row: row[1:] if per_peer is None else row)
    return tables.claim(
        conn,
        owner,
        lease_until=lease_until,
        limit=limit,
        candidates="SELECT value FROM json_each(?) LIMIT ?",
        params=(json.dumps([row_id for _, _, row_id in found[:limit]]),),
    )


def _due(peers: list[tuple[str, int]]) -> str:
    return " UNION ALL ".join([_DUE_OF_PEER] * len(peers))


def _due_params(peers: list[tuple[str, int]], now_us: int) -> tuple[object, ...]:
    return tuple(v for peer, room in peers for v in (room, peer, now_us, now_us, room))


def finish(
    conn: sqlite3.Connection, message_id: str, owner: str, outcome: Outcome, clock: Clock
) -> bool:
    if not tables.holds_lease(conn, message_id, owner, State.QUEUED):
        return False  # fenced: another worker took the message over, or an operator acted
    at = tables.now_us(clock)
    match outcome:
        case Delivered():
            _set(
                conn,
                message_id,
                at,
                State.DELIVERED,
                receipt=outcome.receipt,
                receipt_signature=outcome.receipt_signature,
                error_code=None,
                error_message=None,
            )
            tables.add_attempt(conn, message_id, at, "delivered", outcome.http_status, None)
            tables.add_history(
                conn,
                message_id,
                at,
                State.DELIVERED,
                f"signed receipt received (HTTP {outcome.http_status})",
            )
            receipt_sha256 = hashlib.sha256(outcome.receipt).hexdigest()
            tables.append_audit(
                conn,
                at,
                "gateway",
                "message.delivered",
                message_id,
                f"receipt_sha256={receipt_sha256}",
            )
        case Retry():
            conn.execute(
                "UPDATE messages SET attempts = attempts + 1, next_attempt_at = ?,"
                " error_code = NULL, error_message = ?, lease_owner = NULL, lease_until = NULL,"
                " updated_at = ? WHERE message_id = ?",
                (rows.to_us(outcome.next_attempt_at), outcome.error, at, message_id),
            )
            tables.add_attempt(conn, message_id, at, "retry", outcome.http_status, outcome.error)
            tables.append_audit(
                conn,
                at,
                "gateway",
                "message.attempt",
                message_id,
                f"failed{_status(outcome.http_status)}: {outcome.error};"
                f" next attempt at {outcome.next_attempt_at.astimezone(dt.UTC).isoformat()}",
            )
        case Rejected():
            _set(
                conn,
                message_id,
                at,
                State.REJECTED,
                error_code=outcome.code,
                error_message=outcome.message,
                error_document=outcome.error_document,
            )
            why = f"{outcome.code}: {outcome.message}"
            tables.add_attempt(conn, message_id, at, "rejected", outcome.http_status, why)
            tables.add_history(
                conn,
                message_id,
                at,
                State.REJECTED,
                f"refused by the peer{_status(outcome.http_status)}: {why}",
            )
            tables.append_audit(conn, at, "gateway", "message.rejected", message_id, why)
            tables.record_local(conn, outcome.notification, at, message_id)
        case Expired():
            _set(
                conn,
                message_id,
                at,
                State.EXPIRED,
                error_code=EXPIRED_CODE,
                error_message=outcome.error,
            )
            tables.add_attempt(conn, message_id, at, "expired", None, outcome.error)
            tables.add_history(conn, message_id, at, State.EXPIRED, outcome.error)
            tables.append_audit(conn, at, "gateway", "message.expired", message_id, outcome.error)
            tables.record_local(conn, outcome.notification, at, message_id)
    return True


def release(conn: sqlite3.Connection, owner: str | None) -> int:
    if owner is None:
        cursor = conn.execute(
            "UPDATE messages SET lease_owner = NULL, lease_until = NULL"
            " WHERE lease_owner IS NOT NULL"
        )
    else:
        cursor = conn.execute(
            "UPDATE messages SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ?",
            (owner,),
        )
    return cursor.rowcount


def renew(conn: sqlite3.Connection, owner: str, message_ids: str, lease_until: int) -> int:
    """``message_ids``: a JSON array, read as a set (as a claim's chosen ids are)."""
    # Never shortened: ``now`` was read before this write waited its turn.
    cursor = conn.execute(
        "UPDATE messages SET lease_until = max(lease_until, ?) WHERE lease_owner = ?"
        " AND message_id IN (SELECT value FROM json_each(?))",
        (lease_until, owner, message_ids),
    )
    return cursor.rowcount


def retry(
    conn: sqlite3.Connection, message_id: str, actor: str, now: dt.datetime, clock: Clock
) -> MessageRecord:
    record = _operator_target(conn, message_id)
    if not record.state.dead:
        raise ValueError(
            f"message {message_id} is {record.state.value}; only a dead letter (rejected, "
            "expired or cancelled) can be retried"
        )
    at = tables.now_us(clock)
    # The expiry is cleared: an operator's revival must not expire again at once. The error
    # fields stay (the last error) and the history row keeps why it had died.
    conn.execute(
        "UPDATE messages SET state = ?, next_attempt_at = ?, expires_at = NULL,"
        " lease_owner = NULL, lease_until = NULL, updated_at = ? WHERE message_id = ?",
        (State.QUEUED.value, rows.to_us(now), at, message_id),
    )
    why = f"{record.error_code}: {record.error_message}" if record.error_code else "no error"
    tables.add_history(
        conn,
        message_id,
        at,
        State.QUEUED,
        f"retried by {actor} (was {record.state.value}; {why})",
    )
    tables.append_audit(
        conn, at, actor, "queue.retry", message_id, f"was {record.state.value}; {why}"
    )
    revived = tables.fetch(conn, message_id)
    assert revived is not None
    return revived


def cancel(conn: sqlite3.Connection, message_id: str, actor: str, clock: Clock) -> MessageRecord:
    record = _operator_target(conn, message_id)
    if record.state is not State.QUEUED:
        raise ValueError(
            f"message {message_id} is {record.state.value}; only a queued message can be cancelled"
        )
    at = tables.now_us(clock)
    owner, until = conn.execute(
        "SELECT lease_owner, lease_until FROM messages WHERE message_id = ?", (message_id,)
    ).fetchone()
    if owner is not None and until > at:
        # Cancelling under a live attempt would fence out a delivery that may already have
        # reached the peer, and the record would then claim "cancelled" for a delivered letter.
        raise ValueError(
            f"message {message_id} is being delivered right now (by {owner}); "
            "try again when the attempt has ended"
        )
    conn.execute(
        "UPDATE messages SET state = ?, next_attempt_at = NULL, lease_owner = NULL,"
        " lease_until = NULL, updated_at = ? WHERE message_id = ?",
        (State.CANCELLED.value, at, message_id),
    )
    tables.add_history(conn, message_id, at, State.CANCELLED, f"cancelled by {actor}")
    tables.append_audit(conn, at, actor, "queue.cancel", message_id, "was queued")
    cancelled = tables.fetch(conn, message_id)
    assert cancelled is not None
    return cancelled


def _operator_target(conn: sqlite3.Connection, message_id: str) -> MessageRecord:
    record = tables.fetch(conn, message_id)
    if record is None:
        raise KeyError(message_id)
    if record.direction is not Direction.OUT:
        raise ValueError(
            f"message {message_id} is a {record.direction.value} message in state "
            f"{record.state.value}; operators retry and cancel outbound messages only"
        )
    return record


def _set(
    conn: sqlite3.Connection,
    message_id: str,
    at: int,
    state: State,
    *,
    receipt: bytes | None = None,
    receipt_signature: bytes | None = None,
    error_code: str | None,
    error_message: str | None,
    error_document: bytes | None = None,
) -> None:
    """A final outcome: counts the attempt, leaves the queue and releases the lease."""
    conn.execute(
        "UPDATE messages SET state = ?, attempts = attempts + 1, next_attempt_at = NULL,"
        " receipt = coalesce(?, receipt), receipt_signature = coalesce(?, receipt_signature),"
        " error_code = ?, error_message = ?, error_document = coalesce(?, error_document),"
        " lease_owner = NULL, lease_until = NULL, updated_at = ? WHERE message_id = ?",
        (
            state.value,
            receipt,
            receipt_signature,
            error_code,
            error_message,
            error_document,
            at,
            message_id,
        ),
    )


def _status(http_status: int | None) -> str:
    return f" (HTTP {http_status})" if http_status is not None else ""
