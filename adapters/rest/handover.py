"""The hand-over between an HTTP request and the gateway: submitted items wait here.

A submission becomes a :class:`Ticket` on a queue that :meth:`Handover.take` (the adapter's
``intake()``) drains. The request handler waits for the gateway's settlement and answers with
it, so that a 202 always means "committed" (DESIGN §3 step 1). Two things must never happen:
a client told "try again" for an item the gateway is already working on (it would be
submitted twice), and a spooled file removed while the gateway still reads it. Hence:

- an item still in the queue after ``queue_timeout`` is withdrawn (the gateway will skip it)
  and the client gets 503; one the gateway has taken is waited for until it is settled;
- spooled files are removed when the gateway settles the item, or when it is withdrawn —
  not when the request ends (a client that hangs up does not pull files from under the
  gateway).
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from adapters.api import Incoming, Package, Settlement
from gateway.errors import GatewayError


class Unavailable(GatewayError):
    """The gateway cannot take the item now; send it again later with the same
    Idempotency-Key."""

    code = "rest.busy"
    http_status = 503


class Ticket:
    """One submitted item: its :class:`Incoming` and the settlement the client waits for."""

    def __init__(self, local_ref: str, package: Package, spool: Path | None) -> None:
        self.spool = spool
        self.taken = False
        self.withdrawn = False
        self.outcome: asyncio.Future[Settlement] = asyncio.get_running_loop().create_future()
        self.incoming = Incoming(local_ref, package, self._settle)

    async def wait(self, timeout: float) -> Settlement:
        """The gateway's settlement; :class:`Unavailable` if it did not take the item in time
        (the item is then withdrawn) or the adapter is closing."""
        try:
            return await asyncio.wait_for(asyncio.shield(self.outcome), timeout)
        except TimeoutError:
            if not self.taken:
                await self.withdraw()
                raise Unavailable(
                    f"the gateway did not take the item within {timeout:g} s; send it again "
                    "later with the same Idempotency-Key"
                ) from None
            return await asyncio.shield(self.outcome)  # taken: its settlement will come
        except asyncio.CancelledError:
            if not self.taken:
                await self.withdraw()
            raise

    async def withdraw(self) -> None:
        """The gateway will not see this item (it skips it in the queue)."""
        self.withdrawn = True
        if not self.outcome.done():
            self.outcome.cancel()
        await self._remove_spool()

    async def _settle(self, outcome: Settlement) -> None:
        if not self.outcome.done():
            self.outcome.set_result(outcome)
        await self._remove_spool()

    async def _remove_spool(self) -> None:
        if self.spool is not None:
            spool, self.spool = self.spool, None
            await asyncio.to_thread(shutil.rmtree, spool, ignore_errors=True)


class Handover:
    """Tickets between the HTTP handlers and the adapter's ``intake()``."""

    def __init__(self, max_pending: int) -> None:
        self.max_pending = max_pending
        self._queue: asyncio.Queue[Ticket] = asyncio.Queue()
        self._open: set[Ticket] = set()
        self._closed = False

    def submit(self, local_ref: str, package: Package, spool: Path | None) -> Ticket:
        """Queue an item for the gateway; :class:`Unavailable` when too many are waiting."""
        if self._closed:
            raise Unavailable("the gateway is stopping; send the item again later")
        if len(self._open) >= self.max_pending:
            raise Unavailable(
                f"{len(self._open)} items are waiting for the gateway already; send this one "
                "again in a few seconds"
            )
        ticket = Ticket(local_ref, package, spool)
        self._open.add(ticket)
        ticket.outcome.add_done_callback(lambda _: self._open.discard(ticket))
        self._queue.put_nowait(ticket)
        return ticket

    async def take(self) -> Incoming:
        """The next item for the gateway (items withdrawn meanwhile are skipped)."""
        while True:
            ticket = await self._queue.get()
            if ticket.withdrawn:
                continue
            ticket.taken = True
            return ticket.incoming

    async def close(self) -> None:
        """Answer every waiting client with 503 and release the spooled files; the items
        were not committed (or the gateway would have settled them)."""
        self._closed = True
        for ticket in list(self._open):
            if not ticket.outcome.done():
                ticket.outcome.set_exception(
                    Unavailable("the gateway is stopping; send the item again later")
                )
                ticket.outcome.exception()  # a client that hung up will never read it
            if not ticket.taken:  # a taken item's files may still be read; start() clears them
                await ticket.withdraw()
        self._open.clear()

    @property
    def waiting(self) -> int:
        return len(self._open)
