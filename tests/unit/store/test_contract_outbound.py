"""Contract: outbound messages — queueing, idempotent intake, claims, leases, attempts."""

from __future__ import annotations

import datetime as dt

import pytest

from gateway.store.api import (
    Delivered,
    Direction,
    Expired,
    PeerRoom,
    Rejected,
    Retry,
    State,
    Store,
)
from tests.unit.store.messages import new_message, notification, now, stored

LEASE = dt.timedelta(seconds=60)
SECOND = dt.timedelta(seconds=1)


async def test_add_outbound_records_a_queued_message_due_now(store: Store) -> None:
    message = new_message(expires_at=dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
    before = now()
    record = await store.add_outbound(message, actor="adapter:delo")
    after = now()

    assert record.state is State.QUEUED
    assert record.direction is Direction.OUT
    assert record.attempts == 0
    assert record.next_attempt_at is not None
    assert before <= record.next_attempt_at <= after
    assert before <= record.updated_at <= after
    assert record.receipt is None and record.error_code is None
    # every field of the message comes back exactly
    for field in (
        "message_id", "peer", "type", "created_at", "envelope", "signature", "envelope_sha256",
        "files", "expires_at", "correlation_id", "document_uid", "registration_number",
        "local_ref",
    ):  # fmt: skip
        assert getattr(record, field) == getattr(message, field), field
    assert await store.get(message.message_id) == record
    assert [(h.state, h.at) for h in await store.history(message.message_id)] == [
        (State.QUEUED, record.updated_at)
    ]
    (audit,) = await store.audit()
    assert (audit.action, audit.actor, audit.message_id) == (
        "message.queued", "adapter:delo", message.message_id,
    )  # fmt: skip


async def test_a_local_ref_used_again_returns_the_earlier_record_and_writes_nothing(
    store: Store,
) -> None:
    first = await store.add_outbound(new_message(local_ref="delo:42"), actor="a")
    again = new_message(local_ref="delo:42")  # a re-read of the same local item: new ids
    returned = await store.add_outbound(again, actor="a")

    assert returned == first
    assert await store.get(again.message_id) is None
    assert len(await store.audit()) == 1
    assert await store.count_by_state() == {(Direction.OUT, State.QUEUED): 1}


async def test_one_local_item_fans_out_to_one_message_per_destination(store: Store) -> None:
    to_sakha = await store.add_outbound(new_message(local_ref="delo:7", peer="ru-14"), actor="a")
    to_kazan = await store.add_outbound(new_message(local_ref="delo:7", peer="ru-16"), actor="a")
    assert to_sakha.message_id != to_kazan.message_id
    again = await store.add_outbound(new_message(local_ref="delo:7", peer="ru-16"), actor="a")
    assert again == to_kazan


async def test_only_outbound_messages_are_queued(store: Store) -> None:
    with pytest.raises(ValueError, match="direction in"):
        await store.add_outbound(new_message(Direction.IN), actor="a")


async def test_naive_times_are_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="naive"):
        await store.add_outbound(new_message(expires_at=dt.datetime(2030, 1, 1)), actor="a")
    assert await store.audit() == []


async def test_claim_takes_due_messages_oldest_first_up_to_the_limit(store: Store) -> None:
    ids = [(await store.add_outbound(new_message(), actor="a")).message_id for _ in range(5)]
    at = now()

    first = await store.claim_outbound("w1", now=at, lease=LEASE, limit=3)
    second = await store.claim_outbound("w2", now=at, lease=LEASE, limit=3)
    third = await store.claim_outbound("w3", now=at, lease=LEASE, limit=3)

    assert [r.message_id for r in first] == ids[:3]
    assert [r.message_id for r in second] == ids[3:]
    assert third == []
    assert await store.claim_outbound("w4", now=at, lease=LEASE, limit=0) == []


async def test_a_claim_with_rooms_takes_the_oldest_due_of_each_peer_up_to_its_room(
    store: Store,
) -> None:
    queued: dict[str, list[str]] = {"ru-14": [], "ru-16": [], "fed-1": [], "ru-02": []}
    for peer in ["ru-14"] * 6 + ["ru-16", "fed-1", "ru-02"] * 3:  # ru-14's backlog is oldest
        queued[peer].append(
            (await store.add_outbound(new_message(peer=peer), actor="a")).message_id
        )
    at = now()
    rooms = PeerRoom(2, {"ru-16": 1, "fed-1": 0})

    claimed = await store.claim_outbound("w", now=at, lease=LEASE, limit=9, per_peer=rooms)

    # ru-14 (the default room) gets 2 of its 6, ru-16 1, fed-1 none, ru-02 2; in due order
    assert [r.message_id for r in claimed] == (
        [*queued["ru-14"][:2], queued["ru-16"][0], queued["ru-02"][0], queued["ru-02"][1]]
    )
    # The next claim passes over those in flight. Its limit binds, so it goes one by one to
    # the peers with the most room (3 each), not to the oldest backlog (ru-14, room 1).
    rooms = PeerRoom(3, {"ru-14": 1})
    again = await store.claim_outbound("w", now=at, lease=LEASE, limit=3, per_peer=rooms)
    assert [r.message_id for r in again] == [
        queued["fed-1"][0], queued["ru-16"][1], queued["ru-02"][2]
    ]  # fmt: skip


