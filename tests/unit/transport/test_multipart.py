"""The multipart/related reader against aiohttp's own writer and reader, and hostile bodies.

Bodies are fed to a real aiohttp ``StreamReader`` in pieces of many sizes, as a socket would
deliver them; every malformed body must be refused with ``request.malformed`` and a reason.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import AsyncIterator, Sequence

import aiohttp
import pytest
from aiohttp.streams import StreamReader
from multidict import CIMultiDict

from gateway.transport import multipart
from gateway.transport.wire import WireError
from tests.unit.transport.harness import stream_of

BOUNDARY = "b0f3a1c2d4e5"


async def trickled(stream: StreamReader, pieces: Sequence[bytes]) -> None:
    """Feed one piece at a time, letting the reader run in between (as a socket would)."""
    for piece in pieces:
        stream.feed_data(piece)
        await asyncio.sleep(0)
    stream.feed_eof()


def split(data: bytes, rng: random.Random) -> list[bytes]:
    """``data`` in pieces of random sizes: single bytes, a few hundred, tens of KiB."""
    pieces, at = [], 0
    while at < len(data):
        size = rng.choice((1, 2, 7, 300, 4096, 65536, 200_000))
        pieces.append(data[at : at + size])
        at += size
    return pieces


async def written(parts: Sequence[tuple[str, bytes, bool]], boundary: str = BOUNDARY) -> bytes:
    """What aiohttp's writer sends: (Content-ID, bytes, with Content-Length?) per part."""
    body = aiohttp.MultipartWriter("related", boundary=boundary)
    for content_id, data, sized in parts:
        headers = {"Content-ID": f"<{content_id}>"}
        if sized:
            body.append_payload(aiohttp.payload.BytesPayload(data, headers=headers))
        else:  # of unknown length, as a streamed file goes
            body.append_payload(aiohttp.payload.AsyncIterablePayload(_once(data), headers=headers))
    out = bytearray()

    class Sink:
        async def write(self, chunk: bytes) -> None:
            out.extend(chunk)

    await body.write(Sink())  # type: ignore[arg-type]
    return bytes(out)


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def read_all(
    stream: StreamReader, boundary: str = BOUNDARY, idle: float = 5.0, chunk: int = 1 << 20
) -> list[tuple[str | None, int | None, bytes]]:
    found = []
    async with multipart.parts(stream, boundary.encode(), idle) as parts:
        async for part in parts:
            data = bytearray()
            while piece := await part.read_chunk(chunk):
                data += piece
            found.append((part.content_id, part.size, bytes(data)))
    return found


async def refusal(body: bytes, **kwargs: object) -> WireError:
    with pytest.raises(WireError) as caught:
        await read_all(stream_of([body]), **kwargs)  # type: ignore[arg-type]
    return caught.value


@pytest.mark.parametrize("seed", range(12))
async def test_what_aiohttp_writes_is_read_back_whole_however_it_is_split(seed: int) -> None:
    rng = random.Random(seed)
    parts = [
        (f"part{i}", rng.randbytes(rng.choice((0, 1, 70, 5000, 150_000))), rng.random() < 0.7)
        for i in range(rng.randint(1, 5))
    ]
    # Content that looks like the boundary without being a delimiter must pass untouched.
    parts.append(("tricky", b"--" + BOUNDARY.encode() + b"x\r\n--" + BOUNDARY.encode()[:-1], False))
    body = await written(parts)
    stream = stream_of([], eof=False)
    feeder = asyncio.create_task(trickled(stream, split(body, rng)))
    found = await read_all(stream, chunk=rng.choice((1, 1000, 1 << 20)))
    await feeder
    assert [(cid, data) for cid, _, data in found] == [(cid, data) for cid, data, _ in parts]
    assert [size for _, size, _ in found] == [len(d) if s else None for _, d, s in parts]


async def test_a_body_split_anywhere_reads_the_same() -> None:
    parts = [("a", b"first part", False), ("b", b"\r\n--" + BOUNDARY.encode()[:5], False)]
    parts.append(("c", b"third, sized", True))
    body = await written(parts)
    for at in range(1, len(body)):
        stream = stream_of([], eof=False)
        feeder = asyncio.create_task(trickled(stream, [body[:at], body[at:]]))
        found = await read_all(stream)
        await feeder
        assert [(cid, data) for cid, _, data in found] == [(c, d) for c, d, _ in parts], at


