"""gateway/delivery.py: how the worker shares its places among peers (sending itself is
covered end to end in tests/integration)."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest

from gateway.config import Participant, RetryPolicy
from gateway.delivery import DeliveryWorker
from gateway.routing import Router
from gateway.store.api import MessageRecord
from gateway.store.sqlite import SqliteStore
from gateway.transport import client
from tests.unit.store.messages import all_delivered, new_message

FAST = "ru-16"


@pytest.mark.parametrize(
    ("slow_peers", "capacity"),
    [
        (1, 256),  # one peer's backlog longer than the worker's places
        (3, 40),  # their two windows each (48) more than the worker's places
    ],
)
async def test_a_slow_peers_backlog_does_not_hold_up_letters_to_other_peers(
    tmp_path: Path, slow_peers: int, capacity: int
) -> None:
    """Letters to peers that do not answer yet, queued before 3 letters to another peer: the
    worker claims no more for a peer than two windows' worth (one in flight, one ready), and
    shares its places among peers, so the letters to the other peer go at once."""
    answer = asyncio.Event()
    slow_names = [f"ru-{n:02d}" for n in range(1, slow_peers + 1)]
    sent = dict.fromkeys([*slow_names, FAST], 0)

    async def send(record: MessageRecord, peer: Participant) -> client.Result:
        sent[peer.id] += 1
        if peer.id != FAST:
            await answer.wait()
        return client.Accepted(b"<receipt/>", b"signature")

    peers = [
        Participant(name, name, f"http://127.0.0.1:1/{name}/gw/v1/messages", ()) for name in sent
    ]
    policy = RetryPolicy(per_peer_concurrency=8)
    async with await SqliteStore.open(tmp_path / "a", synchronous="OFF") as store:
        slow = [(await store.add_outbound(new_message(peer=name), actor="t")).message_id
                for name in slow_names for _ in range(300 // slow_peers)]  # fmt: skip
        fast = [(await store.add_outbound(new_message(peer=FAST), actor="t")).message_id
                for _ in range(3)]  # fmt: skip
        worker = DeliveryWorker(
            store, send, Router(peers), "ru-61", policy, owner="a", capacity=capacity, idle=0.01
        )
        stop = asyncio.Event()
        running = asyncio.create_task(worker.run(stop))
        try:
            async with asyncio.timeout(10):  # delivered, and their places given back
                while not await all_delivered(store, fast) or worker.rooms().of(FAST) < 16:
                    await asyncio.sleep(0.01)
            # each slow peer has its window's worth in flight
            for name in slow_names:
                assert sent[name] == 8 and worker.window(name).in_flight == 8
            if slow_peers == 1:  # and one more claimed behind it
                assert worker.rooms().of(slow_names[0]) == 0

            answer.set()
            async with asyncio.timeout(30):
                while not await all_delivered(store, slow):
                    await asyncio.sleep(0.02)
            assert sent == {**dict.fromkeys(slow_names, 300 // slow_peers), FAST: 3}  # once each
        finally:
            stop.set()
            answer.set()
            await running
        assert all(worker.rooms().of(name) == 16 for name in sent)  # every place given back


async def test_an_attempt_that_outlasts_its_lease_keeps_it_and_is_sent_once(
    tmp_path: Path,
) -> None:
    """A send that takes over three leases' time (a large file on a slow link): its worker
    renews the lease while the send runs, also while the worker stops (SIGTERM lets attempts
    finish), so another worker does not send the letter a second time alongside it."""
    sent: list[str] = []
    started = asyncio.Event()

    async def send(record: MessageRecord, peer: Participant) -> client.Result:
        sent.append(record.message_id)
        started.set()
        await asyncio.sleep(2.0)
        return client.Accepted(b"<receipt/>", b"signature")

    router = Router([Participant(FAST, FAST, "http://127.0.0.1:1/gw/v1/messages", ())])
    lease = dt.timedelta(seconds=0.6)
    async with await SqliteStore.open(tmp_path / "a", synchronous="OFF") as store:
        message_id = (await store.add_outbound(new_message(peer=FAST), actor="t")).message_id
        first, second = [
            DeliveryWorker(
                store, send, router, "ru-61", RetryPolicy(), owner=f"node-{n}", lease=lease,
                idle=0.02,
            )
            for n in (1, 2)
        ]  # fmt: skip
        stop_first, stop_second = asyncio.Event(), asyncio.Event()
        running = [asyncio.create_task(first.run(stop_first))]
        try:
            await asyncio.wait_for(started.wait(), 10)
            running.append(asyncio.create_task(second.run(stop_second)))
            stop_first.set()  # the first drains: its attempt, and its renewals, go on
            async with asyncio.timeout(10):
                while not await all_delivered(store, [message_id]):
                    await asyncio.sleep(0.02)
        finally:
            stop_first.set()
            stop_second.set()
            await asyncio.gather(*running)  # every attempt started has finished
    assert sent == [message_id]
