"""gateway/window.py: the window of letters in flight to one peer, alone and in the worker."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import os
import uuid
from pathlib import Path

import pytest

from gateway.config import Participant, RetryPolicy
from gateway.delivery import DeliveryWorker
from gateway.model import MessageType
from gateway.routing import Router
from gateway.store.api import Direction, MessageRecord, NewMessage
from gateway.store.sqlite import SqliteStore
from gateway.transport import client
from gateway.window import PeerWindow
from tests.unit.store.messages import all_delivered


async def test_never_more_in_flight_than_the_window() -> None:
    window, most = PeerWindow("ru-14", 4), 0

    async def letter() -> None:
        nonlocal most
        async with window:
            most = max(most, window.in_flight)
            await asyncio.sleep(0.001)

    await asyncio.gather(*(letter() for _ in range(20)))
    assert most == 4 and window.in_flight == 0


async def test_a_busy_peer_halves_the_window_once_per_round() -> None:
    window = PeerWindow("ru-14", 64)
    rounds = [await window.__aenter__() for _ in range(10)]
    for round_ in rounds:  # ten letters of one round turned away: one halving, not ten
        window.busy(round_)
    assert window.size == 32
    later = await window.__aenter__()  # sent after the decrease: a new round
    window.busy(later)
    assert window.size == 16
    window.busy(rounds[0])  # a late answer to the first round changes nothing more
    assert window.size == 16


async def test_accepted_letters_grow_the_window_back_to_the_ceiling() -> None:
    window = PeerWindow("ru-14", 10)
    window.busy(await window.__aenter__())
    assert window.size == 5
    for _ in range(4):
        window.accepted()
    assert window.size == 5  # one more place per window's worth of accepted letters
    window.accepted()
    assert window.size == 6
    for _ in range(100):
        window.accepted()
    assert window.size == 10  # never beyond what the configuration allows


async def test_a_waiter_cancelled_after_being_woken_passes_its_place_on() -> None:
    window = PeerWindow("ru-14", 1)
    entered: list[str] = []

    async def letter(name: str) -> None:
        async with window:
            entered.append(name)
            await asyncio.sleep(0)

    await window.__aenter__()
    second = asyncio.create_task(letter("second"))
    third = asyncio.create_task(letter("third"))
    await asyncio.sleep(0)  # both wait
    await window.__aexit__(None, None, None)  # wakes the second...
    second.cancel()  # ...which is cancelled before it runs
    await asyncio.wait_for(third, 1)
    assert entered == ["third"] and window.in_flight == 0
    with pytest.raises(asyncio.CancelledError):
        await second


async def test_the_worker_settles_near_what_a_smaller_receiver_admits(tmp_path: Path) -> None:
    """A receiver that takes 4 requests at once and answers 503 beyond, against a sender
    configured for 64 in flight: the window shrinks, and most letters are not turned away."""
    admits, busy, active = 4, 0, 0
    policy = RetryPolicy(initial_delay=0.01, max_delay=0.01, jitter=0.0, per_peer_concurrency=64)

    async def send(record: MessageRecord, peer: Participant) -> client.Result:
        nonlocal busy, active
        if active >= admits:
            busy += 1
            return client.Unavailable("busy", http_status=503, retry_after=0.01)
        active += 1
        try:
            await asyncio.sleep(0.002)
            return client.Accepted(b"<receipt/>", b"signature")
        finally:
            active -= 1

    peer = Participant("ru-14", "Tatarstan", "http://127.0.0.1:1/gw/v1/messages", ())
    async with await SqliteStore.open(tmp_path / "a", synchronous="OFF") as store:
        ids = [(await store.add_outbound(_letter(n), actor="test")).message_id for n in range(300)]
        worker = DeliveryWorker(store, send, Router([peer]), "ru-61", policy, owner="a", idle=0.01)
        stop = asyncio.Event()
        running = asyncio.create_task(worker.run(stop))
        async with asyncio.timeout(60):
            while not await all_delivered(store, ids):
                await asyncio.sleep(0.05)
        stop.set()
        await running
    # With a fixed 64 in flight, 60 of every 64 sends would be turned away (thousands here).
    assert busy < len(ids) // 2, busy
    assert worker.window("ru-14").size < 64


def _letter(n: int) -> NewMessage:
    envelope = os.urandom(64)
    return NewMessage(
        message_id=str(uuid.uuid4()),
        direction=Direction.OUT,
        peer="ru-14",
        type=MessageType.DOCUMENT,
        created_at=dt.datetime.now(dt.UTC),
        envelope=envelope,
        signature=b"signature",
        envelope_sha256=hashlib.sha256(envelope).hexdigest(),
        local_ref=f"letter-{n}",
    )
