"""End-to-end letters/s and latency between two gateway processes on this machine.

A standard letter: ~2 KB of metadata + a 100 KiB PDF + its 2 KiB ``.p7s``, submitted to A's
local API; done when B has handed it off (its folder exists) AND A holds B's verified receipt
(state ``delivered``). Both gateways run the embedded SQLite store with synchronous=FULL.

1. Throughput: N letters submitted with C concurrent clients; letters/s from the first
   submission to the last letter done.
2. Latency at a fixed offered load (default 100 letters/s): p50/p99 from A's 202 to done.
3. Peak RSS (VmHWM) of each gateway process.

Run: ``.venv/bin/python bench/e2e.py [--letters 2000] [--rate 100] [--seconds 10]``
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sqlite3
import statistics
import tempfile
import threading
import time
from pathlib import Path

import aiohttp

from gateway import localnet
from gateway.intake import FileSpec
from gateway.localnet import Member, Node
from gateway.model import Document, FileRole, Organization, Person, Registration

ROSTOV = Organization(
    "Минстрой Ростовской области",
    full_name="Министерство строительства, архитектуры и территориального развития Ростовской области",
    inn="6163000001",
    region="61",
)
SAKHA = Organization("Минстрой Республики Саха (Якутия)", inn="1435000001", region="14")
# While B is down for the drain measurement, A retries within 0.2 s, so nothing waits on backoff.
FAST_RETRY = "[retry]\ninitial_delay = 0.05\nmax_delay = 0.2\n"
PDF = os.urandom(100 * 1024)
SIG = os.urandom(2048)


def files(n: int) -> list[tuple[FileSpec, bytes]]:
    """Every letter's PDF and signature differ (a unique first block), so every blob is really
    written and fsynced at both gateways — identical files would be stored once and skipped."""
    stamp = n.to_bytes(8, "big") + os.urandom(24)
    return [
        (FileSpec("f1", "письмо.pdf", "application/pdf", FileRole.MAIN), stamp + PDF[32:]),
        (
            FileSpec("s1", "письмо.pdf.sig", "application/pkcs7-signature", FileRole.SIGNATURE,
                     signature_of="f1"),
            stamp + SIG[32:],
        ),
    ]  # fmt: skip


def letter(n: int) -> Document:
    return Document(
        uid=f"bench-{n}",
        kind="Письмо",
        sender=ROSTOV,
        registration=Registration(f"61-01/{n}", dt.date(2026, 11, 21)),
        title="О ходе реализации региональной программы капитального ремонта",
        annotation="О ходе реализации региональной программы капитального ремонта общего имущества "
        "в многоквартирных домах и о предоставлении сведений по форме мониторинга. " * 8,
        addressees=(Person(SAKHA, name="Петров Пётр Петрович", post="Министр"),),
    )


class Watch:
    """Watches B's hand-off folder and A's database for letters that are done.

    The watcher shares the two cores with the gateways, so each poll costs what changed, not
    what exists: A's history rows are read from the last one seen on, and B's folder is asked
    only about letters that A already holds a receipt for (done needs both). A poll therefore
    sees a letter done no later than a full scan would.
    """

    def __init__(self, a: Node, b: Node) -> None:
        self.inbox = b.inbox
        self.db = a.folder / "var" / "gateway.sqlite3"
        self.done_at: dict[str, float] = {}
        self._seen_a: dict[str, float] = {}
        self.receipt_at = self._seen_a  # when A held each receipt
        self._waiting_b: set[str] = set()  # receipt at A, not yet handed off at B
        self._last_history = 0
        self._con: sqlite3.Connection | None = None
        self._polling = threading.Lock()  # the latency run polls from two tasks' threads

    def poll(self) -> None:
        with self._polling:
            self._poll()

    def close(self) -> None:
        if self._con is not None:
            self._con.close()

    def _poll(self) -> None:
        now = time.perf_counter()
        if self._con is None:
            self._con = sqlite3.connect(
                f"file:{self.db}?mode=ro", uri=True, timeout=5, check_same_thread=False
            )
        found = self._con.execute(
            "SELECT id, message_id FROM history WHERE id > ? AND state = 'delivered' ORDER BY id",
            (self._last_history,),
        ).fetchall()
        for row_id, message_id in found:
            self._last_history = row_id
            if message_id not in self._seen_a:
                self._seen_a[message_id] = now
                self._waiting_b.add(message_id)
        for message_id in list(self._waiting_b):
            if os.path.lexists(self.inbox / message_id):
                self._waiting_b.discard(message_id)
                self.done_at.setdefault(message_id, now)

    async def until(self, ids: set[str], timeout: float) -> None:
        end = time.perf_counter() + timeout
        while not ids <= self.done_at.keys():
            if time.perf_counter() > end:
                raise TimeoutError(f"{len(ids - self.done_at.keys())} letters not done")
            await asyncio.to_thread(self.poll)
            await asyncio.sleep(0.005)


def peak_rss_mib(node: Node) -> float:
    assert node.process is not None
    for line in Path(f"/proc/{node.process.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def submit_all(
    session: aiohttp.ClientSession, a: Node, letters: range, clients: int, tag: str
) -> set[str]:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in letters:
        queue.put_nowait(n)
    ids: set[str] = set()

    async def client() -> None:
        while not queue.empty():
            n = queue.get_nowait()
            (message,) = await localnet.submit(session, a, letter(n), files(n), key=f"{tag}-{n}")
            ids.add(message["message_id"])

    await asyncio.gather(*(client() for _ in range(clients)))
    return ids


async def throughput(
    session: aiohttp.ClientSession, a: Node, watch: Watch, letters: int, clients: int
) -> float:
    """Submitting and delivering at once: intake competes with delivery for the same cores."""
    start = time.perf_counter()
    ids = await submit_all(session, a, range(letters), clients, "t")
    await watch.until(ids, timeout=600)
    return letters / (max(watch.done_at[i] for i in ids) - start)


async def drain(
    session: aiohttp.ClientSession, a: Node, b: Node, watch: Watch, letters: int, clients: int
) -> float:
    """From accepted at A: letters queued at A while B is down; B starts; time to all done."""
    b.stop()
    ids = await submit_all(session, a, range(200_000, 200_000 + letters), clients, "d")
    await asyncio.to_thread(b.start)
    start = time.perf_counter()  # A's retry ceiling is 0.2 s here, so it resumes at once
    await watch.until(ids, timeout=600)
    return letters / (max(watch.done_at[i] for i in ids) - start)


async def latency(
    session: aiohttp.ClientSession, a: Node, watch: Watch, rate: float, seconds: float
) -> list[float]:
    accepted: dict[str, float] = {}
    tasks = []

    async def one(n: int) -> None:
        (message,) = await localnet.submit(session, a, letter(n), files(n), key=f"l-{n}")
        accepted[message["message_id"]] = time.perf_counter()

    async def keep_polling() -> None:  # completions must be seen as they happen, not at the end
        while True:
            await asyncio.to_thread(watch.poll)
            await asyncio.sleep(0.005)

    poller = asyncio.create_task(keep_polling())
    start = time.perf_counter()
    try:
        for n in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, start + n / rate - time.perf_counter()))
            tasks.append(asyncio.create_task(one(100_000 + n)))
        await asyncio.gather(*tasks)
        await watch.until(set(accepted), timeout=600)
    finally:
        poller.cancel()
    return sorted(watch.done_at[i] - t for i, t in accepted.items())


def start_pair(folder: Path) -> tuple[Node, Node]:
    """Sender ru-61 (quick retries, see FAST_RETRY) and receiver ru-14, both started."""
    port_a, port_b = localnet.free_ports(2)
    nodes = localnet.build(
        folder,
        [Member("ru-61", "Ростовская область", "6163000001", port_a, extra=FAST_RETRY),
         Member("ru-14", "Республика Саха (Якутия)", "1435000001", port_b)],
    )  # fmt: skip
    a, b = nodes["ru-61"], nodes["ru-14"]
    a.start()
    b.start()
    return a, b


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--letters", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        a, b = start_pair(Path(tmp))
        try:
            watch = Watch(a, b)
            connector = aiohttp.TCPConnector(limit=args.clients + 8)
            async with aiohttp.ClientSession(connector=connector) as session:
                await throughput(session, a, watch, 50, 8)  # warm-up
                rate = await drain(session, a, b, watch, args.letters, args.clients)
                print(f"throughput from accepted at A: {rate:,.0f} letters/s ({args.letters} letters "
                      "queued at A, then B started; done = handed off at B + receipt at A)")  # fmt: skip
                rate = await throughput(session, a, watch, args.letters, args.clients)
                print(f"throughput with intake at the same time: {rate:,.0f} letters/s "
                      f"({args.letters} letters through A's local API, {args.clients} clients)")  # fmt: skip
                delays = await latency(session, a, watch, args.rate, args.seconds)
            p50 = statistics.median(delays) * 1000
            p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))] * 1000
            print(f"latency at {args.rate:.0f} letters/s for {args.seconds:.0f} s: p50 {p50:.1f} ms, p99 {p99:.1f} ms "
                  f"({len(delays)} letters)")  # fmt: skip
            print(f"peak RSS: A {peak_rss_mib(a):.0f} MiB, B {peak_rss_mib(b):.0f} MiB")
            watch.close()
        finally:
            a.stop()
            b.stop()


if __name__ == "__main__":
    asyncio.run(main())
