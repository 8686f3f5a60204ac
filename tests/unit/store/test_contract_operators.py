"""Contract: operator actions (retry, cancel) and reading (get, lists, counts)."""

from __future__ import annotations

import datetime as dt

import pytest

from gateway.store.api import (
    Delivered,
    Direction,
    Expired,
    MessageRecord,
    Rejected,
    State,
    Store,
)
from tests.unit.store.messages import new_message, notification, now

LEASE = dt.timedelta(seconds=60)


async def _dead(store: Store, how: str) -> str:
    """An outbound message that ended as ``how``: "expired", "rejected" or "cancelled"."""
    message = await store.add_outbound(
        new_message(expires_at=now() - dt.timedelta(seconds=1)), actor="a"
    )
    if how == "cancelled":
        await store.cancel(message.message_id, actor="operator:anna")
        return message.message_id
    await store.claim_outbound("w", now=now(), lease=LEASE, limit=1)
    note = notification(message.message_id)
    outcome = Expired(note, "expired") if how == "expired" else Rejected("x.no", "refused", note)
    assert await store.finish_attempt(message.message_id, "w", outcome)
    return message.message_id


@pytest.mark.parametrize("how", ["expired", "rejected", "cancelled"])
async def test_retry_puts_a_dead_letter_back_in_the_queue_due_now(store: Store, how: str) -> None:
    message_id = await _dead(store, how)
    before = await store.get(message_id)
    assert before is not None
    at = now()

    revived = await store.retry(message_id, actor="operator:anna", now=at)

    assert revived.state is State.QUEUED
    assert revived.next_attempt_at == at
    assert revived.expires_at is None  # it must not expire again at once
    assert revived.attempts == before.attempts
    assert (revived.error_code, revived.error_message) == (before.error_code, before.error_message)
    assert await store.get(message_id) == revived
    last = (await store.history(message_id))[-1]
    assert last.state is State.QUEUED and "operator:anna" in last.detail and how in last.detail
    if before.error_message:
        assert before.error_message in last.detail
    audit = (await store.audit())[-1]
    assert (audit.action, audit.actor, audit.message_id) == (
        "queue.retry", "operator:anna", message_id,
    )  # fmt: skip
    (claimed,) = await store.claim_outbound("w2", now=at, lease=LEASE, limit=5)
    assert claimed.message_id == message_id


async def test_retry_refuses_anything_but_an_outbound_dead_letter(store: Store) -> None:
    queued = await store.add_outbound(new_message(), actor="a")
    inbound = new_message(Direction.IN)
    await store.add_inbound(inbound, b"r", b"s", actor="peer:x")

    with pytest.raises(KeyError):
        await store.retry("no-such-id", actor="operator:a", now=now())
    with pytest.raises(ValueError, match="queued"):
        await store.retry(queued.message_id, actor="operator:a", now=now())
    with pytest.raises(ValueError, match="accepted"):
        await store.retry(inbound.message_id, actor="operator:a", now=now())
    await store.claim_outbound("w", now=now(), lease=LEASE, limit=1)
    await store.finish_attempt(queued.message_id, "w", Delivered(b"r", b"s"))
    with pytest.raises(ValueError, match="delivered"):
        await store.retry(queued.message_id, actor="operator:a", now=now())
    assert [r.action for r in await store.audit()] == [
        "message.queued", "message.accepted", "message.delivered",
    ]  # fmt: skip


async def test_cancel_takes_a_queued_message_out_of_the_queue(store: Store) -> None:
    message = await store.add_outbound(new_message(), actor="a")

    cancelled = await store.cancel(message.message_id, actor="operator:boris")

    assert cancelled.state is State.CANCELLED and cancelled.state.dead
    assert cancelled.next_attempt_at is None
    assert await store.claim_outbound("w", now=now(), lease=LEASE, limit=5) == []
    last = (await store.history(message.message_id))[-1]
    assert last.state is State.CANCELLED and "operator:boris" in last.detail
    audit = (await store.audit())[-1]
    assert (audit.action, audit.actor) == ("queue.cancel", "operator:boris")


