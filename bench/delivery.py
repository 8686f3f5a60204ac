"""The delivery worker alone: what claiming costs, and whether a slow peer holds up the others.

The worker runs over a real SQLite store (``synchronous=FULL``, in ``--dir``) against peers
simulated in this process, so that the figures are the worker's and the store's, not HTTP's:

1. **Cost**: N letters to one peer that answers each in 2–30 ms (uniformly at random, so that
   answers come back spread out as from a real peer). Printed: letters/s, CPU per letter of
   this process, and how many claims (store transactions) the worker made per letter.
2. **Sharing**: a slow peer (each answer takes 1 s) with a backlog of ``--backlog`` letters,
   queued before 100 letters to a fast peer (5 ms). Printed: how long the fast peer's letters
   took, from the worker's start to their delivery (p50/p99/max), against the same 100 letters
   with no slow backlog (the baseline, in the same run). With places shared among peers the two
   should be close; a worker that claims in queue order would make the fast peer's letters
   wait for most of the slow peer's backlog.

Run: ``.venv/bin/python bench/delivery.py [--letters 3000] [--backlog 2000] [--dir FOLDER]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import tempfile
import time
from pathlib import Path

from gateway.config import Participant, RetryPolicy
from gateway.delivery import DeliveryWorker
from gateway.routing import Router
from gateway.store.api import Direction, MessageRecord, State
from gateway.store.sqlite import SqliteStore
from gateway.transport import client
from tests.unit.store.messages import new_message

FAST, SLOW, SPREAD = "ru-16", "ru-14", "ru-02"
ANSWER_S = {FAST: (0.005, 0.005), SLOW: (1.0, 1.0), SPREAD: (0.002, 0.030)}


async def send(record: MessageRecord, peer: Participant) -> client.Result:
    await asyncio.sleep(random.uniform(*ANSWER_S[peer.id]))
    return client.Accepted(b"<receipt/>", b"signature")


def worker(store: SqliteStore) -> DeliveryWorker:
    peers = [Participant(p, p, f"http://127.0.0.1:1/{p}/gw/v1/messages", ()) for p in ANSWER_S]
    return DeliveryWorker(store, send, Router(peers), "ru-61", RetryPolicy(), owner="bench")


async def cost(folder: Path, letters: int) -> None:
    async with await SqliteStore.open(folder / "cost") as store:
        for _ in range(letters):
            await store.add_outbound(new_message(peer=SPREAD), actor="bench")
        claims = 0
        claim = store.claim_outbound

        async def counted(*args: object, **kwargs: object) -> list[MessageRecord]:
            nonlocal claims
            claims += 1
            return await claim(*args, **kwargs)  # type: ignore[arg-type]

        store.claim_outbound = counted  # type: ignore[method-assign]
        stop, work = asyncio.Event(), worker(store)
        started, cpu = time.perf_counter(), time.process_time()
        running = asyncio.create_task(work.run(stop))
        while (await store.count_by_state()).get((Direction.OUT, State.DELIVERED), 0) < letters:
            await asyncio.sleep(0.02)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        stop.set()
        await running
    print(
        f"cost: {letters} letters to one peer in {elapsed:.2f} s = {letters / elapsed:.0f}/s;"
        f" CPU {1000 * cpu / letters:.3f} ms per letter; {claims / letters:.3f} claims per letter"
    )


async def sharing(folder: Path, backlog: int) -> list[float]:
    """Seconds from the worker's start to each fast letter's delivery, sorted."""
    async with await SqliteStore.open(folder) as store:
        for _ in range(backlog):
            await store.add_outbound(new_message(peer=SLOW), actor="bench")
        fast = [(await store.add_outbound(new_message(peer=FAST), actor="bench")).message_id
                for _ in range(100)]  # fmt: skip
        stop, work = asyncio.Event(), worker(store)
        started, done = time.perf_counter(), dict[str, float]()
        running = asyncio.create_task(work.run(stop))
        while len(done) < len(fast):
            for message_id in fast:
                record = await store.get(message_id)
                if message_id not in done and record and record.state is State.DELIVERED:
                    done[message_id] = time.perf_counter() - started
            await asyncio.sleep(0.005)
        stop.set()
        running.cancel()  # the slow backlog is not waited for
        with contextlib.suppress(asyncio.CancelledError):
            await running
    return sorted(done.values())


def _figures(seconds: list[float]) -> str:
    p99 = seconds[min(len(seconds) - 1, round(0.99 * len(seconds)))]
    return f"p50 {1000 * statistics.median(seconds):.0f} ms, p99 {1000 * p99:.0f} ms, max {1000 * seconds[-1]:.0f} ms"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--letters", type=int, default=3000)
    parser.add_argument("--backlog", type=int, default=2000)
    parser.add_argument(
        "--dir", type=Path, default=None, help="where the stores go (a temp folder)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        folder = Path(tmp)
        await cost(folder, args.letters)
        alone = await sharing(folder / "alone", 0)
        behind = await sharing(folder / "behind", args.backlog)
    print(f"sharing: 100 letters to a fast peer, alone: {_figures(alone)}")
    print(
        f"sharing: the same after {args.backlog} letters to a slow peer (1 s each): {_figures(behind)}"
    )


if __name__ == "__main__":
    asyncio.run(main())
