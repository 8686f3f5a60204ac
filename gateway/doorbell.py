"""A polling worker's doorbell: work that arrives wakes the worker instead of waiting for a poll.

``reset()`` before looking for work, ``wait()`` after finding none: a ``ring()`` that comes
while the worker is looking is kept, never lost, so new work is picked up at once.
"""

from __future__ import annotations

import asyncio


class Doorbell:
    def __init__(self) -> None:
        self._event = asyncio.Event()

    def ring(self) -> None:
        self._event.set()

    def reset(self) -> None:
        self._event.clear()

    async def wait(self, stop: asyncio.Event, timeout: float) -> None:
        """Until rung, until ``stop`` is set, or ``timeout`` seconds."""
        waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._event.wait())]
        try:
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
