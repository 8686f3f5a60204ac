"""Crash safety: SIGKILL both gateways at random moments while 1,000 letters flow.

Every letter must be handed off exactly once at the receiver and be ``delivered`` at the
sender; nothing acknowledged may be lost. The submitter behaves like a local system that
retries with the same idempotency key until the gateway says 202.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Callable

import aiohttp
from lxml import etree

from gateway.intake import FileSpec
from gateway.localnet import Node
from gateway.model import FileRole
from tests.integration.conftest import cli, exported, letter, submit_with_retry, wait_for

LETTERS = 1000
NS = "{urn:interregional-gateway:1}"


async def test_nothing_lost_nothing_twice_under_sigkill(
    make_network: Callable[..., dict[str, Node]],
) -> None:
    fast_retry = "[retry]\ninitial_delay = 0.1\nmax_delay = 1.0\n"
    nodes = make_network(sender_extra=fast_retry)
    a, b = nodes["ru-61"], nodes["ru-14"]
    a.start()
    b.start()
    rng = random.Random(20261121)
    submitted: dict[str, str] = {}  # idempotency key -> message id
    done = asyncio.Event()

    async def submitter() -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            semaphore = asyncio.Semaphore(8)

            async def one(n: int) -> None:
                async with semaphore:
                    doc = letter(n)
                    files = _small_files(n)
                    (message,) = await submit_with_retry(session, a, doc, files, f"letter-{n}")
                    submitted[f"letter-{n}"] = message["message_id"]

            await asyncio.gather(*(one(n) for n in range(LETTERS)))
        done.set()

    async def chaos() -> None:
        kills = 0
        while not done.is_set() or kills < 6:
            await asyncio.sleep(rng.uniform(0.3, 1.2))
            victim = a if kills % 2 == 0 else b
            victim.kill()
            kills += 1
            await asyncio.sleep(rng.uniform(0.05, 0.5))
            await asyncio.to_thread(victim.start)

    await asyncio.gather(submitter(), chaos())
    assert len(submitted) == LETTERS
    await wait_for(lambda: len(exported(b)) >= LETTERS, 120, f"{LETTERS} hand-offs")
    await asyncio.sleep(1.0)  # anything extra would show up now

    folders = exported(b)
    assert len(folders) == LETTERS, "a letter was handed off twice"
    assert {f.name for f in folders} == set(submitted.values())
    numbers = set()
    for folder in folders:
        root = etree.fromstring((folder / "envelope.xml").read_bytes())
        numbers.add(root.find(f"{NS}Document/{NS}Registration").get("number"))
    assert len(numbers) == LETTERS  # one message per letter: idempotent intake held

    await wait_for(
        lambda: (
            _states(cli(a, "queue", "ls", "--all", "--limit", "5000").stdout)
            == {"delivered": LETTERS}
        ),
        120,
        "every letter delivered at the sender",
    )
    for node in (a, b):
        node.stop()
        result = cli(node, "audit", "verify")
        assert result.returncode == 0, result.stdout + result.stderr


def _small_files(n: int) -> list[tuple[FileSpec, bytes]]:
    body = f"%PDF-1.7 письмо {n} ".encode() * 200
    return [(FileSpec("f1", f"letter-{n}.pdf", "application/pdf", FileRole.MAIN), body)]


def _states(listing: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for line in listing.splitlines()[1:]:
        match = re.match(r"\S+\s+out\s+\S+\s+(\S+)", line)
        if match:
            counts[match.group(1)] = counts.get(match.group(1), 0) + 1
    return counts
