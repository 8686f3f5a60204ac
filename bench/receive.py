"""The receiving gateway's work per letter, in one process: for changes too small for e2e.

Standard letters (a 100 KiB PDF and its 2 KiB ``.p7s``) are sealed by ru-61 beforehand (the
transport tests' demo network), then each one's request body goes through the wire endpoint's
multipart reader and ``Receiver.receive`` into a real SQLite store (FULL sync), 64 at a time:
verification, the files, the signed receipt and the commit, without HTTP or the hand-off.
Printed: letters/s and CPU per letter (all threads).

``bench/e2e.py`` varies by ±15 % between runs here; for a change of a few per cent, count
instructions instead, which repeat to within 1 %::

    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=/tmp/cg.%p \\
        .venv/bin/python bench/receive.py --letters 100 --rounds 1 --callgrind

``--callgrind`` switches counting on for the receiving phase only (``callgrind_control``);
divide valgrind's "Collected" by the letters. About 3 M instructions per letter are SHA-256,
which valgrind runs without the CPU's SHA extensions.

Run: ``.venv/bin/python bench/receive.py [--letters 1500] [--rounds 3]``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from gateway.receiver import Receiver
from gateway.store.api import MessageRecord
from gateway.store.blobs import FilesystemBlobStore
from gateway.store.sqlite import SqliteStore
from gateway.transport import multipart
from tests.unit.transport.harness import Network, letter, outbound, stream_of

CONCURRENT = 64


def request_body(record: MessageRecord, files: list[tuple[str, bytes]]) -> tuple[bytes, bytes]:
    boundary = uuid.uuid4().hex
    out = bytearray()
    for content_id, data in [
        ("envelope", record.envelope),
        ("envelope.p7s", record.signature),
        *files,
    ]:
        out += (
            f"--{boundary}\r\nContent-Type: application/octet-stream\r\n"
            f"Content-ID: <{content_id}>\r\nContent-Length: {len(data)}\r\n\r\n"
        ).encode()
        out += data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return boundary.encode(), bytes(out)


async def one_round(letters: int, folder: Path, callgrind: bool) -> None:
    network = Network.build()
    sender_blobs = FilesystemBlobStore(folder / "a")
    bodies = []
    for _ in range(letters):
        pdf, p7s = os.urandom(102_400), os.urandom(2048)
        record = await outbound(
            network, sender_blobs, letter([("f1", pdf), ("s1", p7s)]), [pdf, p7s]
        )
        bodies.append(request_body(record, [("f1", pdf), ("s1", p7s)]))
    async with await SqliteStore.open(folder / "b") as store:
        receiver = Receiver("ru-14", network.signers["ru-14"], network.trust, store)
        waiting = list(reversed(bodies))

        async def worker() -> None:
            while waiting:
                boundary, data = waiting.pop()
                stream = stream_of(
                    [data[at : at + (1 << 16)] for at in range(0, len(data), 1 << 16)]
                )
                async with multipart.parts(stream, boundary, 60) as parts:
                    await receiver.receive(parts)

        if callgrind:
            subprocess.run(["callgrind_control", "-i", "on", str(os.getpid())], check=False)
        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker() for _ in range(CONCURRENT)))
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        if callgrind:
            subprocess.run(["callgrind_control", "-i", "off", str(os.getpid())], check=False)
    print(f"{letters / wall:,.0f} letters/s, {cpu / letters * 1e3:.3f} ms of CPU per letter")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--letters", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--callgrind", action="store_true", help="count the receiving only")
    parser.add_argument("--dir", help="where the stores go (default: the temporary folder)")
    args = parser.parse_args()
    # The gateway logs a line per letter, as it does in production, to nowhere here.
    logging.basicConfig(level=logging.INFO, stream=open(os.devnull, "w"))  # noqa: SIM115
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory(dir=args.dir) as folder:
            asyncio.run(one_round(args.letters, Path(folder), args.callgrind))


if __name__ == "__main__":
    main()
