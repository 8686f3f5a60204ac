"""Contract: every write appends to one hash chain that verifies end to end."""

from __future__ import annotations

import datetime as dt

from gateway.audit import GENESIS, verify
from gateway.store.api import Delivered, Direction, Expired, Rejected, Retry, Store
from tests.unit.store.messages import new_message, notification, now

LEASE = dt.timedelta(seconds=60)


async def realistic_day(store: Store) -> None:
    """Letters out (delivered, retried, refused, expired and revived, cancelled) and in."""
    letters = [await store.add_outbound(new_message(), actor="adapter:delo") for _ in range(5)]
    await store.add_outbound(new_message(local_ref=letters[0].local_ref), actor="adapter:delo")
    await store.cancel(letters[4].message_id, actor="operator:anna")
    at = now()
    claimed = await store.claim_outbound("w", now=at, lease=LEASE, limit=9)
    assert len(claimed) == 4
    a, b, c, d = (r.message_id for r in claimed)
    await store.finish_attempt(a, "w", Delivered(b"receipt", b"sig"))
    await store.finish_attempt(b, "w", Retry(at + LEASE, "connection refused"))
    await store.finish_attempt(c, "w", Rejected("signature.invalid", "bad", notification(c)))
    await store.finish_attempt(d, "w", Expired(notification(d), "expired"))
    await store.retry(d, actor="operator:anna", now=at)
    for _ in range(3):
        message = new_message(Direction.IN)
        await store.add_inbound(message, b"our receipt", b"sig", actor="peer:ru-61")
        await store.add_inbound(message, b"our receipt", b"sig", actor="peer:ru-61")  # duplicate
    for record in await store.claim_handoff("h", now=at, lease=LEASE, limit=9):
        await store.mark_handed_off(record.message_id, "h", detail="exported")


async def test_the_chain_verifies_after_a_realistic_sequence(store: Store) -> None:
    await realistic_day(store)
    records = await store.audit()

    assert verify(records) == len(records)
    assert [r.seq for r in records] == list(range(1, len(records) + 1))
    assert records[0].prev_hash == GENESIS
    assert all(r.at.tzinfo is not None for r in records)
    actions = [r.action for r in records]
    assert actions.count("message.queued") == 5  # the repeated local_ref added nothing
    assert actions.count("message.accepted") == 3  # nor did the duplicates
    for action in (
        "queue.cancel", "message.delivered", "message.attempt", "message.rejected",
        "message.expired", "message.local", "queue.retry", "message.handed-off",
    ):  # fmt: skip
        assert action in actions, action
    assert actions.count("message.handed-off") == 5  # 3 inbound + 2 notifications


async def test_the_chain_can_be_read_and_verified_in_pages(store: Store) -> None:
    await realistic_day(store)
    every = await store.audit()
    checked, prev, after = 0, GENESIS, 0
    while page := await store.audit(after=after, limit=4):
        checked += verify(page, prev_hash=prev, after=after)
        prev, after = page[-1].hash, page[-1].seq
    assert checked == len(every)
    assert await store.audit(after=len(every)) == []
