"""Contract: the store's blobs — streamed in and out, content-addressed, size-limited."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator

import pytest

from gateway.store.api import SMALL_BLOB, Store


async def stream(data: bytes, piece: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), piece):
        yield data[start : start + piece]


async def read_all(store: Store, sha256: str, chunk_size: int = 1 << 20) -> list[bytes]:
    return [chunk async for chunk in store.blobs.read(sha256, chunk_size=chunk_size)]


@pytest.mark.parametrize("size", [0, 1, 65_536, 3 * (1 << 20) + 17])
async def test_a_blob_round_trips_under_its_sha256(store: Store, size: int) -> None:
    data = os.urandom(size)
    ref = await store.blobs.put(stream(data, 8_192))

    assert ref.sha256 == hashlib.sha256(data).hexdigest()
    assert ref.size == size
    assert await store.blobs.exists(ref.sha256)
    chunks = await read_all(store, ref.sha256)
    assert b"".join(chunks) == data
    assert all(len(chunk) <= 1 << 20 for chunk in chunks)


async def test_reading_honours_the_chunk_size(store: Store) -> None:
    ref = await store.blobs.put_bytes(b"x" * 10_000)
    chunks = await read_all(store, ref.sha256, chunk_size=4_096)
    assert [len(chunk) for chunk in chunks] == [4_096, 4_096, 1_808]


async def test_the_same_content_twice_is_one_blob(store: Store) -> None:
    first = await store.blobs.put_bytes(b"same letter")
    second = await store.blobs.put(stream(b"same letter", 3))
    assert first == second
    assert b"".join(await read_all(store, first.sha256)) == b"same letter"


async def test_over_the_size_limit_nothing_is_kept(store: Store) -> None:
    data = os.urandom(5 * (1 << 20))
    with pytest.raises(ValueError, match="limit"):
        await store.blobs.put(stream(data, 65_536), max_size=len(data) - 1)
    assert not await store.blobs.exists(hashlib.sha256(data).hexdigest())
    exact = await store.blobs.put(stream(data, 65_536), max_size=len(data))
    assert exact.size == len(data)


async def test_an_unknown_blob_is_a_key_error(store: Store) -> None:
    unknown = hashlib.sha256(b"never stored").hexdigest()
    assert not await store.blobs.exists(unknown)
    with pytest.raises(KeyError):
        await read_all(store, unknown)


async def test_a_failing_source_leaves_nothing_behind(store: Store) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield b"a" * (2 << 20)
        raise ConnectionResetError("peer went away")

    with pytest.raises(ConnectionResetError):
        await store.blobs.put(broken())
    assert not await store.blobs.exists(hashlib.sha256(b"a" * (2 << 20)).hexdigest())


async def test_small_blobs_come_whole_in_one_call_large_and_unknown_ones_do_not(
    store: Store,
) -> None:
    letter = await store.blobs.put_bytes(os.urandom(100 * 1024))
    signature = await store.blobs.put_bytes(os.urandom(2048))
    empty = await store.blobs.put_bytes(b"")
    large = await store.blobs.put(stream(os.urandom(SMALL_BLOB + 1), 65_536))
    unknown = hashlib.sha256(b"never stored").hexdigest()

    found = await store.blobs.small(
        [letter.sha256, signature.sha256, empty.sha256, large.sha256, unknown, letter.sha256]
    )

    # A store may keep any blob as a file (then it is absent here); what it answers is whole.
    assert large.sha256 not in found and unknown not in found
    for ref in (letter, signature, empty):
        if ref.sha256 in found:
            assert found[ref.sha256] == b"".join(await read_all(store, ref.sha256))
            assert len(found[ref.sha256]) == ref.size
    assert await store.blobs.small([]) == {}
