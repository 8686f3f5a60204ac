"""What the gateway tells Prometheus and the console about itself.

Counters and histograms that only the process knows (delivery attempts and failures per peer,
attempt and end-to-end latencies) live in a registry of this gateway's own, so two gateways in
one process (tests) never mix figures. Figures the store knows (messages by state, queue depth)
are read from it at scrape time by :class:`StoreCollector`, so they are right across restarts
and across the nodes of a cluster. :class:`Activity` keeps a short in-memory history of queue
depth and throughput for the console's charts; :class:`PeerHealth` remembers each peer's last
success and failure for the "peer unreachable" alert.
Nothing here names a secret or a message's content.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from gateway.store.api import (
    Delivered,
    Direction,
    Expired,
    MessageRecord,
    Outcome,
    Rejected,
    State,
    Store,
)

log = logging.getLogger(__name__)

UNREACHABLE_AFTER = 3  # consecutive failed attempts before a peer counts as unreachable
_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600)


@dataclass
class PeerStatus:
    last_success: dt.datetime | None = None
    last_failure: dt.datetime | None = None
    last_error: str | None = None
    failures_in_a_row: int = 0

    @property
    def unreachable(self) -> bool:
        return self.failures_in_a_row >= UNREACHABLE_AFTER


class PeerHealth:
    """The outcome of the latest delivery attempts per peer (this node's view)."""

    def __init__(self) -> None:
        self.peers: dict[str, PeerStatus] = {}

    def record(self, peer: str, outcome: Outcome, at: dt.datetime) -> None:
        status = self.peers.setdefault(peer, PeerStatus())
        if isinstance(outcome, Delivered | Rejected):  # a signed answer: the peer is there
            status.last_success, status.failures_in_a_row = at, 0
        elif not isinstance(outcome, Expired):
            status.last_failure, status.last_error = at, outcome.error
            status.failures_in_a_row += 1


@dataclass(frozen=True)
class Sample:
    at: dt.datetime
    queued: int  # outbound messages waiting for delivery
    waiting_handoff: int  # inbound messages not yet handed off
    delivered: int  # all outbound delivered so far (the chart shows the differences)
    received: int  # all inbound accepted so far
    dead: int  # rejected + expired outbound


class Activity:
    """Queue depth and throughput over the last hour, sampled from the store."""

    def __init__(self, store: Store, *, every: float = 5.0, keep: int = 720) -> None:
        self.store, self.every = store, every
        self.samples: collections.deque[Sample] = collections.deque(maxlen=keep)

    async def sample(self) -> Sample:
        counts = await self.store.count_by_state()
        taken = Sample(
            at=dt.datetime.now(dt.UTC),
            queued=counts.get((Direction.OUT, State.QUEUED), 0),
            waiting_handoff=counts.get((Direction.IN, State.ACCEPTED), 0)
            + counts.get((Direction.LOCAL, State.ACCEPTED), 0),
            delivered=counts.get((Direction.OUT, State.DELIVERED), 0),
            received=sum(n for (d, _), n in counts.items() if d is Direction.IN),
            dead=counts.get((Direction.OUT, State.REJECTED), 0)
            + counts.get((Direction.OUT, State.EXPIRED), 0),
        )
        self.samples.append(taken)
        return taken

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.sample()
            except Exception as exc:  # a store blip must not end the sampling
                log.warning("sampling queue depth failed: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.every)

    def series(self) -> list[dict[str, object]]:
        """Samples with throughput per minute since the previous sample."""
        out: list[dict[str, object]] = []
        previous: Sample | None = None
        for s in self.samples:
            rate_out = rate_in = 0.0
            if previous is not None:
                minutes = max((s.at - previous.at).total_seconds(), 1e-3) / 60
                rate_out = max(s.delivered - previous.delivered, 0) / minutes
                rate_in = max(s.received - previous.received, 0) / minutes
            out.append({
                "at": s.at.isoformat(),
                "queued": s.queued,
                "waiting_handoff": s.waiting_handoff,
                "dead": s.dead,
                "delivered_per_minute": round(rate_out, 1),
                "received_per_minute": round(rate_in, 1),
            })  # fmt: skip
            previous = s
        return out


class StoreCollector(Collector):
    """Messages by direction and state, and queue depths, read from the store per scrape."""

    def __init__(self, counts: Callable[[], dict[tuple[Direction, State], int]]) -> None:
        self._counts = counts

    def collect(self) -> Iterator[Metric]:
        counts = self._counts()
        by_state = GaugeMetricFamily(
            "gateway_messages", "Messages in the store by direction and state",
            labels=["direction", "state"],
        )  # fmt: skip
        for (direction, state), n in sorted(counts.items()):
            by_state.add_metric([direction.value, state.value], n)
        yield by_state
        depth = GaugeMetricFamily(
            "gateway_queue_depth", "Messages waiting: delivery (outbound) or hand-off (inbound)",
            labels=["queue"],
        )  # fmt: skip
        depth.add_metric(["delivery"], counts.get((Direction.OUT, State.QUEUED), 0))
        depth.add_metric(
            ["handoff"],
            counts.get((Direction.IN, State.ACCEPTED), 0)
            + counts.get((Direction.LOCAL, State.ACCEPTED), 0),
        )
        yield depth


class Metrics:
    """This gateway's registry and the instruments the workers feed."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.peers = PeerHealth()
        self._counts: dict[tuple[Direction, State], int] = {}
        self.attempts = Counter(
            "gateway_delivery_attempts", "Delivery attempts by peer and outcome",
            ["peer", "outcome"], registry=self.registry,
        )  # fmt: skip
        self.failures = Counter(
            "gateway_delivery_failures", "Failed delivery attempts (retried, rejected, expired)",
            ["peer"], registry=self.registry,
        )  # fmt: skip
        self.attempt_seconds = Histogram(
            "gateway_delivery_attempt_seconds", "Duration of one delivery attempt",
            ["peer"], buckets=_LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.delivery_seconds = Histogram(
            "gateway_delivery_latency_seconds",
            "From sealing (envelope created) to the peer's receipt",
            ["peer"], buckets=_LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.registry.register(StoreCollector(lambda: self._counts))

    async def refresh(self, store: Store) -> None:
        """Read the store's counts (before a scrape; collectors cannot await)."""
        self._counts = await store.count_by_state()

    def delivery_outcome(
        self, record: MessageRecord, outcome: Outcome, started: float, at: dt.datetime
    ) -> None:
        """One attempt finished (DeliveryWorker's observer)."""
        peer = record.peer
        kind = type(outcome).__name__.lower()
        self.attempts.labels(peer, kind).inc()
        self.attempt_seconds.labels(peer).observe(time.monotonic() - started)
        if isinstance(outcome, Delivered):
            self.delivery_seconds.labels(peer).observe(
                max((at - record.created_at).total_seconds(), 0.0)
            )
        else:
            self.failures.labels(peer).inc()
        self.peers.record(peer, outcome, at)
