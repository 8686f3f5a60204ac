"""Cluster mode: several gateway processes of one participant on one PostgreSQL database.

1. Two nodes of the sender share a database; letters go in through both; one node is
   SIGKILLed midway while it holds leases. Its heartbeat stops, the other node takes its
   leases over and delivers what it held: every letter is delivered, and handed off at the
   receiver exactly once.
2. Two nodes of the receiver stand behind one address (a round-robin proxy in this test)
   that sends every letter to BOTH nodes at once, and some a third time: duplicates arriving
   in parallel on different nodes still give exactly one hand-off each.

Nodes are real ``gateway run`` processes (gateway/localnet.py) with ``store =
"postgresql://…"`` in their gateway.toml and a schema of their own per participant.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import itertools
import os
import shutil
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from gateway import audit, localnet
from gateway.intake import FileSpec
from gateway.localnet import Member, Node
from gateway.model import FileRole
from gateway.store import open_store
from gateway.store.api import Direction, State, Store
from tests import postgres
from tests.integration.conftest import exported, letter, submit_with_retry, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

LETTERS = 1000
FAST_RETRY = "[retry]\ninitial_delay = 0.1\nmax_delay = 1.0\n"
# A killed node's leases go to the other node once its heartbeat is DEAD_AFTER seconds old
# (30 s), at the latest when they expire (delivery leases: 120 s); the waits allow for both.
TAKEOVER = 120.0


@pytest.fixture
async def schemas() -> AsyncIterator[Callable[[], Awaitable[str]]]:
    """Fresh schemas (one per participant), dropped afterwards; each call gives a store URL."""
    postgres.require_postgres()
    made: list[str] = []

    async def url() -> str:
        name = postgres.new_schema_name("gwcluster")
        made.append(name)
        return await postgres.create_schema(name)

    yield url
    for name in made:
        await postgres.drop_schema(name)


@pytest.fixture
def network(tmp_path: Path) -> AsyncIterator[list[Node]]:
    started: list[Node] = []
    yield started
    for node in started:
        node.stop(timeout=10)


def use_store(node: Node, url: str) -> None:
    """Point the node's gateway.toml at a store (the [gateway] table's ``store`` key)."""
    text = node.config.read_text(encoding="utf-8")
    node.config.write_text(text.replace("[gateway]\n", f'[gateway]\nstore = "{url}"\n', 1))


def second_node(node: Node, name: str, port: int) -> Node:
    """Another node of the same participant: same keys, tokens and configuration; its own
    port and data folder (the store it shares is in the configuration)."""
    folder = node.folder.parent / name
    shutil.copytree(node.folder, folder, ignore=shutil.ignore_patterns("var", "*.log"))
    config = folder / "gateway.toml"
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            f'listen = "127.0.0.1:{node.member.port}"', f'listen = "127.0.0.1:{port}"'
        ),
        encoding="utf-8",
    )
    return Node(dataclasses.replace(node.member, port=port), folder, node.token)


def small_files(n: int) -> list[tuple[FileSpec, bytes]]:
    body = f"%PDF-1.7 письмо {n} ".encode() * 200
    return [(FileSpec("f1", f"letter-{n}.pdf", "application/pdf", FileRole.MAIN), body)]


async def opened(node: Node) -> Store:
    """The node's store, opened as an operator tool beside the running gateways."""
    from gateway import config as cfg

    config = cfg.load(node.config)
    return await open_store(config.store, config.data_dir, lock=False)


async def counts(node: Node) -> dict[tuple[Direction, State], int]:
    store = await opened(node)
    try:
        return await store.count_by_state()
    finally:
        await store.close()


async def verify_audit(node: Node) -> int:
    store = await opened(node)
    try:
        checked, prev, after = 0, audit.GENESIS, 0
        while batch := await store.audit(after=after, limit=5000):
            checked += audit.verify(batch, prev_hash=prev, after=after)
            prev, after = batch[-1].hash, batch[-1].seq
        return checked
    finally:
        await store.close()


