"""Waiting for work that must not be cut off half-way: an open file, a write in a thread.

Cancelling an ``await`` on thread work does not stop the thread; a cleanup that runs at once
could close a file the thread still uses (whose descriptor number may already name another
file), or lose a file it just opened. :func:`settled` lets the work finish first, then passes
the cancellation on, when the caller can still clean up.
"""

from __future__ import annotations

import asyncio
from typing import TypeVar

T = TypeVar("T")


async def settled(future: asyncio.Future[T]) -> T:
    """The result of ``future``; if we are cancelled meanwhile, only after it has finished."""
    cancelled: asyncio.CancelledError | None = None
    while not future.done():
        try:
            await asyncio.wait({future})  # unlike awaiting it, this never cancels the work
        except asyncio.CancelledError as exc:
            cancelled = exc
    if cancelled is not None:
        if not future.cancelled():
            future.exception()  # the cancellation wins; the work's own error is secondary
        raise cancelled
    return future.result()
