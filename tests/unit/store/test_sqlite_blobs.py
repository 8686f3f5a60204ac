"""The SQLite store's blobs: small ones as rows committed with the writer's group, large ones
as files, and files stored before rows existed still found."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import os
from pathlib import Path

from gateway.store.api import SMALL_BLOB, StoredFile, worth_fetching_whole
from gateway.store.blobs import FilesystemBlobStore
from gateway.store.sqlite import SqliteStore
from gateway.store.sqlite.blobs import INLINE_MAX, RECENT_BYTES


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


async def content(store: SqliteStore, sha256: str) -> bytes:
    return b"".join([chunk async for chunk in store.blobs.read(sha256)])


async def test_a_small_blob_is_a_row_that_survives_reopening(tmp_path: Path) -> None:
    data = os.urandom(100 * 1024)
    async with await SqliteStore.open(tmp_path) as store:
        ref = await store.blobs.put_bytes(data)
        assert store.blobs.local_path(ref.sha256) is None  # no file was written for it
        assert files_under(tmp_path / "blobs") == []
    async with await SqliteStore.open(tmp_path) as store:
        assert await store.blobs.exists(ref.sha256)
        assert await content(store, ref.sha256) == data
        assert await store.blobs.small([ref.sha256]) == {ref.sha256: data}


async def test_a_blob_over_the_inline_limit_is_a_file(tmp_path: Path) -> None:
    data = os.urandom(INLINE_MAX + 1)
    async with await SqliteStore.open(tmp_path) as store:
        ref = await store.blobs.put_bytes(data)
        path = store.blobs.local_path(ref.sha256)
        assert path is not None and path.read_bytes() == data
        assert await store.blobs.small([ref.sha256]) == {}
        exactly = await store.blobs.put_bytes(data[:INLINE_MAX])
        assert store.blobs.local_path(exactly.sha256) is None  # the limit itself is a row


async def test_blobs_stored_as_files_before_rows_existed_are_still_read(tmp_path: Path) -> None:
    data = b"a letter from an older gateway"
    legacy = await FilesystemBlobStore(tmp_path / "blobs").put_bytes(data)
    async with await SqliteStore.open(tmp_path) as store:
        assert await store.blobs.exists(legacy.sha256)
        assert await content(store, legacy.sha256) == data
        assert await store.blobs.small([legacy.sha256]) == {}  # a file: read, not fetched
        assert store.blobs.local_path(legacy.sha256) is not None


async def test_concurrent_small_puts_share_commits(tmp_path: Path) -> None:
    async with await SqliteStore.open(tmp_path) as store:
        before = store.writer_stats.commits
        payloads = [os.urandom(4096) for _ in range(64)]
        refs = await asyncio.gather(*(store.blobs.put_bytes(p) for p in payloads))
        assert [r.sha256 for r in refs] == [hashlib.sha256(p).hexdigest() for p in payloads]
        assert store.writer_stats.commits - before < len(payloads)
        found = await store.blobs.small([r.sha256 for r in refs])
        assert [found[r.sha256] for r in refs] == payloads


async def test_storing_a_blob_again_restarts_its_grace_period(tmp_path: Path) -> None:
    async with await SqliteStore.open(tmp_path) as store:
        ref = await store.blobs.put_bytes(b"an attachment sent twice")
        await store._writer.submit(  # stored two days ago
            lambda c: c.execute("UPDATE blob_rows SET stored_at = stored_at - 172800")
        )
        await store.blobs.put_bytes(b"an attachment sent twice")  # ... and again just now
        assert await store.gc_blobs(dt.timedelta(hours=1)) == 0
        assert await store.blobs.exists(ref.sha256)
        await store._writer.submit(
            lambda c: c.execute("UPDATE blob_rows SET stored_at = stored_at - 172800")
        )
        assert await store.gc_blobs(dt.timedelta(hours=1)) == 1
        assert not await store.blobs.exists(ref.sha256)


def test_a_letter_of_many_small_files_is_fetched_whole_only_up_to_the_budget() -> None:
    files = [StoredFile(f"f{n}", "a.pdf", f"{n:064x}", 200 * 1024) for n in range(10)]
    big = StoredFile("big", "scan.tif", "f" * 64, SMALL_BLOB + 1)
    wanted = worth_fetching_whole([big, *files], budget=1024 * 1024)
    assert wanted == [f.sha256 for f in files[:5]]  # the large one is never fetched whole


async def test_blobs_just_stored_are_read_back_without_asking_the_database(
    tmp_path: Path,
) -> None:
    async with await SqliteStore.open(tmp_path) as store:
        queries = 0
        ask = store.blobs._reader.submit

        async def counted(operation):  # type: ignore[no-untyped-def]
            nonlocal queries
            queries += 1
            return await ask(operation)

        store.blobs._reader.submit = counted  # type: ignore[method-assign]
        pdf, sig = os.urandom(100 * 1024), os.urandom(2048)
        refs = [await store.blobs.put_bytes(pdf), await store.blobs.put_bytes(sig)]
        assert await store.blobs.small([r.sha256 for r in refs]) == {
            refs[0].sha256: pdf,
            refs[1].sha256: sig,
        }
        assert await content(store, refs[0].sha256) == pdf
        assert await store.blobs.exists(refs[1].sha256)
        assert queries == 0
        # The copies are bounded: push the first ones out with more than the limit, and they
        # come from the database again, unchanged.
        for _ in range(RECENT_BYTES // INLINE_MAX + 1):
            await store.blobs.put_bytes(os.urandom(INLINE_MAX))
        assert await store.blobs.small([refs[0].sha256]) == {refs[0].sha256: pdf}
        assert queries == 1
