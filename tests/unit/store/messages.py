"""Messages for store tests: a NewMessage with every field filled, unique ids, overridable."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
from collections.abc import Iterable
from typing import Any

from gateway.model import MessageType
from gateway.store.api import Direction, MessageRecord, NewMessage, State, Store, StoredFile

_serial = itertools.count(1)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def stored(store: Store, message_id: str) -> MessageRecord:
    """The record of a message the test knows is there."""
    record = await store.get(message_id)
    assert record is not None, f"{message_id} is not stored"
    return record


async def all_delivered(store: Store, message_ids: Iterable[str]) -> bool:
    """Whether every one of the messages is stored and DELIVERED."""
    records = [await store.get(message_id) for message_id in message_ids]
    return all(r is not None and r.state is State.DELIVERED for r in records)


def new_message(direction: Direction = Direction.OUT, **changes: Any) -> NewMessage:
    n = next(_serial)
    envelope = f"<Envelope id='{n}'>письмо №{n}</Envelope>".encode()
    fields: dict[str, Any] = {
        "message_id": f"00000000-0000-4000-8000-{n:012d}",
        "direction": direction,
        "peer": "ru-14",
        "type": MessageType.DOCUMENT,
        "created_at": dt.datetime(2026, 3, 1, 9, 30, 0, 123456, tzinfo=dt.UTC),
        "envelope": envelope,
        "signature": b"\x30\x82cms" + bytes([n % 256]),
        "envelope_sha256": hashlib.sha256(envelope).hexdigest(),
        "files": (
            StoredFile("f1", "Письмо.pdf", "ab" * 32, 102_400),
            StoredFile("f2", "Письмо.pdf.p7s", "cd" * 32, 2_048),
        ),
        "correlation_id": f"corr-{n}",
        "document_uid": f"doc-{n}",
        "registration_number": f"01-{n}/26",
    }
    if direction is Direction.OUT:
        fields["local_ref"] = f"delo:{n}"
    fields.update(changes)
    return NewMessage(**fields)


def notification(about: str, **changes: Any) -> NewMessage:
    """The LOCAL failure notification a Rejected/Expired outcome carries."""
    return new_message(
        Direction.LOCAL,
        type=MessageType.NOTIFICATION,
        peer="ru-61",
        signature=b"",
        files=(),
        correlation_id=f"corr-of-{about}",
        **changes,
    )