async def test_a_killed_sender_node_loses_nothing_and_doubles_nothing(
    tmp_path: Path, schemas: Callable[[], Awaitable[str]], network: list[Node]
) -> None:
    a_port, b_port, a2_port = localnet.free_ports(3)
    nodes = localnet.build(
        tmp_path / "net",
        [Member("ru-61", "Ростовская область", "6163000001", a_port, extra=FAST_RETRY),
         Member("ru-14", "Республика Саха (Якутия)", "1435000001", b_port)],
    )  # fmt: skip
    a1, b = nodes["ru-61"], nodes["ru-14"]
    a_store = await schemas()
    use_store(a1, a_store)
    a2 = second_node(a1, "ru-61-node2", a2_port)
    for node in (b, a1, a2):
        node.start()
        network.append(node)

    submitted: dict[int, str] = {}
    delivered_at_kill: int | None = None
    held_at_kill: list[str] = []

    async def submit(session: aiohttp.ClientSession, n: int) -> None:
        # A local system behind a load balancer: alternate nodes; when one does not answer,
        # send the same letter (same idempotency key) to the other.
        order = (a1, a2) if n % 2 == 0 else (a2, a1)
        for attempt in range(200):
            node = order[attempt % 2]
            try:
                (message,) = await localnet.submit(
                    session, node, letter(n), small_files(n), key=f"letter-{n}"
                )
            except (TimeoutError, aiohttp.ClientError, ConnectionError):
                await asyncio.sleep(0.05)
                continue
            submitted[n] = message["message_id"]
            return
        raise AssertionError(f"letter {n} was never accepted")

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        semaphore = asyncio.Semaphore(8)

        async def one(n: int) -> None:
            nonlocal delivered_at_kill
            async with semaphore:
                await submit(session, n)
            if n == LETTERS // 2:  # midway, at a moment it holds leases on letters
                held_at_kill.extend(await kill_holding_leases(a1, a_store))
                delivered_at_kill = (await counts(a2)).get((Direction.OUT, State.DELIVERED), 0)

        await asyncio.gather(*(one(n) for n in range(LETTERS)))

    assert len(set(submitted.values())) == LETTERS  # one message per letter, across nodes
    assert delivered_at_kill is not None and delivered_at_kill < LETTERS
    assert held_at_kill  # the dead node had letters in hand, which the other must finish
    await wait_for(
        lambda: len(exported(b)) >= LETTERS, TAKEOVER + 60, f"{LETTERS} hand-offs at B"
    )
    await wait_for_async(
        lambda: counts(a2),
        {(Direction.OUT, State.DELIVERED): LETTERS},
        TAKEOVER + 60,
        "every letter delivered, those the dead node held too",
    )
    await asyncio.sleep(1.0)  # a second hand-off of anything would show up now

    folders = exported(b)
    assert len(folders) == LETTERS, "a letter was handed off twice"
    assert {f.name for f in folders} == set(submitted.values())
    assert await counts(a2) == {(Direction.OUT, State.DELIVERED): LETTERS}
    assert set(held_at_kill) <= {f.name for f in folders}
    # Both nodes wrote into ONE hash chain, which verifies end to end.
    assert await verify_audit(a2) >= 2 * LETTERS


async def kill_holding_leases(node: Node, store_url: str) -> list[str]:
    """SIGKILL ``node`` while it holds delivery leases; the ids it held.

    The node is frozen (SIGSTOP) while the database is asked, so what it holds cannot change
    between looking and killing. A node's lease owner is ``host:pid:…`` (gateway/app.py).
    """
    assert node.process is not None
    pid = node.process.pid
    conn = await asyncpg.connect(store_url)
    try:
        for _ in range(500):
            os.kill(pid, signal.SIGSTOP)
            held = await conn.fetch(
                "SELECT message_id FROM messages WHERE state = 'queued' AND lease_owner LIKE $1",
                f"%:{pid}:%",
            )
            if held:
                node.kill()
                return [row["message_id"] for row in held]
            os.kill(pid, signal.SIGCONT)
            await asyncio.sleep(0.01)
    finally:
        await conn.close()
    raise AssertionError("the node never held a lease")


async def wait_for_async(
    probe: Callable[[], object], expected: object, timeout: float, what: str
) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while (got := await probe()) != expected:  # type: ignore[misc]
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what}: {got}")
        await asyncio.sleep(0.5)


# Headers that belong to one connection, not to the request or answer a proxy passes on.
_HOP = {"host", "content-length", "transfer-encoding", "connection", "keep-alive", "date",
        "server"}  # fmt: skip


