"""Leases of work in flight: a worker renews the leases of the messages it is working on.

A claim leases a message for a fixed time so that a crashed worker's messages come back. Work
may outlast that time without anything having crashed: a large file sent over a slow link, an
export to a share that stalls, a letter waiting its turn behind a slow peer. Without renewal the
message would be claimed again, by another worker or by this one's next claim, and sent or
exported a second time while the first attempt still runs, each copy slowing the other. The
lease check when the work is recorded kept that from doing harm, but not from wasting it.

So each worker renews, every third of its lease, the leases it holds. A worker that crashes
stops renewing, and its leases run out (or, in a cluster, come back through its missed
heartbeats) as before. A worker that is alive but whose attempt hangs (a peer that accepted
the connection and went silent, a share that never answers) stops renewing that message after
ten leases, with a warning naming it: the message is then taken up again as before renewal
existed, and the hung attempt, should it ever end, is fenced out by the lease check.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator

from gateway.store.api import Store

log = logging.getLogger(__name__)

HOLD_LIMIT = 10  # leases' time after which a message's work counts as hung


class Leases:
    """The messages ``owner`` is working on, whose leases :meth:`kept` renews for up to
    ``limit`` (default :data:`HOLD_LIMIT` leases) from when the work began."""

    def __init__(
        self,
        store: Store,
        owner: str,
        lease: dt.timedelta,
        clock: Callable[[], dt.datetime],
        *,
        limit: dt.timedelta | None = None,
    ) -> None:
        if lease <= dt.timedelta(0):
            raise ValueError(f"a lease must be longer than zero, not {lease}")
        self.store, self.owner, self.lease, self.clock = store, owner, lease, clock
        self.limit = (lease * HOLD_LIMIT if limit is None else limit).total_seconds()
        # Every hold's start (monotonic), by message: a message may be claimed again while an
        # attempt still holds it (its renewal failed), and the first to end must not drop the
        # other's renewal.
        self._held: dict[str, list[float]] = {}
        self._hung: set[str] = set()  # warned about once

    @contextlib.contextmanager
    def holding(self, message_id: str) -> Iterator[None]:
        """Keep renewing the lease on ``message_id`` while the block runs (up to the limit)."""
        starts = self._held.setdefault(message_id, [])
        started = time.monotonic()
        starts.append(started)
        try:
            yield
        finally:
            starts.remove(started)
            if not starts:
                del self._held[message_id]
                self._hung.discard(message_id)

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
        """Renew the leases held now and not yet past the limit; how many the store extended."""
        oldest = time.monotonic() - self.limit
        due = [message_id for message_id, starts in self._held.items() if max(starts) > oldest]
        for message_id in self._held.keys() - due - self._hung:
            self._hung.add(message_id)
            log.warning(
                "the work on %s has run for over %g s; its lease is no longer renewed, so "
                "the message will be taken up again", message_id, self.limit,
                extra={"message_id": message_id},
            )  # fmt: skip
        if not due:
            return 0
        return await self.store.renew_leases(self.owner, due, now=self.clock(), lease=self.lease)

    async def _keep(self) -> None:
        period = self.lease.total_seconds() / 3
        while True:
            await asyncio.sleep(period)
            try:
                # A renewal that waits longer than a period is late anyway; the next one
                # starts afresh.
                async with asyncio.timeout(period):
                    await self.renew()
            except Exception as exc:
                # The work goes on; should the store stay away past the lease, another claim
                # may start it again, and the lease check when it is recorded settles which.
                log.warning("renewing the leases of %s failed: %s", self.owner, exc or repr(exc))
