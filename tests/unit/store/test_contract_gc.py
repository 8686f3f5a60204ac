"""Contract: blobs that no message needs are collected after a grace period; others stay."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib

from gateway.store.api import Direction, Store, StoredFile
from tests.unit.store.messages import new_message

HOUR = dt.timedelta(hours=1)


async def _content(store: Store, sha256: str) -> bytes:
    return b"".join([chunk async for chunk in store.blobs.read(sha256)])


async def test_unreferenced_blobs_go_referenced_ones_stay(store: Store) -> None:
    orphan = await store.blobs.put_bytes(b"a refused upload's file")
    sent = await store.blobs.put_bytes(b"the letter we send")
    received = await store.blobs.put_bytes(b"the letter we received")
    outbound = new_message(files=(StoredFile("f1", "a.pdf", sent.sha256, sent.size),))
    inbound = new_message(
        Direction.IN, files=(StoredFile("f1", "b.pdf", received.sha256, received.size),)
    )
    await store.add_outbound(outbound, actor="t")
    await store.add_inbound(inbound, b"r", b"s", actor="peer:x")

    assert await store.gc_blobs(HOUR) == 0  # within the grace period nothing goes
    assert await store.blobs.exists(orphan.sha256)

    assert await store.gc_blobs(dt.timedelta(0)) == 1
    assert not await store.blobs.exists(orphan.sha256)
    assert await _content(store, sent.sha256) == b"the letter we send"
    assert await _content(store, received.sha256) == b"the letter we received"
    assert await store.gc_blobs(dt.timedelta(0)) == 0


async def test_a_collected_blob_can_be_stored_again(store: Store) -> None:
    data = b"x" * 3_000_000  # several chunks where blobs are chunked
    first = await store.blobs.put_bytes(data)
    assert await store.gc_blobs(dt.timedelta(0)) == 1
    again = await store.blobs.put_bytes(data)
    assert again == first
    assert hashlib.sha256(await _content(store, again.sha256)).hexdigest() == first.sha256


async def test_a_blob_shared_by_two_messages_stays_while_either_references_it(
    store: Store,
) -> None:
    shared = await store.blobs.put_bytes(b"the same attachment")
    file = StoredFile("f1", "a.pdf", shared.sha256, shared.size)
    base = new_message(files=(file,))
    await store.add_outbound(base, actor="t")
    await store.add_outbound(
        dataclasses.replace(new_message(), files=(file,), local_ref="other"), actor="t"
    )
    assert await store.gc_blobs(dt.timedelta(0)) == 0
    assert await store.blobs.exists(shared.sha256)
