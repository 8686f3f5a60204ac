"""The SQLite backend itself: group commit, durability, crashes, migrations, the lock file."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from gateway.audit import AuditError, verify
from gateway.errors import ConfigError, GatewayError
from gateway.store import open_store
from gateway.store.api import Direction, State, StoreError
from gateway.store.sqlite import DataDirLock, SqliteStore, schema
from gateway.store.sqlite.connections import PAGE_SIZE, connect
from gateway.store.sqlite.threads import Writer
from tests.unit.store.messages import new_message, stored
from tests.unit.store.test_contract_audit import realistic_day

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    opened = await SqliteStore.open(tmp_path / "data")
    yield opened
    await opened.close()


# --- group commit --------------------------------------------------------------------------


async def test_concurrent_writes_share_commits(store: SqliteStore) -> None:
    before = store.writer_stats.commits
    records = await asyncio.gather(
        *(store.add_outbound(new_message(), actor="a") for _ in range(200))
    )
    commits = store.writer_stats.commits - before

    assert len({r.message_id for r in records}) == 200
    assert commits <= 20, f"{commits} commits for 200 concurrent writes"
    assert store.writer_stats.largest_batch >= 10
    assert sum((await store.count_by_state()).values()) == 200


async def test_the_connection_is_durable_wal_with_foreign_keys(store: SqliteStore) -> None:
    settings = await store._writer.submit(
        lambda conn: [
            conn.execute(f"PRAGMA {name}").fetchone()[0]
            for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout", "page_size")
        ]
    )
    assert settings[0] == "wal"
    assert settings[1] == 2  # FULL: the WAL is fsynced at every commit
    assert settings[2] == 1
    assert settings[3] >= 1000
    assert settings[4] == PAGE_SIZE  # a new database: small files are rows of few pages


async def test_an_existing_database_keeps_its_page_size(tmp_path: Path) -> None:
    old = sqlite3.connect(tmp_path / "gateway.db")
    old.execute("PRAGMA page_size = 4096")
    old.execute("CREATE TABLE made_by_an_older_gateway (x)")
    old.close()
    async with await SqliteStore.open(tmp_path) as store:
        size = await store._writer.submit(lambda c: c.execute("PRAGMA page_size").fetchone()[0])
        ref = await store.blobs.put_bytes(b"x" * 100_000)
        assert b"".join([c async for c in store.blobs.read(ref.sha256)]) == b"x" * 100_000
    assert size == 4096


class _Held:
    """Keeps the writer busy in a transaction of its own so that the operations submitted
    meanwhile queue up and then run as one batch (deterministic, unlike relying on timing)."""

    def __init__(self, statement: str = "INSERT INTO t (v) VALUES ('held')") -> None:
        self.statement = statement
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, conn: sqlite3.Connection) -> str:
        self.entered.set()
        self.release.wait(5)
        conn.execute(self.statement)
        return "held"


@pytest.fixture
async def writer(tmp_path: Path) -> AsyncIterator[Writer]:
    conn = connect(tmp_path / "w.db")
    conn.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
    conn.execute(
        "CREATE TABLE t (v TEXT, parent INTEGER REFERENCES parent (id)"
        " DEFERRABLE INITIALLY DEFERRED)"
    )
    w = Writer(conn)
    yield w
    await w.close()


async def _one_batch(writer: Writer, *ops: Callable[[sqlite3.Connection], object]) -> list[object]:
    """Run ``ops`` as one batch; their results or exceptions, in order."""
    held = _Held()
    first = asyncio.ensure_future(writer.submit(held))
    await asyncio.to_thread(held.entered.wait, 5)
    rest = [asyncio.ensure_future(writer.submit(op)) for op in ops]
    await asyncio.sleep(0.01)  # every submission is queued behind the held transaction
    held.release.set()
    assert await first == "held"
    return await asyncio.gather(*rest, return_exceptions=True)


def _insert(value: str) -> Callable[[sqlite3.Connection], str]:
    def op(conn: sqlite3.Connection) -> str:
        conn.execute("INSERT INTO t (v) VALUES (?)", (value,))
        return value

    return op


def _rows(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        rows = [v for (v,) in conn.execute("SELECT v FROM t ORDER BY rowid")]
    conn.close()
    return rows


async def test_a_failing_operation_rolls_back_only_itself(writer: Writer, tmp_path: Path) -> None:
    def half_then_fail(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO t (v) VALUES ('half')")
        raise ValueError("refused")

    results = await _one_batch(writer, _insert("a"), half_then_fail, _insert("b"))

    assert results[0] == "a" and results[2] == "b"
    assert isinstance(results[1], ValueError)
    assert writer.stats.commits == 2  # the held transaction, then all three in one
    assert writer.stats.largest_batch == 3
    assert _rows(tmp_path / "w.db") == ["held", "a", "b"]


async def test_a_batch_without_failures_runs_no_savepoints(tmp_path: Path) -> None:
    conn = connect(tmp_path / "w.db")
    conn.execute("CREATE TABLE t (v TEXT, parent INTEGER)")
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    writer = Writer(conn)
    try:
        assert await _one_batch(writer, _insert("a"), _insert("b")) == ["a", "b"]

        def fail(conn: sqlite3.Connection) -> None:
            raise ValueError("refused")

        results = await _one_batch(writer, _insert("c"), fail, _insert("d"))
    finally:
        await writer.close()
    first_batch = statements[: statements.index("INSERT INTO t (v) VALUES ('b')") + 1]
    assert not [s for s in first_batch if "SAVEPOINT" in s]
    # A failure sends the batch round again, each operation in its own savepoint; what
    # succeeded the first time is committed once.
    assert results[0] == "c" and isinstance(results[1], ValueError) and results[2] == "d"
    assert statements.count("SAVEPOINT op") == 3 and statements.count("ROLLBACK") == 1
    assert _rows(tmp_path / "w.db") == ["held", "a", "b", "held", "c", "d"]


async def test_a_failed_commit_fails_every_operation_of_the_batch(
    writer: Writer, tmp_path: Path
) -> None:
    def dangling(conn: sqlite3.Connection) -> str:
        # a deferred foreign key is only checked at COMMIT, so the COMMIT itself fails
        conn.execute("INSERT INTO t (v, parent) VALUES ('dangling', 42)")
        return "dangling"

    results = await _one_batch(writer, _insert("a"), dangling, _insert("b"))

    assert all(isinstance(r, StoreError) for r in results), results
    assert _rows(tmp_path / "w.db") == ["held"]
    assert await writer.submit(_insert("after")) == "after"  # the writer carries on


async def test_a_transaction_lost_mid_batch_fails_what_ran_and_redoes_the_rest(
    writer: Writer, tmp_path: Path
) -> None:
    def lose_transaction(conn: sqlite3.Connection) -> None:
        conn.execute("ROLLBACK")  # as SQLite does by itself on a full disk or an I/O error
        raise sqlite3.OperationalError("disk I/O error")

    results = await _one_batch(writer, _insert("a"), lose_transaction, _insert("b"))

    assert isinstance(results[0], StoreError) and "rolled back" in str(results[0])
    assert isinstance(results[1], StoreError) and "disk I/O error" in str(results[1])
    assert results[2] == "b"
    assert _rows(tmp_path / "w.db") == ["held", "b"]


async def test_reads_do_not_wait_for_a_write_in_progress(store: SqliteStore) -> None:
    queued = await store.add_outbound(new_message(), actor="a")
    held = _Held("UPDATE messages SET peer = peer")
    blocked = asyncio.ensure_future(store._writer.submit(held))
    await asyncio.to_thread(held.entered.wait, 5)
    try:
        # the writer sits inside an open write transaction; the reader is not behind it
        assert await asyncio.wait_for(store.get(queued.message_id), 2) == queued
        assert len(await asyncio.wait_for(store.audit(), 2)) == 1
    finally:
        held.release.set()
    assert await blocked == "held"


async def test_the_reader_cannot_write(store: SqliteStore) -> None:
    await store.add_outbound(new_message(), actor="a")
    with pytest.raises(StoreError, match="readonly"):
        await store._reader.submit(lambda conn: conn.execute("DELETE FROM messages"))
    assert sum((await store.count_by_state()).values()) == 1


async def test_database_errors_become_store_errors(writer: Writer) -> None:
    with pytest.raises(StoreError, match="no such table"):
        await writer.submit(lambda conn: conn.execute("INSERT INTO nowhere VALUES (1)"))


async def test_a_closed_store_refuses_work(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path)
    await store.close()
    await store.close()  # twice is harmless
    with pytest.raises(StoreError, match="closed"):
        await store.add_outbound(new_message(), actor="a")
    with pytest.raises(StoreError, match="closed"):
        await store.get("x")


# --- durability ----------------------------------------------------------------------------


async def test_everything_survives_close_and_reopen(tmp_path: Path) -> None:
    async with await SqliteStore.open(tmp_path) as store:
        await realistic_day(store)
        listed = await store.list_messages(limit=1000)
        audit = await store.audit()
        history = {m.message_id: await store.history(m.message_id) for m in listed}
    async with await SqliteStore.open(tmp_path) as store:
        assert await store.list_messages(limit=1000) == listed
        assert await store.audit() == audit
        assert {m.message_id: await store.history(m.message_id) for m in listed} == history


async def test_a_killed_process_loses_nothing_it_acknowledged(tmp_path: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("crash_child.py")), str(tmp_path)],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
    )
    assert child.stdout is not None
    acknowledged: list[str] = []
    try:
        assert child.stdout.readline() == b"ready\n"
        while len(acknowledged) < 400:
            line = child.stdout.readline()
            assert line, "the child stopped on its own"
            acknowledged.append(line.decode().strip())
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        # what it printed before it died was acknowledged too; a cut-off last line is not an id
        tail = child.stdout.read().decode()
        child.stdout.close()
    acknowledged += tail.split("\n")[:-1]

    async with await SqliteStore.open(tmp_path) as store:  # the lock died with the process
        for message_id in acknowledged:
            record = await store.get(message_id)
            assert record is not None, f"{message_id} was acknowledged and then lost"
            assert record.state is State.QUEUED
        verify(await store.audit(limit=100_000))


# --- schema --------------------------------------------------------------------------------


async def test_an_empty_file_is_migrated_to_the_current_version(tmp_path: Path) -> None:
    (tmp_path / "gateway.db").touch()
    async with await SqliteStore.open(tmp_path) as store:
        assert store.schema_version == schema.code_version() >= 1
        await store.add_outbound(new_message(), actor="a")
    conn = sqlite3.connect(tmp_path / "gateway.db")
    assert schema.database_version(conn) == schema.code_version()
    conn.close()


async def test_a_database_from_a_newer_gateway_is_refused(tmp_path: Path) -> None:
    async with await SqliteStore.open(tmp_path):
        pass
    conn = sqlite3.connect(tmp_path / "gateway.db")
    conn.execute(f"PRAGMA user_version = {schema.code_version() + 1}")
    conn.close()

    with pytest.raises(GatewayError) as caught:
        await SqliteStore.open(tmp_path)
    assert caught.value.code == "store.too_new"
    assert "gateway.db" in str(caught.value)
    # the refusal released the lock: a fixed gateway can start at once
    conn = sqlite3.connect(tmp_path / "gateway.db")
    conn.execute(f"PRAGMA user_version = {schema.code_version()}")
    conn.close()
    async with await SqliteStore.open(tmp_path):
        pass


async def test_a_failing_migration_leaves_the_previous_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with await SqliteStore.open(tmp_path):
        pass
    broken = schema.Migration(
        schema.code_version() + 1,
        "9999_broken.sql",
        "CREATE TABLE half_done (x INTEGER);\nINSERT INTO no_such_table VALUES (1);",
    )
    known = schema.migrations()
    monkeypatch.setattr(schema, "migrations", lambda: (*known, broken))

    with pytest.raises(GatewayError, match=r"9999_broken\.sql failed") as caught:
        await SqliteStore.open(tmp_path)
    assert caught.value.code == "store.migration_failed"
    conn = sqlite3.connect(tmp_path / "gateway.db")
    assert schema.database_version(conn) == broken.version - 1
    assert not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'half_done'").fetchone()
    conn.close()


def test_migration_scripts_split_into_statements() -> None:
    statements = schema._statements(schema.migrations()[0].sql)
    assert any(s.lstrip().startswith("CREATE TRIGGER") and "END;" in s for s in statements)
    assert all(sqlite3.complete_statement(s) for s in statements)


async def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "gateway.db").write_bytes(b"not a database, just some text" * 100)
    with pytest.raises(GatewayError) as caught:
        await SqliteStore.open(tmp_path)
    assert caught.value.code == "store.unreadable"


# --- the lock file -------------------------------------------------------------------------


async def test_a_second_gateway_on_the_same_folder_is_refused(tmp_path: Path) -> None:
    async with await SqliteStore.open(tmp_path):
        with pytest.raises(GatewayError) as caught:
            await SqliteStore.open(tmp_path)
        assert caught.value.code == "store.locked"
        assert str(tmp_path / "gateway.lock") in str(caught.value)
        assert str(os.getpid()) in str(caught.value)
    async with await SqliteStore.open(tmp_path):  # released on close
        pass


async def test_an_operator_tool_opens_beside_a_running_gateway(tmp_path: Path) -> None:
    async with await SqliteStore.open(tmp_path) as gateway:
        queued = await gateway.add_outbound(new_message(), actor="a")
        async with await SqliteStore.open(tmp_path, lock=False) as tool:
            assert await tool.get(queued.message_id) == queued
            await tool.cancel(queued.message_id, actor="operator:anna")
        assert (await stored(gateway, queued.message_id)).state is State.CANCELLED
        assert verify(await gateway.audit()) == 2


async def test_an_operator_tool_never_migrates_under_a_running_gateway(tmp_path: Path) -> None:
    async with await SqliteStore.open(tmp_path):
        conn = sqlite3.connect(tmp_path / "gateway.db")
        conn.execute("PRAGMA user_version = 0")  # as if the gateway ran an older schema
        conn.close()
        with pytest.raises(GatewayError) as caught:
            await SqliteStore.open(tmp_path, lock=False)
        assert caught.value.code == "store.outdated"


async def test_only_the_lock_holder_clears_abandoned_temporary_blobs(tmp_path: Path) -> None:
    tmp = tmp_path / "blobs" / "tmp"
    tmp.mkdir(parents=True)
    abandoned = tmp / "crashed-put.part"
    abandoned.write_bytes(b"half a file")
    day_ago = abandoned.stat().st_mtime - 86_400
    os.utime(abandoned, (day_ago, day_ago))
    async with await SqliteStore.open(tmp_path, lock=False):
        assert abandoned.exists()  # it may be a live gateway's upload in progress
    async with await SqliteStore.open(tmp_path):
        assert not abandoned.exists()


# --- the audit chain on disk ---------------------------------------------------------------


async def test_tampering_with_one_audit_record_is_found_and_named(tmp_path: Path) -> None:
    async with await SqliteStore.open(tmp_path) as store:
        await realistic_day(store)
        assert verify(await store.audit())
    conn = sqlite3.connect(tmp_path / "gateway.db")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE audit SET detail = 'nothing happened' WHERE seq = 3")
    # someone with the file can drop the guard; the chain still tells
    conn.execute("DROP TRIGGER audit_no_update")
    conn.execute("UPDATE audit SET actor = 'operator:mallory' WHERE seq = 3")
    conn.commit()
    conn.close()

    async with await SqliteStore.open(tmp_path) as store:
        with pytest.raises(AuditError, match="record 3 was changed"):
            verify(await store.audit())


# --- the factory ---------------------------------------------------------------------------


async def test_open_store_from_a_url(tmp_path: Path) -> None:
    store = await open_store("sqlite:///state.db", tmp_path)
    try:
        assert isinstance(store, SqliteStore) and store.path == tmp_path / "state.db"
    finally:
        await store.close()
    absolute = tmp_path / "elsewhere" / "g.db"
    absolute.parent.mkdir()
    store = await open_store(f"sqlite:///{absolute}", tmp_path, lock=False)
    try:
        assert isinstance(store, SqliteStore) and store.path == absolute
        DataDirLock.acquire(tmp_path).release()  # lock=False: the folder is not held
    finally:
        await store.close()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite://", "needs a file"),
        ("sqlite:///:memory:", "needs a file"),
        ("gateway.db", "not a store URL"),
        ("mysql://x/y", "unknown store scheme"),
    ],
)
async def test_open_store_refuses_what_it_cannot_open(
    tmp_path: Path, url: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        await open_store(url, tmp_path)
    assert Direction.OUT  # the module imported cleanly either way
