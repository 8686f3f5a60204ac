"""How many letters may be in flight to one peer at a time: a window that adapts to the peer.

The window starts at ``retry.per_peer_concurrency``. When the peer answers that it is busy
(503 or 429: more requests than its ``limits.max_concurrent``), the window halves, once per
round of letters sent before that answer; every ``size`` letters the peer accepts grow it by
one, back up to the configured ceiling (additive increase, multiplicative decrease, as TCP
does). A sender configured for 64 in flight therefore settles near what a smaller receiver
admits, instead of having most of its letters turned away and retried later.
"""

from __future__ import annotations

import logging
from types import TracebackType

from gateway.gate import Gate

log = logging.getLogger(__name__)


class PeerWindow:
    """At most ``size`` holders at once; ``async with window as round_:`` takes a place."""

    def __init__(self, peer: str, ceiling: int) -> None:
        if ceiling < 1:
            raise ValueError("a peer's window needs room for at least one letter")
        self.peer = peer
        self.ceiling = ceiling
        self._places = Gate(ceiling)
        self._round = 0  # advances at each decrease; a busy answer counts once per round
        self._credit = 0

    @property
    def size(self) -> int:
        return self._places.total

    @property
    def in_flight(self) -> int:
        return self._places.used

    async def __aenter__(self) -> int:
        await self._places.acquire(1)
        return self._round

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._places.release(1)

    def busy(self, round_: int) -> None:
        """The peer turned away a letter sent in ``round_``: halve the window, once a round."""
        if round_ != self._round or self.size == 1:
            return
        self._round += 1
        self._credit = 0
        self._places.resize(max(1, self.size // 2))
        log.info("peer %s is busy: at most %d letters in flight to it now", self.peer, self.size)

    def accepted(self) -> None:
        """The peer took a letter: one step towards a place more, up to the ceiling."""
        if self.size >= self.ceiling:
            return
        self._credit += 1
        if self._credit >= self.size:
            self._credit = 0
            self._places.resize(self.size + 1)
