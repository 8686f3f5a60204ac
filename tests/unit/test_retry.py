"""Quick in-process retries of blips: how often the call is made, and what comes back."""

from __future__ import annotations

import time

from gateway.retry import BLIP_ATTEMPTS, with_blip_retries


class Calls:
    def __init__(self, *results: str) -> None:
        self.results = list(results)
        self.at: list[float] = []

    async def __call__(self) -> str:
        self.at.append(time.monotonic())
        return self.results.pop(0)


def transient(result: str) -> bool:
    return result == "reset"


async def test_a_result_that_is_not_transient_is_returned_after_one_call() -> None:
    call = Calls("delivered", "never asked")
    assert await with_blip_retries(call, transient) == "delivered"
    assert len(call.at) == 1


async def test_a_blip_is_retried_after_a_short_wait_until_it_passes() -> None:
    call = Calls("reset", "delivered", "never asked")
    assert await with_blip_retries(call, transient) == "delivered"
    assert len(call.at) == 2
    assert 0.04 <= call.at[1] - call.at[0] < 1.0  # waited, but well within a second


async def test_a_blip_that_persists_gives_its_last_result_after_the_attempts() -> None:
    call = Calls(*["reset"] * (BLIP_ATTEMPTS + 2))
    assert await with_blip_retries(call, transient) == "reset"
    assert len(call.at) == BLIP_ATTEMPTS
