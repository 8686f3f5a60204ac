"""Retry policy, in one place: quick in-process retries for blips, stored backoff for outages.

Two layers (DESIGN §3 step 4). A connection reset or refused connection is often gone in a
moment, so a delivery is retried in-process a few times within about a second (tenacity). When
that does not help, the message goes back to the queue with ``next_attempt_at`` set by an
exponential backoff with jitter, so a long outage costs nothing but a row, survives restarts,
and a peer that comes back is not stampeded by every gateway at once. A peer's ``Retry-After``
is honoured: the next attempt is never earlier than it asks.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

import tenacity

from gateway.config import RetryPolicy

T = TypeVar("T")

#: In-process attempts for a transient failure before the message goes back to the queue.
BLIP_ATTEMPTS = 3


def backoff(policy: RetryPolicy, attempts: int, rng: random.Random | None = None) -> float:
    """Seconds before the next attempt after ``attempts`` failed ones (1 → initial_delay)."""
    exponent = max(attempts - 1, 0)
    delay = min(policy.initial_delay * policy.multiplier**exponent, policy.max_delay)
    spread = delay * policy.jitter
    return max(0.0, delay + (rng or random).uniform(-spread, spread))


def next_attempt_at(
    policy: RetryPolicy,
    *,
    now: dt.datetime,
    attempts: int,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> dt.datetime:
    """When to try again: the backoff, but never before the peer's Retry-After."""
    delay = backoff(policy, attempts, rng)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return now + dt.timedelta(seconds=delay)


async def with_blip_retries(
    call: Callable[[], Awaitable[T]], is_transient: Callable[[T], bool]
) -> T:
    """``call()`` again, up to BLIP_ATTEMPTS times within about a second, while its result is
    transient; the last result is returned either way (the caller schedules the long retry)."""
    first = await call()
    if not is_transient(first):
        return first  # the usual case: no retry machinery (it costs ~5 % of a sender's CPU)
    retrying = tenacity.AsyncRetrying(
        stop=tenacity.stop_after_attempt(BLIP_ATTEMPTS),
        # (wait_exponential_jitter would do, but its arguments changed between tenacity 8 and 9)
        wait=tenacity.wait_exponential(multiplier=0.05, max=0.5) + tenacity.wait_random(0, 0.05),
        retry=tenacity.retry_if_result(is_transient),
        retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
        reraise=True,
    )

    earlier = [first]  # tenacity's first attempt is the one made above: it waits, then calls

    async def attempt() -> T:  # a coroutine function: tenacity runs plain callables as sync
        return earlier.pop() if earlier else await call()

    result: T = await retrying(attempt)
    return result
