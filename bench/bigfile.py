"""One large attachment from gateway A to gateway B: MB/s and each process's peak RSS.

The file (default 2 GiB of random data) is streamed into A's local API from disk, stored as a
blob, sent to B as one multipart part, streamed into B's blob store while hashing, handed off
into B's folder, and receipted. Done = B's copy exists and A has the receipt. Targets (DESIGN
§5, issue 3): peak RSS < 150 MB per gateway process, >= 200 MB/s.

Run: ``.venv/bin/python bench/bigfile.py [--mib 2048]``
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import tempfile
import time
from pathlib import Path

import aiohttp
from e2e import (  # bench/ is the script's folder, first on sys.path
    Watch,
    letter,
    peak_rss_mib,
    start_pair,
)

from gateway import localnet
from gateway.intake import FileSpec
from gateway.model import FileRole


def make_file(path: Path, mib: int) -> str:
    digest = hashlib.sha256()
    block = os.urandom(1 << 20)
    with path.open("wb") as fh:
        for i in range(mib):
            chunk = block[i % 256 :] + block[: i % 256]  # different blocks, cheaply
            fh.write(chunk)
            digest.update(chunk)
    return digest.hexdigest()


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mib", type=int, default=2048)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        big = Path(tmp) / "scan.pdf"
        print(f"writing a {args.mib:,} MiB test file …", flush=True)
        expected = make_file(big, args.mib)
        a, b = start_pair(Path(tmp) / "net")
        try:
            watch = Watch(a, b)
            timeout = aiohttp.ClientTimeout(total=None, sock_read=600)
            async with aiohttp.ClientSession(timeout=timeout) as session:
                spec = FileSpec("f1", "scan.pdf", "application/pdf", FileRole.MAIN)
                start = time.perf_counter()
                (message,) = await localnet.submit(session, a, letter(1), [(spec, big)], key="big")
                accepted = time.perf_counter()
                await watch.until({message["message_id"]}, timeout=3600)
                done = watch.done_at[message["message_id"]]
                receipted = watch.receipt_at[message["message_id"]]
            size = args.mib * (1 << 20)
            copy = b.inbox / message["message_id"] / "scan.pdf"
            with copy.open("rb") as fh:
                actual = hashlib.file_digest(fh, "sha256").hexdigest()
            print(f"file: {args.mib:,} MiB; arrived byte-identical: {actual == expected}")
            print(
                f"intake into A (local API, stored + fsynced): {size / (accepted - start) / 1e6:,.0f} MB/s"
            )
            print(
                "A -> B until A holds B's receipt (send, hash, store, fsync, verify): "
                f"{size / (receipted - accepted) / 1e6:,.0f} MB/s"
            )
            print(
                "A -> B until B has also handed it off (a second copy, fsynced): "
                f"{size / (done - accepted) / 1e6:,.0f} MB/s"
            )
            print(f"end to end: {size / (done - start) / 1e6:,.0f} MB/s")
            print(
                f"peak RSS: A {peak_rss_mib(a):.0f} MiB, B {peak_rss_mib(b):.0f} MiB (target < 150 MB each)"
            )
        finally:
            a.stop()
            b.stop()


if __name__ == "__main__":
    asyncio.run(main())
