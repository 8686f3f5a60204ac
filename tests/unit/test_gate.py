"""gateway/gate.py: turns first come, first served, and nothing leaked by a cancelled task."""

from __future__ import annotations

import asyncio

from gateway.gate import Gate


async def test_memory_turns_are_first_come_first_served() -> None:
    budget = Gate(100)
    entered: list[str] = []
    release = {name: asyncio.Event() for name in "ABC"}

    async def take(name: str, amount: int) -> None:
        async with budget.hold(amount):
            entered.append(name)
            await release[name].wait()

    tasks = [asyncio.create_task(take("A", 60))]
    await asyncio.sleep(0.01)
    tasks.append(asyncio.create_task(take("B", 80)))  # does not fit beside A: waits
    await asyncio.sleep(0.01)
    tasks.append(asyncio.create_task(take("C", 10)))  # would fit beside A, but B came first
    await asyncio.sleep(0.01)
    assert entered == ["A"]
    release["A"].set()
    await asyncio.sleep(0.01)
    assert entered == ["A", "B", "C"] and budget.used == 90
    release["B"].set()
    release["C"].set()
    await asyncio.gather(*tasks)
    assert budget.used == 0


async def test_a_cancelled_turn_gives_its_place_and_its_bytes_back() -> None:
    budget = Gate(100)
    first = budget.hold(60)
    await first.__aenter__()
    waiting = [asyncio.create_task(_hold_briefly(budget, amount)) for amount in (80, 30)]
    await asyncio.sleep(0.01)
    assert budget.used == 60 and not any(task.done() for task in waiting)
    waiting[0].cancel()  # the 80 leaves the queue: the 30 behind it fits beside the 60
    await asyncio.sleep(0.01)
    assert waiting[0].cancelled() and waiting[1].done()
    await first.__aexit__(None, None, None)
    assert budget.used == 0
    await asyncio.wait_for(_hold_briefly(budget, 100), 1)  # nothing was leaked
    assert budget.used == 0


async def _hold_briefly(budget: Gate, amount: int) -> None:
    async with budget.hold(amount):
        await asyncio.sleep(0)