async def test_aiohttps_own_reader_agrees_on_the_same_bodies() -> None:
    rng = random.Random(7)
    parts = [("envelope", os.urandom(5000), True), ("f1", os.urandom(100_000), False)]
    body = await written(parts)
    theirs = aiohttp.MultipartReader(
        CIMultiDict({"Content-Type": f"multipart/related; boundary={BOUNDARY}"}),
        stream_of(split(body, rng)),
    )
    expected = []
    while (part := await theirs.next()) is not None:
        assert isinstance(part, aiohttp.BodyPartReader)
        expected.append((part.headers["Content-ID"][1:-1], bytes(await part.read())))
    ours = await read_all(stream_of(split(body, rng)))
    assert [(cid, data) for cid, _, data in ours] == expected


async def test_preamble_padding_and_epilogue_are_skipped() -> None:
    body = (
        b"This is a preamble.\r\nIt says nothing.\r\n--" + BOUNDARY.encode() + b" \t\r\n"
        b"Content-ID: <a>\r\n\r\nfirst\r\n--" + BOUNDARY.encode() + b"\r\n"
        b"\r\nno headers at all\r\n--" + BOUNDARY.encode() + b"--\r\nan epilogue, ignored"
    )
    assert await read_all(stream_of([body])) == [
        ("a", None, b"first"),
        (None, None, b"no headers at all"),
    ]


async def test_a_long_preamble_in_small_pieces_is_skipped_without_piling_up() -> None:
    body = b"p" * 60_000 + b"\r\n" + await written([("a", b"after the preamble", True)])
    stream = stream_of([], eof=False)
    feeder = asyncio.create_task(
        trickled(stream, [body[i : i + 7] for i in range(0, len(body), 7)])
    )
    assert await read_all(stream) == [("a", 18, b"after the preamble")]
    await feeder


async def test_an_unread_rest_of_a_part_is_skipped_when_the_next_is_asked_for() -> None:
    body = await written(
        [("a", b"x" * 10_000, True), ("b", b"y" * 10_000, False), ("c", b"z", True)]
    )
    async with multipart.parts(stream_of([body]), BOUNDARY.encode(), 5.0) as parts:
        seen = []
        async for part in parts:
            seen.append((part.content_id, await part.read_chunk(3)))
    assert seen == [("a", b"xxx"), ("b", b"yyy"), ("c", b"z")]


async def test_a_body_without_parts_has_none() -> None:
    assert await read_all(stream_of([b"--" + BOUNDARY.encode() + b"--\r\n"])) == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "ends before its first boundary"),
        (b"no boundary anywhere\r\n" * 5000, "no multipart boundary in the first"),
        (b"--" + BOUNDARY.encode() + b"\r\nContent-ID: <a>\r\n\r\nabc", "ends inside part"),
        (b"--" + BOUNDARY.encode() + b"\r\nContent-ID: <a>\r\n", "ends inside a part's headers"),
        (b"--" + BOUNDARY.encode() + b"junk\r\n\r\nabc", "more after the boundary"),
        (b"--" + BOUNDARY.encode() + b" " * 2000 + b"\r\n\r\nabc", "not followed by the end"),
        (b"--" + BOUNDARY.encode() + b"\r\nno colon here\r\n\r\nabc", "malformed header line"),
        (b"--" + BOUNDARY.encode() + b"\r\nA: b\r\n folded\r\n\r\nabc", "malformed header line"),
        (b"--" + BOUNDARY.encode() + b"\r\nX: " + b"a" * 20_000 + b"\r\n\r\n", "over 8,192 bytes"),
        (
            b"--" + BOUNDARY.encode() + b"\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
            "more than one Content-Length",
        ),
        (
            b"--" + BOUNDARY.encode() + b"\r\nContent-Length: -3\r\n\r\nabc",
            "invalid Content-Length",
        ),
        (
            b"--"
            + BOUNDARY.encode()
            + b"\r\nContent-Length: 2\r\n\r\nabc\r\n--"
            + BOUNDARY.encode()
            + b"--",
            "not followed by a multipart boundary",
        ),
        (
            b"--"
            + BOUNDARY.encode()
            + b"\r\nContent-Length: 9\r\n\r\nabc\r\n--"
            + BOUNDARY.encode()
            + b"--",
            "ends inside a part",
        ),
        (
            b"--" + BOUNDARY.encode() + b"\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n",
            "itself multipart",
        ),
        (
            b"--" + BOUNDARY.encode() + b"\r\nContent-Transfer-Encoding: base64\r\n\r\n",
            "is encoded",
        ),
        (b"--" + BOUNDARY.encode() + b"\r\nContent-Encoding: gzip\r\n\r\n", "is encoded"),
        (
            b"--" + BOUNDARY.encode() + b"\r\n\r\nall of it, and no closing boundary",
            "ends inside part",
        ),
    ],
)
async def test_a_malformed_body_is_refused_with_its_reason(body: bytes, reason: str) -> None:
    error = await refusal(body)
    assert error.code == "request.malformed" and error.http_status == 400
    assert reason in str(error)