class DuplicatingProxy:
    """One address for two receiving nodes: each request goes to BOTH at once (the answer of
    one, in turn, goes back), and every third one a third time once those have answered."""

    def __init__(self, targets: list[Node]) -> None:
        self.targets = targets
        self.turn = itertools.count()
        self.forwarded = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        n = next(self.turn)
        first, second = self.targets[n % 2], self.targets[(n + 1) % 2]
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:

            async def post(node: Node) -> tuple[int, bytes, dict[str, str]]:
                self.forwarded += 1
                async with session.post(
                    f"{node.url}{request.path}", data=body, headers=headers
                ) as answer:
                    kept = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP}
                    return answer.status, await answer.read(), kept

            results = await asyncio.gather(post(first), post(second), return_exceptions=True)
            if n % 3 == 0:
                results[0] = (await asyncio.gather(post(first), return_exceptions=True))[0]
        answer = results[0]
        if isinstance(answer, BaseException):
            return web.Response(status=502, text=str(answer))
        status, content, kept = answer
        return web.Response(status=status, body=content, headers=kept)


async def test_receiver_nodes_behind_one_address_hand_off_duplicates_once(
    tmp_path: Path, schemas: Callable[[], Awaitable[str]], network: list[Node]
) -> None:
    a_port, proxy_port, b1_port, b2_port = localnet.free_ports(4)
    nodes = localnet.build(
        tmp_path / "net",
        [Member("ru-61", "Ростовская область", "6163000001", a_port, extra=FAST_RETRY),
         Member("ru-14", "Республика Саха (Якутия)", "1435000001", proxy_port)],
    )  # fmt: skip
    a, b_template = nodes["ru-61"], nodes["ru-14"]
    use_store(b_template, await schemas())
    b1 = second_node(b_template, "ru-14-node1", b1_port)
    b2 = second_node(b_template, "ru-14-node2", b2_port)
    proxy = DuplicatingProxy([b1, b2])
    app = web.Application()
    app.router.add_post("/{tail:.*}", proxy.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", proxy_port).start()
    try:
        for node in (b1, b2, a):
            await asyncio.to_thread(node.start)
            network.append(node)
        submitted: list[str] = []
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            semaphore = asyncio.Semaphore(8)

            async def one(n: int) -> None:
                async with semaphore:
                    (message,) = await submit_with_retry(
                        session, a, letter(n), small_files(n), f"letter-{n}"
                    )
                    submitted.append(message["message_id"])

            await asyncio.gather(*(one(n) for n in range(LETTERS)))

        await wait_for_async(
            lambda: counts(a), {(Direction.OUT, State.DELIVERED): LETTERS}, 180,
            "every letter delivered at the sender",
        )  # fmt: skip
        await wait_for(
            lambda: len(exported(b1)) + len(exported(b2)) >= LETTERS, 120, "hand-offs at B"
        )
        await asyncio.sleep(1.0)  # a second hand-off of anything would show up now
    finally:
        await runner.cleanup()

    assert proxy.forwarded >= 2 * LETTERS  # every letter reached both nodes
    one, two = {f.name for f in exported(b1)}, {f.name for f in exported(b2)}
    assert one.isdisjoint(two), "a letter was handed off by both nodes"
    assert one | two == set(submitted)
    assert len(exported(b1)) + len(exported(b2)) == LETTERS
    assert one and two  # both nodes took part in the hand-offs
    assert await counts(b1) == {(Direction.IN, State.HANDED_OFF): LETTERS}
    assert await verify_audit(b2) == 2 * LETTERS  # accepted + handed-off, once each


async def test_a_starting_node_leaves_the_running_nodes_leases_alone(
    schemas: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    from aiohttp.test_utils import TestServer

    from gateway import identity
    from gateway.app import create_app
    from tests.unit.store.messages import new_message

    url = await schemas()
    port = localnet.free_ports(1)[0]
    node = localnet.build(tmp_path, [Member("ru-61", "Ростов", "6163000001", port)])["ru-61"]
    use_store(node, url)
    store = await open_store(url, node.folder / "var", lock=True)  # the running node's view
    try:
        queued = await store.add_outbound(new_message(), actor="test")
        now = dt.datetime.now(dt.UTC)
        held = await store.claim_outbound("running-node", now=now,
                                          lease=dt.timedelta(minutes=5), limit=1)  # fmt: skip
        assert [r.message_id for r in held] == [queued.message_id]
        # another node of the participant starts on the same database
        app = await create_app(identity.load(node.config))
        server = TestServer(app)
        await server.start_server()
        try:
            again = await store.claim_outbound("third-node", now=now,
                                               lease=dt.timedelta(minutes=5), limit=1)  # fmt: skip
            assert again == []  # still the running node's
        finally:
            await server.close()
    finally:
        await store.close()
