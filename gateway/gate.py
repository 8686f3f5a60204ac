"""A first-come, first-served allowance that async tasks share: bytes of memory, or places.

The hand-off bounds the bytes its exports in flight hold with one; each peer's window of
letters in flight (:mod:`gateway.window`) is one whose total changes. Turns are first come,
first served (a large request is not overtaken for ever by small ones), and a request larger
than the whole total still goes, alone. Giving back never waits, so a cancelled task cannot
leak what it held.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator


class Gate:
    """``total`` units, held ``amount`` at a time; ``used`` is what is held now."""

    def __init__(self, total: int) -> None:
        self.total, self.used = total, 0
        self._waiting: collections.deque[tuple[int, asyncio.Future[None]]] = collections.deque()

    @contextlib.asynccontextmanager
    async def hold(self, amount: int) -> AsyncIterator[None]:
        await self.acquire(amount)
        try:
            yield
        finally:
            self.release(amount)

    async def acquire(self, amount: int) -> None:
        """Wait for the turn and the room to hold ``amount``; :meth:`release` gives it back."""
        if not self._waiting and self._fits(amount):
            self.used += amount
            return
        turn = (amount, asyncio.get_running_loop().create_future())
        self._waiting.append(turn)
        try:
            await turn[1]
        except asyncio.CancelledError:
            if turn[1].cancelled():
                if turn in self._waiting:  # else _grant passed over it already
                    self._waiting.remove(turn)
                self._grant()  # those behind it may fit now
            else:  # granted just as it was cancelled: give it back
                self.release(amount)
            raise

    def release(self, amount: int) -> None:
        self.used -= amount
        self._grant()

    def resize(self, total: int) -> None:
        """A new total; what is held stays held, and waiters that now fit go in."""
        self.total = total
        self._grant()

    def _fits(self, amount: int) -> bool:
        return self.used == 0 or self.used + amount <= self.total

    def _grant(self) -> None:
        while self._waiting and self._fits(self._waiting[0][0]):
            amount, future = self._waiting.popleft()
            if future.cancelled():  # its task has not run its handler yet
                continue
            self.used += amount
            future.set_result(None)
