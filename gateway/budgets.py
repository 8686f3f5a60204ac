"""What receiving costs, counted: the bytes of one request, and the small files that all
requests in progress hold in memory together (DESIGN §11: size limits on every request).

The receiver takes these as it reads; nothing here does I/O or knows about HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from gateway.store.api import WHOLE_BUDGET
from gateway.transport.wire import WireError


class RequestBudget:
    """The request's byte count against its limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def take(self, count: int) -> None:
        self.used += count
        if self.used > self.limit:
            raise request_too_large(self.limit)

    def expect(self, count: int) -> None:
        if self.used + count > self.limit:
            raise request_too_large(self.limit)


class HeldFiles:
    """Bytes of small files held in memory by all the requests in progress, against a bound."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    @contextmanager
    def lease(self) -> Iterator[HeldShare]:
        """One request's share, given back when the request is done, however it ends."""
        lease = HeldShare(self)
        try:
            yield lease
        finally:
            self.used -= lease.size


class HeldShare:
    """What one request holds: at most :data:`WHOLE_BUDGET`, and only while the pool has room."""

    def __init__(self, pool: HeldFiles) -> None:
        self.pool = pool
        self.size = 0

    def take(self, count: int) -> bool:
        """Reserve ``count`` bytes; False (nothing reserved) when they do not fit."""
        if self.size + count > WHOLE_BUDGET or self.pool.used + count > self.pool.limit:
            return False
        self.size += count
        self.pool.used += count
        return True


def request_too_large(limit: int) -> WireError:
    return WireError(
        f"the request is over the limit of {limit:,} bytes",
        code="request.too_large",
        http_status=413,
    )
