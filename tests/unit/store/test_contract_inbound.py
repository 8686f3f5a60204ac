"""Contract: inbound and local messages — deduplication, hand-off claims, marking done."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import os

import pytest

from gateway.store.api import SMALL_BLOB, Direction, State, Store, StoredFile
from tests.unit.store.messages import new_message, notification, now, stored

LEASE = dt.timedelta(seconds=60)


async def test_add_inbound_records_an_accepted_message_with_our_receipt(store: Store) -> None:
    message = new_message(Direction.IN, peer="ru-61")
    accepted = await store.add_inbound(message, b"<Receipt/>", b"our-cms", actor="peer:ru-61")

    assert accepted.new
    record = accepted.record
    assert (record.direction, record.state, record.peer) == (Direction.IN, State.ACCEPTED, "ru-61")
    assert (record.receipt, record.receipt_signature) == (b"<Receipt/>", b"our-cms")
    assert (record.envelope, record.files) == (message.envelope, message.files)
    assert record.next_attempt_at is None and record.attempts == 0
    assert await store.get(message.message_id) == record
    assert [h.state for h in await store.history(message.message_id)] == [State.ACCEPTED]
    (audit,) = await store.audit()
    assert (audit.action, audit.actor) == ("message.accepted", "peer:ru-61")


async def test_a_duplicate_gets_the_original_record_and_receipt_and_changes_nothing(
    store: Store,
) -> None:
    message = new_message(Direction.IN)
    first = await store.add_inbound(message, b"receipt-1", b"sig-1", actor="peer:ru-14")

    again = await store.add_inbound(message, b"receipt-2", b"sig-2", actor="peer:ru-14")

    assert not again.new
    assert again.record == first.record
    assert again.record.receipt == b"receipt-1"
    assert len(await store.audit()) == 1
    assert len(await store.history(message.message_id)) == 1


async def test_concurrent_duplicates_record_the_message_exactly_once(store: Store) -> None:
    message = new_message(Direction.IN)
    results = await asyncio.gather(
        *(store.add_inbound(message, f"r{i}".encode(), b"s", actor="peer:x") for i in range(20))
    )

    assert sum(result.new for result in results) == 1
    (original,) = [result.record for result in results if result.new]
    assert all(result.record == original for result in results)
    assert {result.record.receipt for result in results} == {original.receipt}
    assert await store.count_by_state() == {(Direction.IN, State.ACCEPTED): 1}
    assert len(await store.audit()) == 1


async def test_an_inbound_id_already_used_by_an_outbound_message_is_refused(
    store: Store,
) -> None:
    sent = await store.add_outbound(new_message(), actor="a")
    with pytest.raises(ValueError, match="already used"):
        await store.add_inbound(
            new_message(Direction.IN, message_id=sent.message_id), b"r", b"s", actor="peer:x"
        )
    assert (await stored(store, sent.message_id)).direction is Direction.OUT


async def test_a_local_item_can_be_recorded_directly_for_hand_off(store: Store) -> None:
    item = notification("an intake that could not be routed")
    accepted = await store.add_inbound(item, b"", b"", actor="gateway")
    assert accepted.new and accepted.record.direction is Direction.LOCAL
    assert (await store.audit())[0].action == "message.local"
    (claimed,) = await store.claim_handoff("h", now=now(), lease=LEASE, limit=5)
    assert claimed.message_id == item.message_id


async def test_outbound_messages_are_not_added_as_inbound(store: Store) -> None:
    with pytest.raises(ValueError, match="direction"):
        await store.add_inbound(new_message(Direction.OUT), b"r", b"s", actor="peer:x")


async def test_claim_handoff_takes_accepted_messages_oldest_first(store: Store) -> None:
    ids = []
    for _ in range(4):
        message = new_message(Direction.IN)
        await store.add_inbound(message, b"r", b"s", actor="peer:x")
        ids.append(message.message_id)
    await store.add_outbound(new_message(), actor="a")  # never part of a hand-off
    at = now()

    first = await store.claim_handoff("h1", now=at, lease=LEASE, limit=3)
    second = await store.claim_handoff("h2", now=at, lease=LEASE, limit=3)

    assert [r.message_id for r in first] == ids[:3]
    assert [r.message_id for r in second] == ids[3:]
    assert await store.claim_handoff("h3", now=at, lease=LEASE, limit=3) == []
    assert await store.claim_handoff("h3", now=at, lease=LEASE, limit=0) == []


async def test_mark_handed_off_needs_the_lease_and_happens_once(store: Store) -> None:
    message = new_message(Direction.IN)
    await store.add_inbound(message, b"r", b"s", actor="peer:x")
    at = now()
    await store.claim_handoff("slow", now=at, lease=dt.timedelta(seconds=1), limit=1)
    # the slow worker's lease ran out and another worker took the message
    (taken,) = await store.claim_handoff("fresh", now=at + LEASE, lease=LEASE, limit=1)
    assert taken.message_id == message.message_id

    assert not await store.mark_handed_off(message.message_id, "slow", detail="exported")
    assert (await stored(store, message.message_id)).state is State.ACCEPTED

    assert await store.mark_handed_off(message.message_id, "fresh", detail="exported to delo/in")
    assert not await store.mark_handed_off(message.message_id, "fresh", detail="again")
    record = await store.get(message.message_id)
    assert record is not None and record.state is State.HANDED_OFF
    assert [(h.state, h.detail) for h in await store.history(message.message_id)] == [
        (State.ACCEPTED, "accepted from ru-14"),
        (State.HANDED_OFF, "exported to delo/in"),
    ]
    assert (await store.audit())[-1].action == "message.handed-off"
    assert await store.claim_handoff("h", now=at + 2 * LEASE, lease=LEASE, limit=9) == []
    assert not await store.mark_handed_off("no-such-id", "fresh", detail="x")


async def test_an_expired_hand_off_lease_gives_the_message_back(store: Store) -> None:
    await store.add_inbound(new_message(Direction.IN), b"r", b"s", actor="peer:x")
    at = now()
    await store.claim_handoff("crashed", now=at, lease=LEASE, limit=1)
    assert await store.claim_handoff("h", now=at + LEASE / 2, lease=LEASE, limit=1) == []
    assert len(await store.claim_handoff("h", now=at + LEASE, lease=LEASE, limit=1)) == 1
    assert await store.release_leases("h") == 1
    assert len(await store.claim_handoff("h2", now=at + LEASE, lease=LEASE, limit=1)) == 1


async def test_a_renewed_hand_off_lease_keeps_the_message_from_other_claims(store: Store) -> None:
    ids = [(await store.add_inbound(new_message(Direction.IN), b"r", b"s", actor="peer:x"))
           .record.message_id for _ in range(2)]  # fmt: skip
    at = now()
    claimed = await store.claim_handoff("h", now=at, lease=LEASE, limit=2)
    assert sorted(r.message_id for r in claimed) == sorted(ids)

    # Only the first is still being worked on; "other" holds neither.
    assert await store.renew_leases("other", ids, now=at + LEASE / 2, lease=LEASE) == 0
    assert await store.renew_leases("h", ids[:1], now=at + LEASE / 2, lease=LEASE) == 1
    # Past the first lease: the renewed one stays out of reach, the other comes back.
    taken = await store.claim_handoff("h2", now=at + LEASE, lease=LEASE, limit=9)
    assert [r.message_id for r in taken] == ids[1:]
    assert await store.claim_handoff("h2", now=at + LEASE * 5 / 4, lease=LEASE, limit=9) == []
    # A lease taken over is not the old owner's to renew, and a finished message has none.
    assert await store.renew_leases("h", ids[1:], now=at + LEASE, lease=LEASE) == 0
    assert await store.mark_handed_off(ids[0], "h", detail="exported")
    assert await store.renew_leases("h", ids[:1], now=at + LEASE, lease=LEASE) == 0
    assert await store.renew_leases("h", [], now=at, lease=LEASE) == 0


async def test_small_files_can_ride_with_the_inbound_message_in_its_own_write(
    store: Store,
) -> None:
    pdf, sig = os.urandom(100 * 1024), os.urandom(2048)
    digests = [hashlib.sha256(data).hexdigest() for data in (pdf, sig)]
    contents = {digests[0]: pdf, digests[1]: sig}
    message = new_message(
        Direction.IN,
        files=(
            StoredFile("f1", "Письмо.pdf", digests[0], len(pdf)),
            StoredFile("f2", "Письмо.pdf.p7s", digests[1], len(sig)),
        ),
    )
    assert not await store.blobs.exists(digests[0])

    accepted = await store.add_inbound(message, b"r", b"s", actor="peer:ru-61", contents=contents)

    assert accepted.new
    assert await store.blobs.small(digests) == contents
    assert b"".join([c async for c in store.blobs.read(digests[0])]) == pdf
    # A duplicate with the same contents changes nothing and loses nothing.
    again = await store.add_inbound(message, b"r2", b"s2", actor="peer:ru-61", contents=contents)
    assert not again.new and again.record == accepted.record
    assert await store.blobs.small(digests[:1]) == {digests[0]: pdf}


async def test_a_large_file_cannot_ride_with_the_message(store: Store) -> None:
    big = os.urandom(SMALL_BLOB + 1)
    message = new_message(Direction.IN)
    with pytest.raises(ValueError, match="put larger files first"):
        await store.add_inbound(
            message, b"r", b"s", actor="x", contents={hashlib.sha256(big).hexdigest(): big}
        )
    assert await store.get(message.message_id) is None
