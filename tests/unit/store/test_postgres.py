"""The PostgreSQL backend itself: several nodes on one database, migrations, URLs, blobs.

The contract suite (test_contract_*.py) already runs on PostgreSQL; these tests show what only
a shared database has to prove: two stores ("nodes") on one schema never claim the same
message, record a concurrent duplicate once, write one audit chain, and share blobs.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest
from click.testing import CliRunner, Result

from gateway import localnet
from gateway.audit import verify
from gateway.cli import main
from gateway.errors import GatewayError
from gateway.localnet import Member
from gateway.store import open_store
from gateway.store.api import Delivered, Direction, State, StoreError
from gateway.store.postgres import schema
from gateway.store.postgres.store import PostgresStore
from gateway.store.postgres.url import masked
from tests import postgres
from tests.unit.store.messages import new_message, now

pytestmark = pytest.mark.postgres
LEASE = dt.timedelta(seconds=60)

Nodes = Callable[[int], Awaitable[list[PostgresStore]]]


@pytest.fixture
async def schema_url() -> AsyncIterator[str]:
    postgres.require_postgres()
    name = postgres.new_schema_name()
    url = await postgres.create_schema(name)
    try:
        yield url
    finally:
        await postgres.drop_schema(name)


@pytest.fixture
async def nodes(schema_url: str) -> AsyncIterator[Nodes]:
    opened: list[PostgresStore] = []

    async def open_nodes(count: int) -> list[PostgresStore]:
        # Opened together: both race to migrate the empty schema, as starting nodes do.
        stores = await asyncio.gather(*(PostgresStore.open(schema_url) for _ in range(count)))
        opened.extend(stores)
        return list(stores)

    yield open_nodes
    for store in opened:
        await store.close()


async def test_two_nodes_never_claim_the_same_message(nodes: Nodes) -> None:
    one, two = await nodes(2)
    for _ in range(200):
        await one.add_outbound(new_message(), actor="t")
    at = now()

    async def drain(store: PostgresStore, owner: str) -> list[str]:
        taken: list[str] = []
        while batch := await store.claim_outbound(owner, now=at, lease=LEASE, limit=7):
            taken += [r.message_id for r in batch]
        return taken

    first, second = await asyncio.gather(drain(one, "node-1"), drain(two, "node-2"))

    assert len(first) + len(second) == 200
    assert set(first).isdisjoint(second)
    assert first and second  # both nodes got work: SKIP LOCKED, not one node waiting


async def test_a_finish_is_fenced_across_nodes(nodes: Nodes) -> None:
    one, two = await nodes(2)
    message = await one.add_outbound(new_message(), actor="t")
    at = now()
    await one.claim_outbound("dead-node", now=at, lease=LEASE, limit=1)
    (taken,) = await two.claim_outbound("live-node", now=at + LEASE, lease=LEASE, limit=1)
    assert taken.message_id == message.message_id

    assert not await one.finish_attempt(message.message_id, "dead-node", Delivered(b"r", b"s"))
    assert await two.finish_attempt(message.message_id, "live-node", Delivered(b"r", b"s"))
    assert [a.outcome for a in await one.attempts(message.message_id)] == ["delivered"]


async def test_concurrent_duplicates_on_two_nodes_are_recorded_once(nodes: Nodes) -> None:
    one, two = await nodes(2)
    letters = [new_message(Direction.IN) for _ in range(30)]
    results = await asyncio.gather(
        *(
            store.add_inbound(letter, f"r-{i}".encode(), b"s", actor="peer:x")
            for letter in letters
            for i, store in enumerate((one, two, one, two))
        )
    )
    assert sum(result.new for result in results) == len(letters)
    for letter in letters:
        answers = [r for r in results if r.record.message_id == letter.message_id]
        assert len({r.record.receipt for r in answers}) == 1  # everyone got the original

    handed: list[str] = []

    async def hand_off(store: PostgresStore, owner: str) -> None:
        while batch := await store.claim_handoff(owner, now=now(), lease=LEASE, limit=4):
            for record in batch:
                if await store.mark_handed_off(record.message_id, owner, detail="exported"):
                    handed.append(record.message_id)

    await asyncio.gather(hand_off(one, "a"), hand_off(two, "b"))
    assert sorted(handed) == sorted(letter.message_id for letter in letters)
    assert await one.count_by_state() == {(Direction.IN, State.HANDED_OFF): len(letters)}


async def test_nodes_writing_at_once_keep_one_audit_chain(nodes: Nodes) -> None:
    stores = await nodes(3)
    await asyncio.gather(
        *(store.add_outbound(new_message(), actor=f"node-{i}") for i, store in enumerate(stores)
          for _ in range(40))
    )  # fmt: skip
    records = await stores[0].audit(limit=1000)
    assert len(records) == 120
    assert verify(records) == 120


async def test_blobs_stored_by_one_node_are_read_by_another(nodes: Nodes) -> None:
    one, two = await nodes(2)
    data = bytes(range(256)) * 12_000  # ~3 MiB: several chunks
    ref = await one.blobs.put_bytes(data)
    assert await two.blobs.exists(ref.sha256)
    assert one.blobs.local_path(ref.sha256) is None
    chunks = [chunk async for chunk in two.blobs.read(ref.sha256, chunk_size=1_000_000)]
    assert b"".join(chunks) == data
    assert max(len(c) for c in chunks) == 1_000_000


async def test_a_damaged_blob_is_refused_not_passed_on(nodes: Nodes, schema_url: str) -> None:
    (store,) = await nodes(1)
    ref = await store.blobs.put_bytes(b"A" * 5_000)
    conn = await asyncpg.connect(schema_url)
    try:
        await conn.execute("UPDATE blob_chunks SET data = $1", b"B" * 5_000)
    finally:
        await conn.close()
    with pytest.raises(StoreError, match="damaged"):
        async for _ in store.blobs.read(ref.sha256):
            pass


async def test_an_upload_that_fails_leaves_chunks_that_gc_removes(
    nodes: Nodes, schema_url: str
) -> None:
    (store,) = await nodes(1)

    async def broken() -> AsyncIterator[bytes]:
        yield b"x" * (3 << 20)
        raise ConnectionResetError("peer went away")

    with pytest.raises(ConnectionResetError):
        await store.blobs.put(broken())
    conn = await asyncpg.connect(schema_url)
    try:
        # cleaned at once; and what a crash would leave is collected: simulate one
        await conn.execute("INSERT INTO blob_uploads VALUES (999999, now() - interval '2 days')")
        await conn.execute("INSERT INTO blob_chunks VALUES (999999, 0, 'x')")
        await store.gc_blobs(dt.timedelta(hours=24))
        assert await conn.fetchval("SELECT count(*) FROM blob_chunks") == 0
        assert await conn.fetchval("SELECT count(*) FROM blob_uploads") == 0
    finally:
        await conn.close()


async def test_a_schema_newer_than_the_code_is_refused(schema_url: str) -> None:
    store = await PostgresStore.open(schema_url)
    await store.close()
    conn = await asyncpg.connect(schema_url)
    try:
        await conn.execute("UPDATE gateway_schema SET version = version + 1")
    finally:
        await conn.close()
    with pytest.raises(GatewayError) as refused:
        await PostgresStore.open(schema_url)
    assert refused.value.code == "store.too_new"
    assert f"version {schema.code_version() + 1}" in refused.value.message


async def test_an_operator_tool_asks_for_an_upgrade_instead_of_migrating(
    schema_url: str, tmp_path: Path
) -> None:
    with pytest.raises(GatewayError) as refused:
        await open_store(schema_url, tmp_path, lock=False)
    assert refused.value.code == "store.outdated"
    assert "gateway db upgrade" in refused.value.message
    store = await open_store(schema_url, tmp_path, lock=True)  # a gateway node migrates
    try:
        assert isinstance(store, PostgresStore)
        assert store.schema_version == schema.code_version()
        assert await store.upgrade() == (schema.code_version(), schema.code_version())
    finally:
        await store.close()


async def test_migrations_run_once_when_nodes_start_together(nodes: Nodes, schema_url: str) -> None:
    stores = await nodes(4)
    assert {s.schema_version for s in stores} == {schema.code_version()}
    conn = await asyncpg.connect(schema_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM gateway_schema") == 1
        assert await conn.fetchval("SELECT count(*) FROM audit_head") == 1
    finally:
        await conn.close()


async def test_a_password_in_the_url_never_shows() -> None:
    url = "postgresql://gw:s3cret-pw@127.0.0.1:1/gateway?password=other-s3cret"
    assert "s3cret" not in masked(url)
    assert masked(url).startswith("postgresql://gw:***@127.0.0.1:1/")
    with pytest.raises(StoreError) as failed:
        await PostgresStore.open(url)
    assert "s3cret" not in str(failed.value)
    assert "127.0.0.1:1" in str(failed.value)



async def test_gateway_db_upgrade_and_status(schema_url: str, tmp_path: Path) -> None:
    (node,) = localnet.build(tmp_path, [Member("ru-61", "Ростов", "6163000001", 1)]).values()
    text = node.config.read_text(encoding="utf-8")
    node.config.write_text(text.replace("[gateway]\n", f'[gateway]\nstore = "{schema_url}"\n'))

    def gateway(*args: str) -> Result:  # the command runs its own event loop: in a thread
        return CliRunner().invoke(main, [*args, "--config", str(node.config)])

    before = await asyncio.to_thread(gateway, "db", "status")
    upgraded = await asyncio.to_thread(gateway, "db", "upgrade")
    again = await asyncio.to_thread(gateway, "db", "upgrade")
    after = await asyncio.to_thread(gateway, "db", "status")

    known = schema.code_version()
    assert before.exit_code == 0 and f"schema version 0; this gateway knows {known}" in before.output
    assert upgraded.exit_code == 0, upgraded.output
    assert f"upgraded from version 0 to {known}" in upgraded.output
    assert "up to date" in again.output and "up to date" in after.output


async def test_an_adapter_gets_database_blobs_as_temporary_local_files(
    nodes: Nodes, tmp_path: Path
) -> None:
    from gateway.bridge import _local_files
    from gateway.model import FileRef, FileRole

    (store,) = await nodes(1)
    data = b"%PDF-1.7 " * 300_000  # ~2.6 MiB: streamed in several chunks
    ref = await store.blobs.put_bytes(data)
    files = [FileRef("f1", FileRole.MAIN, "письмо.pdf", "application/pdf", ref.size, ref.sha256)]
    spool = tmp_path / "spool"

    async with _local_files(files, store.blobs, spool) as paths:
        assert paths["f1"].read_bytes() == data
        assert paths["f1"].is_relative_to(spool)
    assert list(spool.iterdir()) == []  # removed once the adapter is done


async def test_a_node_whose_heartbeat_stopped_loses_its_leases_before_they_expire(
    schema_url: str,
) -> None:
    # This node never beats again after start-up: as if killed the moment it claimed.
    crashed = await PostgresStore.open(schema_url, heartbeat=3600)
    live = await PostgresStore.open(schema_url)
    try:
        message = await crashed.add_outbound(new_message(), actor="t")
        handoff = new_message(Direction.IN)
        await crashed.add_inbound(handoff, b"r", b"s", actor="peer:x")
        long = dt.timedelta(hours=1)
        assert await crashed.claim_outbound("crashed", now=now(), lease=long, limit=1)
        assert await crashed.claim_handoff("crashed", now=now(), lease=long, limit=1)
        # A node that still beats keeps its leases, however long.
        assert await live.claim_outbound("live", now=now(), lease=LEASE, limit=1) == []

        conn = await asyncpg.connect(schema_url)
        try:
            await conn.execute(
                "UPDATE nodes SET heartbeat_at = now() - interval '1 minute' WHERE id = $1",
                crashed.node,
            )
        finally:
            await conn.close()

        (taken,) = await live.claim_outbound("live", now=now(), lease=LEASE, limit=1)
        (handed,) = await live.claim_handoff("live", now=now(), lease=LEASE, limit=1)
        assert (taken.message_id, handed.message_id) == (message.message_id, handoff.message_id)
        # the dead node's late result is fenced out; the live node's counts
        assert not await crashed.finish_attempt(taken.message_id, "crashed", Delivered(b"r", b"s"))
        assert await live.finish_attempt(taken.message_id, "live", Delivered(b"r", b"s"))
        assert not await crashed.mark_handed_off(handed.message_id, "crashed", detail="x")
        assert await live.mark_handed_off(handed.message_id, "live", detail="exported")
    finally:
        await crashed.close()
        await live.close()


async def test_a_node_that_closes_cleanly_frees_what_it_still_leases(schema_url: str) -> None:
    leaving = await PostgresStore.open(schema_url)
    staying = await PostgresStore.open(schema_url)
    try:
        await leaving.add_outbound(new_message(), actor="t")
        assert await leaving.claim_outbound("w1", now=now(), lease=LEASE, limit=1)
        await leaving.close()
        assert len(await staying.claim_outbound("w2", now=now(), lease=LEASE, limit=1)) == 1
    finally:
        await staying.close()
