"""The delivery worker: queued messages go to their peers until a signed receipt comes back.

It leases due outbound messages, sends each (at most ``per_peer_concurrency`` at a time to one
peer, fewer while the peer says it is busy: :mod:`gateway.window`), and records every attempt
with its outcome in one store transaction: a verified receipt makes it DELIVERED; a signed
refusal makes it REJECTED; anything else is retried — first in-process for blips, then with a
stored backoff (:mod:`gateway.retry`). A message whose ``expires_at`` passes becomes EXPIRED.
REJECTED and EXPIRED each leave a failure notification for our own local system in the same
transaction, so a sender always learns what happened.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import hashlib
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable

from gateway import envelope
from gateway.config import Participant, RetryPolicy
from gateway.doorbell import Doorbell
from gateway.errors import GatewayError
from gateway.leases import Leases
from gateway.model import Message, Notification, NotificationKind
from gateway.retry import next_attempt_at, with_blip_retries
from gateway.routing import Router
from gateway.store.api import (
    EXPIRED_CODE,
    Delivered,
    Direction,
    Expired,
    MessageRecord,
    NewMessage,
    Outcome,
    PeerRoom,
    Rejected,
    Retry,
    Store,
)
from gateway.transport import client
from gateway.window import PeerWindow

log = logging.getLogger(__name__)
_BUSY = (429, 503)  # the peer's "too many requests now": fewer letters in flight to it
_CODE = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*")  # the error document's Code type

Send = Callable[[MessageRecord, Participant], Awaitable[client.Result]]
# Told of every recorded attempt: the message, its outcome, when the attempt started
# (time.monotonic()) and when it ended; metrics and peer health listen here.
Observer = Callable[[MessageRecord, Outcome, float, dt.datetime], None]


class DeliveryWorker:
    def __init__(
        self,
        store: Store,
        send: Send,
        router: Router,
        participant: str,
        policy: RetryPolicy,
        *,
        owner: str,
        lease: dt.timedelta = dt.timedelta(seconds=120),
        capacity: int = 256,
        idle: float = 0.5,
        on_local: Callable[[], None] = lambda: None,
        observe: Observer | None = None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.store, self.send, self.router = store, send, router
        self.participant, self.policy, self.owner = participant, policy, owner
        self.lease, self.capacity, self.idle = lease, capacity, idle
        self.on_local, self.clock, self.observe = on_local, clock, observe
        self.leases = Leases(store, owner, lease, clock)
        self._bell = Doorbell()
        self._inflight: dict[asyncio.Task[None], str] = {}  # each attempt's peer
        self._windows: dict[str, PeerWindow] = {}

    def wake(self) -> None:
        """Something was queued: look for due messages now instead of at the next poll."""
        self._bell.ring()

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set, then let the attempts in flight finish. The leases
        of the messages in flight are renewed until their attempts end (:mod:`gateway.leases`)."""
        async with self.leases.kept():
            try:
                while not stop.is_set():
                    self._bell.reset()  # before looking: a ring while we look is kept
                    claimed = 0
                    room = self.capacity - len(self._inflight)
                    if room > 0:
                        try:
                            claimed = await self.claim(room)
                        except Exception:
                            log.exception("claiming due messages failed; trying again shortly")
                    if claimed == 0 or len(self._inflight) >= self.capacity:
                        await self._bell.wait(stop, self.idle)
            finally:
                if self._inflight:
                    await asyncio.wait(set(self._inflight))

    async def claim(self, limit: int) -> int:
        """Lease up to ``limit`` due messages and start their attempts; how many it leased.
        Their leases are renewed while :meth:`run` runs (a caller of this alone renews none).

        At most two windows' worth per peer are claimed at once (:meth:`rooms`), so a peer's
        long backlog, or a peer slow to answer, cannot fill the worker while letters to other
        peers wait behind it; a claimed letter waits about one round of its peer's answers for
        its place, not several.
        """
        records = await self.store.claim_outbound(
            self.owner, now=self.clock(), lease=self.lease, limit=limit, per_peer=self.rooms()
        )
        for record in records:
            task = asyncio.create_task(self.deliver(record), name=f"deliver {record.message_id}")
            self._inflight[task] = record.peer
            task.add_done_callback(self._done)
        return len(records)

    def rooms(self) -> PeerRoom:
        """How many more letters may be claimed for each peer: two of its windows, one in
        flight and one ready to follow (so a finished letter's place is taken at once, not
        after a claim), less those already claimed for it."""
        ready = 2
        rooms = {peer: ready * window.size for peer, window in self._windows.items()}
        for peer, held in collections.Counter(self._inflight.values()).items():
            rooms[peer] = rooms.get(peer, ready * self.policy.per_peer_concurrency) - held
        return PeerRoom(ready * self.policy.per_peer_concurrency, rooms)

    def _done(self, task: asyncio.Task[None]) -> None:
        del self._inflight[task]
        self._bell.ring()  # room for more
        if not task.cancelled() and task.exception() is not None:
            log.error("delivery task failed: %s", task.exception())

    async def deliver(self, record: MessageRecord) -> None:
        """One attempt (with its in-process blip retries) and its recorded outcome."""
        with self.leases.holding(record.message_id):
            await self._deliver(record)

    async def _deliver(self, record: MessageRecord) -> None:
        started = time.monotonic()
        outcome = await self._attempt(record)
        extra = {"message_id": record.message_id}
        if not await self.store.finish_attempt(record.message_id, self.owner, outcome):
            log.warning("lost the lease of %s; another worker owns it now", record.message_id,
                        extra=extra)  # fmt: skip
            return
        if isinstance(outcome, Rejected | Expired):
            self.on_local()
        if self.observe is not None:
            try:
                self.observe(record, outcome, started, self.clock())
            except Exception:  # figures must never cost a delivery
                log.exception("recording metrics for %s failed", record.message_id, extra=extra)
        log.info("message %s: %s", record.message_id, _describe(outcome), extra=extra)

    async def _attempt(self, record: MessageRecord) -> Outcome:
        now = self.clock()
        if record.expires_at is not None and record.expires_at <= now:
            why = f"not delivered before it expired at {record.expires_at:%Y-%m-%d %H:%M} UTC"
            if record.error_message:
                why += f"; last error: {record.error_message}"
            return Expired(self._failure(record, EXPIRED_CODE, why), error=why)
        try:
            peer = self.router.participant(record.peer)
        except GatewayError as exc:
            return Rejected(exc.code, exc.message, self._failure(record, exc.code, exc.message))
        window = self.window(peer.id)
        async with window as round_:
            try:
                result = await with_blip_retries(
                    lambda: self.send(record, peer), lambda r: client.is_blip(r)
                )
            except Exception as exc:  # a bug must cost a retry, not the message
                log.exception("sending %s to %s failed unexpectedly", record.message_id, peer.id)
                result = client.Unavailable(f"internal error: {type(exc).__name__}: {exc}")
        if isinstance(result, client.Unavailable) and result.http_status in _BUSY:
            window.busy(round_)
        if isinstance(result, client.Accepted):
            window.accepted()
            return Delivered(result.receipt, result.receipt_signature)
        if isinstance(result, client.Refused):
            failure = self._failure(record, result.code, result.message)
            return Rejected(
                result.code, result.message, failure, result.http_status, result.error_document
            )
        when = next_attempt_at(
            self.policy,
            now=self.clock(),
            attempts=record.attempts + 1,
            retry_after=result.retry_after,
        )
        return Retry(when, result.reason, result.http_status)

    def window(self, peer: str) -> PeerWindow:
        """The window of letters in flight to ``peer``."""
        window = self._windows.get(peer)
        if window is None:
            window = self._windows[peer] = PeerWindow(peer, self.policy.per_peer_concurrency)
        return window

    def _failure(self, record: MessageRecord, code: str, text: str) -> NewMessage:
        """The failure notification our local system gets for a message that will not arrive."""
        now = self.clock()
        note = Notification(
            kind=NotificationKind.FAILED,
            document_uid=record.document_uid or record.message_id,
            message_id=record.message_id,
            time=now,
            error_code=code if _is_code(code) else "delivery.failed",
            comment=f"to {record.peer}: {text}",
        )
        message = Message(
            message_id=str(uuid.uuid4()),
            created=now,
            sender=self.participant,
            recipient=self.participant,
            payload=note,
            correlation_id=record.correlation_id,
            in_reply_to=record.message_id,
        )
        data = envelope.encode(message)
        return NewMessage(
            message_id=message.message_id,
            direction=Direction.LOCAL,
            peer=self.participant,
            type=message.type,
            created_at=now,
            envelope=data,
            signature=b"",
            envelope_sha256=hashlib.sha256(data).hexdigest(),
            correlation_id=record.correlation_id,
            document_uid=record.document_uid,
        )


def _is_code(code: str) -> bool:
    return _CODE.fullmatch(code) is not None


def _describe(outcome: Outcome) -> str:
    if isinstance(outcome, Delivered):
        return "delivered"
    if isinstance(outcome, Retry):
        return f"retry at {outcome.next_attempt_at:%H:%M:%S} ({outcome.error})"
    if isinstance(outcome, Rejected):
        return f"rejected [{outcome.code}] {outcome.message}"
    return f"expired ({outcome.error})"