async def test_a_claim_with_rooms_serves_every_peer_however_many(store: Store) -> None:
    peers = [f"peer-{n:03d}" for n in range(410)]  # more than SQLite's one query takes
    for peer in reversed(peers):  # the last names' letters are the oldest
        await store.add_outbound(new_message(peer=peer), actor="a")
    await store.add_outbound(new_message(peer=peers[-1]), actor="a")  # beyond its room

    claimed = await store.claim_outbound(
        "w", now=now(), lease=LEASE, limit=405, per_peer=PeerRoom(1)
    )

    # one each for the 405 peers whose letters are oldest, wherever their names sort
    assert sorted(r.peer for r in claimed) == peers[5:]
    assert [r.peer for r in claimed] == list(reversed(peers[5:]))  # oldest due first


async def test_a_claim_without_rooms_takes_the_oldest_due_whatever_the_peer(
    store: Store,
) -> None:
    older = [(await store.add_outbound(new_message(peer="ru-14"), actor="a")).message_id
             for _ in range(3)]  # fmt: skip
    await store.add_outbound(new_message(peer="ru-16"), actor="a")

    claimed = await store.claim_outbound("w", now=now(), lease=LEASE, limit=3)

    assert [r.message_id for r in claimed] == older


async def test_claim_skips_messages_not_yet_due_and_finished_ones(store: Store) -> None:
    early = await store.add_outbound(new_message(), actor="a")
    assert await store.claim_outbound("w", now=early.created_at, lease=LEASE, limit=9) == []
    assert (
        await store.claim_outbound("w", now=now() - dt.timedelta(hours=1), lease=LEASE, limit=9)
        == []
    )

    (claimed,) = await store.claim_outbound("w", now=now(), lease=LEASE, limit=9)
    await store.finish_attempt(claimed.message_id, "w", Delivered(b"r", b"s"))
    far = now() + dt.timedelta(days=365)
    assert await store.claim_outbound("w", now=far, lease=LEASE, limit=9) == []


async def test_a_crashed_workers_lease_expires_and_its_messages_come_back(store: Store) -> None:
    await store.add_outbound(new_message(), actor="a")
    at = now()
    (claimed,) = await store.claim_outbound("crashed", now=at, lease=LEASE, limit=5)

    assert await store.claim_outbound("w2", now=at + LEASE - SECOND, lease=LEASE, limit=5) == []
    (again,) = await store.claim_outbound("w2", now=at + LEASE, lease=LEASE, limit=5)
    assert again.message_id == claimed.message_id


async def test_a_finish_by_a_worker_that_lost_its_lease_changes_nothing(store: Store) -> None:
    message = await store.add_outbound(new_message(), actor="a")
    at = now()
    await store.claim_outbound("slow", now=at, lease=SECOND, limit=1)
    await store.claim_outbound("fresh", now=at + 2 * SECOND, lease=LEASE, limit=1)
    before = await store.get(message.message_id)
    audit_before = await store.audit()

    for outcome in (
        Delivered(b"late receipt", b"sig"),
        Retry(next_attempt_at=at + LEASE, error="timeout"),
        Rejected("x.code", "no", notification(message.message_id)),
        Expired(notification(message.message_id), "expired"),
    ):
        assert await store.finish_attempt(message.message_id, "slow", outcome) is False

    assert await store.get(message.message_id) == before
    assert await store.attempts(message.message_id) == []
    assert await store.audit() == audit_before
    assert await store.finish_attempt(message.message_id, "fresh", Delivered(b"r", b"s"))


async def test_finish_without_a_claim_or_for_an_unknown_message_is_refused(store: Store) -> None:
    message = await store.add_outbound(new_message(), actor="a")
    assert not await store.finish_attempt(message.message_id, "w", Delivered(b"r", b"s"))
    assert not await store.finish_attempt("no-such-id", "w", Delivered(b"r", b"s"))
    assert (await stored(store, message.message_id)).state is State.QUEUED


