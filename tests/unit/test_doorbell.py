"""The workers' doorbell: a ring while a worker looks for work is never lost."""

from __future__ import annotations

import asyncio
import time

from gateway.doorbell import Doorbell


async def test_a_ring_while_looking_wakes_the_next_wait_at_once() -> None:
    bell, stop = Doorbell(), asyncio.Event()
    bell.reset()  # the worker starts looking for work …
    bell.ring()  # … and work arrives meanwhile
    started = time.monotonic()
    await bell.wait(stop, timeout=5)
    assert time.monotonic() - started < 0.5


async def test_without_a_ring_it_waits_for_the_timeout_or_the_stop() -> None:
    bell, stop = Doorbell(), asyncio.Event()
    started = time.monotonic()
    await bell.wait(stop, timeout=0.2)
    assert time.monotonic() - started >= 0.19
    asyncio.get_running_loop().call_later(0.05, stop.set)
    started = time.monotonic()
    await bell.wait(stop, timeout=5)
    assert time.monotonic() - started < 0.5
