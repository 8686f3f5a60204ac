"""Leases of work in flight: a worker renews the leases of the messages it is working on.

A claim leases a message for a fixed time so that a crashed worker's messages come back. Work
may outlast that time without anything having crashed: a large file sent over a slow link, an
export to a share that stalls, a letter waiting its turn behind a slow peer. Without renewal the
message would be claimed again, by another worker or by this one's next claim, and sent or
exported a second time while the first attempt still runs, each copy slowing the other. The
lease check when the work is recorded kept that from doing harm, but not from wasting it.

So each worker renews, every third of its lease, the leases it holds. A worker that crashes
stops renewing, and its leases run out (or, in a cluster, come back through its missed
heartbeats) as before.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable, Iterator

from gateway.store.api import Store

log = logging.getLogger(__name__)


class Leases:
    """The messages ``owner`` is working on, whose leases :meth:`kept` renews."""

    def __init__(
        self,
        store: Store,
        owner: str,
        lease: dt.timedelta,
        clock: Callable[[], dt.datetime],
    ) -> None:
        self.store, self.owner, self.lease, self.clock = store, owner, lease, clock
        # A count, not a set: a message may be claimed again while an attempt still holds it
        # (its renewal failed), and the first to finish must not drop the other's renewal.
        self._held: collections.Counter[str] = collections.Counter()

    @contextlib.contextmanager
    def holding(self, message_id: str) -> Iterator[None]:
        """Keep renewing the lease on ``message_id`` while the block runs."""
        self._held[message_id] += 1
        try:
            yield
        finally:
            self._held[message_id] -= 1
            if not self._held[message_id]:
                del self._held[message_id]

    @contextlib.asynccontextmanager
    async def kept(self) -> AsyncIterator[None]:
        """Renew the leases held, every third of the lease, while the block runs."""
        task = asyncio.create_task(self._keep(), name=f"leases of {self.owner}")
        try:
            yield
        finally:
            task.cancel()
            await asyncio.wait([task])  # not `await task`: its cancellation is not ours

    async def renew(self) -> int:
        """Renew every lease held now; how many the store extended."""
        if not self._held:
            return 0
        return await self.store.renew_leases(
            self.owner, list(self._held), now=self.clock(), lease=self.lease
        )

    async def _keep(self) -> None:
        period = self.lease.total_seconds() / 3
        while True:
            await asyncio.sleep(period)
            try:
                await self.renew()
            except Exception as exc:
                # The work goes on; should the store stay away past the lease, another claim
                # may start it again, and the lease check when it is recorded settles which.
                log.warning("renewing the leases of %d messages failed: %s", len(self._held), exc)
