"""The filesystem blob store: layout, hostile names, temporary files, memory and cancellation."""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
import time
import tracemalloc
from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path

import pytest

from gateway.store.blobs import FilesystemBlobStore, _TempBlob


@pytest.fixture
def blobs(tmp_path: Path) -> FilesystemBlobStore:
    return FilesystemBlobStore(tmp_path / "blobs")


def leftovers(blobs: FilesystemBlobStore) -> list[Path]:
    tmp = blobs.root / "tmp"
    return list(tmp.iterdir()) if tmp.exists() else []


async def test_a_blob_lives_under_two_fan_out_folders(blobs: FilesystemBlobStore) -> None:
    ref = await blobs.put_bytes(b"letter")
    digest = hashlib.sha256(b"letter").hexdigest()
    path = blobs.root / digest[:2] / digest[2:4] / digest
    assert blobs.path(ref.sha256) == path
    assert path.read_bytes() == b"letter"
    assert leftovers(blobs) == []


@pytest.mark.parametrize(
    "name",
    [
        "../../etc/passwd",
        "ab/../../../../etc/passwd",
        "/etc/passwd",
        "A" * 64,  # upper case is not the address form
        "a" * 63,
        "a" * 65,
        "a" * 64 + "\n",
        "",
        "g" * 64,
    ],
)
async def test_a_name_that_is_not_a_digest_never_reaches_the_filesystem(
    blobs: FilesystemBlobStore, name: str
) -> None:
    with pytest.raises(ValueError, match="SHA-256"):
        blobs.path(name)
    with pytest.raises(ValueError, match="SHA-256"):
        await blobs.exists(name)
    with pytest.raises(ValueError, match="SHA-256"):
        blobs.read(name)


async def test_a_missing_blob_fails_when_asked_for_not_when_iterated(
    blobs: FilesystemBlobStore,
) -> None:
    with pytest.raises(KeyError):
        blobs.read("0" * 64)


async def test_a_refused_or_failed_put_leaves_no_temporary_file(
    blobs: FilesystemBlobStore,
) -> None:
    async def big() -> AsyncIterator[bytes]:
        for _ in range(8):
            yield b"z" * (1 << 20)

    with pytest.raises(ValueError):
        await blobs.put(big(), max_size=3 << 20)
    assert leftovers(blobs) == []

    async def broken() -> AsyncIterator[bytes]:
        yield b"y" * (3 << 20)
        raise OSError("disk went away")

    with pytest.raises(OSError, match="disk went away"):
        await blobs.put(broken())
    assert leftovers(blobs) == []


async def test_a_put_cancelled_while_its_source_waits_cleans_up(
    blobs: FilesystemBlobStore,
) -> None:
    started = asyncio.Event()

    async def slow() -> AsyncIterator[bytes]:
        for _ in range(4):
            yield b"c" * (1 << 20)
        started.set()
        await asyncio.sleep(60)
        yield b"never"

    task = asyncio.create_task(blobs.put(slow()))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert leftovers(blobs) == []


async def test_a_put_cancelled_during_a_write_waits_for_the_thread_then_cleans_up(
    blobs: FilesystemBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    entered, release = threading.Event(), threading.Event()
    write = _TempBlob.write

    def blocked_write(self: _TempBlob, chunks: list[bytes]) -> None:
        entered.set()
        release.wait(5)
        write(self, chunks)

    monkeypatch.setattr(_TempBlob, "write", blocked_write)

    async def body() -> AsyncIterator[bytes]:
        for _ in range(4):
            yield b"w" * (1 << 20)

    task = asyncio.create_task(blobs.put(body()))
    await asyncio.to_thread(entered.wait, 5)
    task.cancel()
    await asyncio.sleep(0.05)
    # closing the file now would pull the descriptor from under the writing thread
    assert not task.done()
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert leftovers(blobs) == []


async def test_an_abandoned_read_closes_its_file(blobs: FilesystemBlobStore) -> None:
    ref = await blobs.put_bytes(os.urandom(3 << 20))
    reader = blobs.read(ref.sha256, chunk_size=1 << 20)
    assert isinstance(reader, AsyncGenerator)
    first = await anext(reader)
    assert len(first) == 1 << 20
    await reader.aclose()
    # filterwarnings=error turns an unclosed file (ResourceWarning) into a failure


async def test_a_truncated_file_under_the_name_is_replaced(blobs: FilesystemBlobStore) -> None:
    digest = hashlib.sha256(b"complete content").hexdigest()
    path = blobs.path(digest)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"compl")  # e.g. copied in by hand, or damaged
    ref = await blobs.put_bytes(b"complete content")
    assert ref.sha256 == digest
    assert path.read_bytes() == b"complete content"


def test_only_stale_temporary_files_are_removed(blobs: FilesystemBlobStore) -> None:
    tmp = blobs.root / "tmp"
    tmp.mkdir(parents=True)
    stale, fresh, other = tmp / "old.part", tmp / "new.part", tmp / "notes.txt"
    for path in (stale, fresh, other):
        path.write_bytes(b"x")
    hour_ago = time.time() - 7200
    os.utime(stale, (hour_ago, hour_ago))
    os.utime(other, (hour_ago, hour_ago))
    assert blobs.remove_stale_temp_files() == 1
    assert sorted(p.name for p in tmp.iterdir()) == ["new.part", "notes.txt"]
    assert FilesystemBlobStore(blobs.root / "elsewhere").remove_stale_temp_files() == 0


async def test_a_large_stream_uses_bounded_memory(blobs: FilesystemBlobStore) -> None:
    piece = os.urandom(64 << 10)
    count = 512  # 32 MiB in 64 KiB pieces, as an HTTP body arrives

    async def body() -> AsyncIterator[bytes]:
        for _ in range(count):
            yield piece

    tracemalloc.start()
    try:
        ref = await blobs.put(body())
        read = 0
        async for chunk in blobs.read(ref.sha256):
            read += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert ref.size == read == count * len(piece)
    assert peak < 8 << 20, f"peak {peak / 2**20:.1f} MiB for a {ref.size >> 20} MiB blob"