async def test_cancel_refuses_unknown_finished_inbound_and_in_flight_messages(
    store: Store,
) -> None:
    delivered = await store.add_outbound(new_message(), actor="a")
    await store.claim_outbound("w", now=now(), lease=LEASE, limit=1)
    await store.finish_attempt(delivered.message_id, "w", Delivered(b"r", b"s"))
    inbound = new_message(Direction.IN)
    await store.add_inbound(inbound, b"r", b"s", actor="peer:x")
    in_flight = await store.add_outbound(new_message(), actor="a")
    await store.claim_outbound("w", now=now(), lease=LEASE, limit=1)

    with pytest.raises(KeyError):
        await store.cancel("no-such-id", actor="operator:a")
    with pytest.raises(ValueError, match="delivered"):
        await store.cancel(delivered.message_id, actor="operator:a")
    with pytest.raises(ValueError, match="accepted"):
        await store.cancel(inbound.message_id, actor="operator:a")
    # an attempt under way may already have reached the peer: it must end first
    with pytest.raises(ValueError, match="being delivered"):
        await store.cancel(in_flight.message_id, actor="operator:a")
    assert await store.finish_attempt(in_flight.message_id, "w", Delivered(b"r", b"s"))


async def test_get_history_and_attempts_of_an_unknown_message(store: Store) -> None:
    assert await store.get("no-such-id") is None
    assert await store.history("no-such-id") == []
    assert await store.attempts("no-such-id") == []


async def test_list_messages_newest_first_with_filters(store: Store) -> None:
    out = [await store.add_outbound(new_message(), actor="a") for _ in range(4)]
    inbound = new_message(Direction.IN)
    await store.add_inbound(inbound, b"r", b"s", actor="peer:x")
    await store.cancel(out[1].message_id, actor="operator:a")
    await store.claim_outbound("w", now=now(), lease=LEASE, limit=1)
    note = notification(out[0].message_id)
    await store.finish_attempt(out[0].message_id, "w", Rejected("x.no", "no", note))

    def ids(records: list[MessageRecord]) -> list[str]:
        return [r.message_id for r in records]

    every = [note.message_id, inbound.message_id, *reversed([m.message_id for m in out])]
    assert ids(await store.list_messages()) == every
    assert ids(await store.list_messages(limit=2)) == every[:2]
    assert ids(await store.list_messages(limit=0)) == []
    assert ids(await store.list_messages(direction=Direction.OUT)) == every[2:]
    assert ids(await store.list_messages(direction=Direction.IN)) == [inbound.message_id]
    assert ids(await store.list_messages(states=(State.QUEUED,))) == [
        out[3].message_id, out[2].message_id,
    ]  # fmt: skip
    dead = (State.REJECTED, State.EXPIRED, State.CANCELLED)
    assert ids(await store.list_messages(states=dead)) == [out[1].message_id, out[0].message_id]
    assert ids(await store.list_messages(states=dead, limit=1)) == [out[1].message_id]
    assert ids(await store.list_messages(direction=Direction.LOCAL, states=(State.ACCEPTED,))) == [
        note.message_id
    ]
    assert ids(await store.list_messages(direction=Direction.IN, states=dead)) == []


async def test_count_by_state(store: Store) -> None:
    assert await store.count_by_state() == {}
    out = [await store.add_outbound(new_message(), actor="a") for _ in range(3)]
    await store.add_inbound(new_message(Direction.IN), b"r", b"s", actor="peer:x")
    await store.cancel(out[0].message_id, actor="operator:a")
    await store.claim_outbound("w", now=now(), lease=LEASE, limit=1)
    await store.finish_attempt(
        out[1].message_id, "w", Expired(notification(out[1].message_id), "too late")
    )

    assert await store.count_by_state() == {
        (Direction.OUT, State.QUEUED): 1,
        (Direction.OUT, State.CANCELLED): 1,
        (Direction.OUT, State.EXPIRED): 1,
        (Direction.IN, State.ACCEPTED): 1,
        (Direction.LOCAL, State.ACCEPTED): 1,
    }