@pytest.mark.parametrize(
    "parameters", [{}, {"boundary": ""}, {"boundary": "x" * 71}, {"boundary": "é"}]
)
def test_a_missing_or_invalid_boundary_is_refused(parameters: dict[str, str]) -> None:
    with pytest.raises(WireError, match="cannot be read") as caught:
        multipart.boundary_of(parameters)
    assert caught.value.code == "request.malformed"


async def test_a_sender_silent_mid_part_is_refused_with_408_after_the_idle_time() -> None:
    body = await written([("a", os.urandom(50_000), True)])
    stream = stream_of([body[:30_000]], eof=False)
    started = asyncio.get_running_loop().time()
    with pytest.raises(WireError) as caught:
        await asyncio.wait_for(read_all(stream, idle=0.3), 10)
    waited = asyncio.get_running_loop().time() - started
    assert caught.value.code == "request.timeout" and caught.value.http_status == 408
    assert 0.3 <= waited < 2.0


async def test_a_slow_sender_that_never_pauses_for_the_idle_time_is_read_whole() -> None:
    data = os.urandom(20_000)
    body = await written([("a", data, True)])
    stream = stream_of([], eof=False)

    async def trickle() -> None:
        for at in range(0, len(body), 2000):  # ~1 s in all, never 0.3 s without a byte
            await asyncio.sleep(0.1)
            stream.feed_data(body[at : at + 2000])
        stream.feed_eof()

    feeder = asyncio.create_task(trickle())
    assert await read_all(stream, idle=0.3) == [("a", len(data), data)]
    await feeder


async def test_time_spent_between_reads_is_not_the_senders_silence() -> None:
    body = await written([("a", b"first", True), ("b", b"second", True)])
    async with multipart.parts(stream_of([body]), BOUNDARY.encode(), 0.2) as parts:
        contents = []
        async for part in parts:
            await asyncio.sleep(0.5)  # the receiver busy elsewhere (verifying, storing)
            contents.append(await part.read_chunk(100))
    assert contents == [b"first", b"second"]


async def test_data_that_comes_as_the_timer_fires_does_not_time_out_what_follows() -> None:
    # The loop is busy past the deadline; the timer and the data then come in the same turn.
    # The read returns, and the receiver's next wait (its commit) must not be cancelled.
    loop = asyncio.get_running_loop()
    stream = stream_of([b"--" + BOUNDARY.encode() + b"\r\nContent-ID: <a>\r\n\r\nhello"], eof=False)

    def busy_then_data() -> None:
        time.sleep(0.25)
        loop.call_soon(stream.feed_data, b"\r\n--" + BOUNDARY.encode() + b"--\r\n")

    loop.call_later(0.05, busy_then_data)
    async with multipart.parts(stream, BOUNDARY.encode(), 0.2) as parts:
        async for part in parts:
            while await part.read_chunk(100):
                pass
        await asyncio.sleep(0.05)  # as the receiver awaits its commit
        committed = True
    assert committed


async def test_a_timeout_from_the_block_itself_is_not_taken_for_silence() -> None:
    with pytest.raises(TimeoutError):
        async with multipart.parts(stream_of([b""]), BOUNDARY.encode(), 5.0):
            raise TimeoutError("the store timed out")