async def test_delivered_stores_the_receipt_and_releases_the_lease(store: Store) -> None:
    message = await store.add_outbound(new_message(), actor="a")
    await store.claim_outbound("w", now=now(), lease=LEASE, limit=1)

    assert await store.finish_attempt(
        message.message_id, "w", Delivered(b"<Receipt/>", b"receipt-cms", http_status=200)
    )
    record = await store.get(message.message_id)
    assert record is not None
    assert record.state is State.DELIVERED
    assert (record.receipt, record.receipt_signature) == (b"<Receipt/>", b"receipt-cms")
    assert record.attempts == 1
    assert record.next_attempt_at is None
    (attempt,) = await store.attempts(message.message_id)
    assert (attempt.outcome, attempt.http_status, attempt.error) == ("delivered", 200, None)
    assert [h.state for h in await store.history(message.message_id)] == [
        State.QUEUED, State.DELIVERED,
    ]  # fmt: skip
    assert (await store.audit())[-1].action == "message.delivered"
    # the lease went with the attempt: the same owner cannot finish twice
    assert not await store.finish_attempt(message.message_id, "w", Delivered(b"x", b"y"))


async def test_retry_counts_attempts_and_schedules_the_next_one(store: Store) -> None:
    message = await store.add_outbound(new_message(), actor="a")
    at = now()
    for n in (1, 2):
        (claimed,) = await store.claim_outbound("w", now=at, lease=LEASE, limit=1)
        at = at + dt.timedelta(minutes=n)
        outcome = Retry(next_attempt_at=at, error=f"503 #{n}", http_status=503)
        assert await store.finish_attempt(claimed.message_id, "w", outcome)
        record = await store.get(message.message_id)
        assert record is not None
        assert (record.state, record.attempts, record.next_attempt_at) == (State.QUEUED, n, at)
        assert record.error_message == f"503 #{n}"
        assert await store.claim_outbound("w", now=at - SECOND, lease=LEASE, limit=1) == []

    attempts = await store.attempts(message.message_id)
    assert [(a.outcome, a.http_status, a.error) for a in attempts] == [
        ("retry", 503, "503 #1"), ("retry", 503, "503 #2"),
    ]  # fmt: skip
    assert [r.action for r in await store.audit()] == [
        "message.queued", "message.attempt", "message.attempt",
    ]  # fmt: skip
    (due,) = await store.claim_outbound("w", now=at, lease=LEASE, limit=1)
    assert due.attempts == 2


async def test_rejected_records_the_refusal_and_a_notification_for_hand_off(store: Store) -> None:
    message = await store.add_outbound(new_message(), actor="a")
    await store.claim_outbound("w", now=now(), lease=LEASE, limit=1)
    note = notification(message.message_id)
    outcome = Rejected(
        "signature.untrusted", "not trusted", note, http_status=403, error_document=b"<Error/>"
    )

    assert await store.finish_attempt(message.message_id, "w", outcome)

    record = await store.get(message.message_id)
    assert record is not None
    assert record.state is State.REJECTED
    assert (record.error_code, record.error_message) == ("signature.untrusted", "not trusted")
    assert record.attempts == 1 and record.next_attempt_at is None
    (attempt,) = await store.attempts(message.message_id)
    assert (attempt.outcome, attempt.http_status) == ("rejected", 403)
    assert "signature.untrusted" in (attempt.error or "")
    local = await store.get(note.message_id)
    assert local is not None
    assert (local.direction, local.state, local.peer) == (Direction.LOCAL, State.ACCEPTED, "ru-61")
    (handoff,) = await store.claim_handoff("h", now=now(), lease=LEASE, limit=10)
    assert handoff.message_id == note.message_id
    assert [(r.action, r.message_id) for r in (await store.audit())[1:]] == [
        ("message.rejected", message.message_id), ("message.local", note.message_id),
    ]  # fmt: skip


async def test_expired_is_a_dead_letter_with_a_notification(store: Store) -> None:
    message = await store.add_outbound(
        new_message(expires_at=now() - dt.timedelta(minutes=1)), actor="a"
    )
    await store.claim_outbound("w", now=now(), lease=LEASE, limit=1)
    note = notification(message.message_id)

    assert await store.finish_attempt(message.message_id, "w", Expired(note, "expired after 3d"))

    record = await store.get(message.message_id)
    assert record is not None
    assert record.state is State.EXPIRED and record.state.dead
    assert record.error_message == "expired after 3d" and record.error_code
    assert [a.outcome for a in await store.attempts(message.message_id)] == ["expired"]
    assert [h.state for h in await store.history(message.message_id)] == [
        State.QUEUED, State.EXPIRED,
    ]  # fmt: skip
    (handoff,) = await store.claim_handoff("h", now=now(), lease=LEASE, limit=10)
    assert handoff.message_id == note.message_id and handoff.direction is Direction.LOCAL
    assert [r.action for r in await store.audit()][-2:] == ["message.expired", "message.local"]


