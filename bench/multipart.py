"""Reading a standard letter's request body: the gateway's multipart reader against aiohttp's.

The body of one standard letter (a 5 KB envelope, its 1.5 KB signature, a 100 KiB PDF and its
2 KiB ``.p7s``, each part with its Content-Length, as the gateway's client sends them) is fed
to a real aiohttp ``StreamReader`` in 64 KiB pieces, as the socket delivers it, and read part
by part with 1 MiB reads:

- **aiohttp**: ``MultipartReader`` with ``asyncio.timeout`` around every call, as the wire
  endpoint did before (``gateway/transport/multipart.py`` says why it changed);
- **gateway**: ``gateway.transport.multipart.parts``, as the endpoint reads now;
- **stream only**: the same pieces read straight from the stream, the floor under both.

Printed: CPU microseconds per letter (``time.process_time``), best of three rounds.
Run: ``.venv/bin/python bench/multipart.py [--letters 3000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable

from aiohttp import BodyPartReader, MultipartReader
from multidict import CIMultiDict

from gateway.transport import multipart
from gateway.transport.wire import CHUNK
from tests.unit.transport.harness import stream_of

SIZES = {"envelope": 5000, "envelope.p7s": 1500, "f1": 102_400, "s1": 2048}
PIECE = 1 << 16


def body() -> tuple[str, bytes]:
    boundary = uuid.uuid4().hex
    out = bytearray()
    for content_id, size in SIZES.items():
        out += (
            f"--{boundary}\r\nContent-Type: application/octet-stream\r\n"
            f"Content-ID: <{content_id}>\r\nContent-Length: {size}\r\n\r\n"
        ).encode()
        out += os.urandom(size) + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return boundary, bytes(out)


def pieces(data: bytes) -> list[bytes]:
    return [data[at : at + PIECE] for at in range(0, len(data), PIECE)]


async def with_aiohttp(boundary: str, data: bytes) -> int:
    headers = CIMultiDict({"Content-Type": f"multipart/related; boundary={boundary}"})
    reader = MultipartReader(headers, stream_of(pieces(data)))
    total = 0
    while True:
        async with asyncio.timeout(60):
            part = await reader.next()
        if part is None:
            return total
        assert isinstance(part, BodyPartReader)
        _ = (part.headers.get("Content-ID"), part.headers.get("Content-Length"))
        while True:
            async with asyncio.timeout(60):
                chunk = await part.read_chunk(CHUNK)
            if not chunk:
                break
            total += len(chunk)


async def with_gateway(boundary: str, data: bytes) -> int:
    total = 0
    async with multipart.parts(stream_of(pieces(data)), boundary.encode(), 60) as parts:
        async for part in parts:
            while chunk := await part.read_chunk(CHUNK):
                total += len(chunk)
    return total


async def stream_only(boundary: str, data: bytes) -> int:
    stream, total = stream_of(pieces(data)), 0
    while chunk := await stream.read(CHUNK):
        total += len(chunk)
    return total


async def main(letters: int) -> None:
    boundary, data = body()
    readers: dict[str, Callable[[str, bytes], Awaitable[int]]] = {
        "aiohttp MultipartReader": with_aiohttp,
        "gateway reader": with_gateway,
        "stream only": stream_only,
    }
    best: dict[str, float] = {}
    for _ in range(3):
        for name, read in readers.items():
            assert await read(boundary, data) >= sum(SIZES.values())
            started = time.process_time()
            for _ in range(letters):
                await read(boundary, data)
            spent = (time.process_time() - started) / letters * 1e6
            best[name] = min(best.get(name, spent), spent)
    for name, micros in best.items():
        print(f"{name:>24}: {micros:6.1f} µs of CPU per letter")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--letters", type=int, default=3000)
    asyncio.run(main(parser.parse_args().letters))
