"""The audit log's hash chain: how a record's hash is made, and how the chain is checked.

Each record carries the hash of the previous one, so changing, removing or reordering any
record breaks every hash after it. Stores append records (in the same transaction as the change
they describe) using :func:`record_hash`; ``gateway audit verify`` walks the whole chain with
:func:`verify` and names the first broken record.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from typing import Final

from gateway.errors import GatewayError
from gateway.store.api import AuditRecord

GENESIS: Final = "0" * 64


class AuditError(GatewayError):
    """The audit chain is broken."""

    code = "audit.broken"


def record_hash(
    prev_hash: str,
    seq: int,
    at: dt.datetime,
    actor: str,
    action: str,
    message_id: str | None,
    detail: str,
) -> str:
    """SHA-256 (hex) over the previous hash and every field, in one canonical JSON form."""
    canonical = json.dumps(
        [prev_hash, seq, at.astimezone(dt.UTC).isoformat(), actor, action, message_id, detail],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def verify(records: Iterable[AuditRecord], *, prev_hash: str = GENESIS, after: int = 0) -> int:
    """Check a run of records continuing from ``prev_hash``; returns how many were checked.

    Raises AuditError naming the first record whose sequence, link or hash is wrong.
    """
    count = 0
    expected_seq = after + 1
    for record in records:
        if record.seq != expected_seq:
            raise AuditError(f"record {expected_seq} is missing (found {record.seq} next)")
        if record.prev_hash != prev_hash:
            raise AuditError(
                f"record {record.seq} does not follow record {record.seq - 1}: "
                "its previous-hash differs (a record before it was changed or removed)"
            )
        actual = record_hash(
            record.prev_hash, record.seq, record.at, record.actor, record.action,
            record.message_id, record.detail,
        )  # fmt: skip
        if actual != record.hash:
            raise AuditError(
                f"record {record.seq} was changed after it was written ({record.action})"
            )
        prev_hash = record.hash
        expected_seq += 1
        count += 1
    return count