async def test_the_notification_must_be_a_local_item(store: Store) -> None:
    message = await store.add_outbound(new_message(), actor="a")
    await store.claim_outbound("w", now=now(), lease=LEASE, limit=1)
    wrong = new_message(Direction.IN)
    with pytest.raises(ValueError, match="direction"):
        await store.finish_attempt(message.message_id, "w", Expired(wrong, "expired"))
    # nothing of the failed step was written; the worker still holds the lease
    assert (await stored(store, message.message_id)).state is State.QUEUED
    assert await store.attempts(message.message_id) == []
    assert await store.finish_attempt(message.message_id, "w", Delivered(b"r", b"s"))


async def test_reaching_the_expiry_makes_a_message_due_before_its_next_attempt(
    store: Store,
) -> None:
    at = now()
    expires = at + dt.timedelta(hours=1)
    message = await store.add_outbound(new_message(expires_at=expires), actor="a")
    await store.claim_outbound("w", now=at + SECOND, lease=LEASE, limit=1)
    tomorrow = at + dt.timedelta(days=1)
    await store.finish_attempt(message.message_id, "w", Retry(tomorrow, "down"))

    assert await store.claim_outbound("w", now=expires - SECOND, lease=LEASE, limit=1) == []
    (due,) = await store.claim_outbound("w", now=expires, lease=LEASE, limit=1)
    assert due.message_id == message.message_id


async def test_due_order_counts_the_expiry_when_it_comes_first(store: Store) -> None:
    at = now() + dt.timedelta(minutes=1)
    first = await store.add_outbound(new_message(), actor="a")
    expiring = await store.add_outbound(new_message(expires_at=at + 10 * SECOND), actor="a")
    await store.claim_outbound("w", now=at, lease=LEASE, limit=2)
    await store.finish_attempt(first.message_id, "w", Retry(at + 20 * SECOND, "down"))
    await store.finish_attempt(expiring.message_id, "w", Retry(at + dt.timedelta(hours=1), "down"))

    # due at +10 s by its expiry, before the other's next attempt at +20 s
    claimed = await store.claim_outbound("w", now=at + dt.timedelta(hours=2), lease=LEASE, limit=2)
    assert [r.message_id for r in claimed] == [expiring.message_id, first.message_id]


async def test_release_leases_gives_messages_back_at_once(store: Store) -> None:
    for _ in range(3):
        await store.add_outbound(new_message(), actor="a")
    at = now()
    await store.claim_outbound("w1", now=at, lease=LEASE, limit=2)
    await store.claim_outbound("w2", now=at, lease=LEASE, limit=2)

    assert await store.release_leases("w1") == 2
    assert len(await store.claim_outbound("w3", now=at, lease=LEASE, limit=9)) == 2
    assert await store.release_leases() == 3
    assert len(await store.claim_outbound("w4", now=at, lease=LEASE, limit=9)) == 3
    assert await store.release_leases("nobody") == 0


async def test_a_renewed_lease_keeps_an_attempt_from_other_claims(store: Store) -> None:
    ids = [(await store.add_outbound(new_message(), actor="a")).message_id for _ in range(3)]
    at = now()
    assert len(await store.claim_outbound("w1", now=at, lease=LEASE, limit=3)) == 3

    assert await store.renew_leases("w1", ids[:2], now=at + LEASE / 2, lease=LEASE) == 2
    taken = await store.claim_outbound("w2", now=at + LEASE, lease=LEASE, limit=9)
    assert [r.message_id for r in taken] == ids[2:]  # only the lease not renewed ran out
    assert await store.renew_leases("w1", ids, now=at + LEASE, lease=LEASE) == 2  # not w2's
    # Each message counts once, and a renewal read late never shortens a lease.
    assert await store.renew_leases("w1", [ids[0], ids[0]], now=at, lease=LEASE) == 1
    assert await store.claim_outbound("w3", now=at + LEASE * 3 / 2, lease=LEASE, limit=9) == []
    # Its attempt is recorded as the holder's: the renewal kept it the holder's.
    assert await store.finish_attempt(ids[0], "w1", Delivered(b"<receipt/>", b"sig"))
    assert await store.renew_leases("w1", ids[:1], now=at + LEASE, lease=LEASE) == 0
