"""End-to-end letters/s and latency between two gateway processes on this machine.

A standard letter: ~2 KB of metadata + a 100 KiB PDF + its 2 KiB ``.p7s``, submitted to A's
local API; done when B has handed it off (its folder exists) AND A holds B's verified receipt
(state ``delivered``). Both gateways run the embedded SQLite store with synchronous=FULL.

1. Throughput: N letters submitted with C concurrent clients; letters/s from the first
   submission to the last letter done.
2. Latency at a fixed offered load (default 100 letters/s): p50/p99 from A's 202 to done.
3. Peak RSS (VmHWM) of each gateway process.

With ``--store postgresql://HOST/DB`` both participants keep their state (and blobs) in
PostgreSQL instead, each in a fresh schema dropped afterwards; ``--nodes 2`` then runs two
nodes of each participant on their shared database (cluster mode): local systems submit to
A's nodes in turn, and each A node sends to its own B node (as a DNS or load balancer spread
would), so no proxy in the benchmark costs CPU.

Each phase also prints the CPU per letter of each gateway (``/proc/<pid>/stat``) and how much
of the machine was idle or taken by the hypervisor (steal); runs of the same code differ by
±15 % here, so compare medians of ``--repeat N`` drains, run back to back. The run
starts with a baseline: the CPU cost of creating one file where the gateways keep theirs (see
``file_creation_us``: on a filesystem without a journal it depends on recent deletions nearby,
so pick a quiet folder with ``--dir`` and quote the baseline with the figures), and how fast the
machine is right now (``machine_speed``: the same code has run twice as slow here an hour later,
so compare figures only where that line agrees).

Run: ``.venv/bin/python bench/e2e.py [--letters 2000] [--rate 100] [--seconds 10]
[--store postgresql://127.0.0.1/test] [--nodes 2] [--phases drain,intake,latency]
[--dir FOLDER] [--repeat N] [--per-peer N] [--pyspy FOLDER]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime as dt
import itertools
import os
import queue
import shutil
import signal
import sqlite3
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import asyncpg
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

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
    """Watches B's hand-offs and A's database for letters that are done.

    The watcher shares the two cores with the gateways, so each poll costs what changed, not
    what exists or what is still waiting: A's history rows are read from the last one seen on,
    and so are B's (on SQLite): B records a hand-off only after its folder is in place and
    synced, so a letter is never seen done before its folder exists. With PostgreSQL, B's
    folders are asked about the letters that A already holds a receipt for.
    """

    def __init__(self, a: Node, b: Node | list[Node], store: str | None = None) -> None:
        self.inboxes = [node.inbox for node in (b if isinstance(b, list) else [b])]
        self.db = a.folder / "var" / "gateway.sqlite3"
        self._b_cons: list[sqlite3.Connection] = []
        self._b_last = [0] * len(self.inboxes)
        self.store = store  # A's PostgreSQL URL, or None for its SQLite file
        self.done_at: dict[str, float] = {}
        self._seen_a: dict[str, float] = {}
        self.receipt_at = self._seen_a  # when A held each receipt
        self._waiting_b: set[str] = set()  # receipt at A, not yet handed off at B
        self._handed_off_at: dict[str, float] = {}  # when B's history showed each hand-off
        # PostgreSQL hands out row ids before commit, so "rows after the last id seen" could
        # skip a row committed late; there the watcher asks about the letters it waits for.
        self.wanted: set[str] = set()
        self._last_history = 0
        self._con: sqlite3.Connection | None = None
        self._pg: asyncpg.Connection | None = None
        self._polling = asyncio.Lock()  # the latency run polls from two tasks

    async def poll(self) -> None:
        async with self._polling:
            now = time.perf_counter()
            # Inline, not in a thread: a poll takes microseconds, and two thread hops per poll
            # cost the shared cores more than the poll itself.
            found = await self._delivered_pg() if self.store else self._delivered()
            for row_id, message_id in found:
                self._last_history = max(self._last_history, row_id)
                if message_id not in self._seen_a:
                    self._seen_a[message_id] = now
                    if message_id in self._handed_off_at:
                        self.done_at.setdefault(message_id, now)
                    else:
                        self._waiting_b.add(message_id)
            if self.store:
                self._check_b(now)
            else:
                self._handed_off(now)

    async def close(self) -> None:
        if self._con is not None:
            self._con.close()
        for con in self._b_cons:
            con.close()
        if self._pg is not None:
            await self._pg.close()

    def _delivered(self) -> list[tuple[int, str]]:
        if self._con is None:
            self._con = read_only(self.db)
        return history_since(self._con, self._last_history, "delivered")

    async def _delivered_pg(self) -> list[tuple[int, str]]:
        if self._pg is None:
            self._pg = await asyncpg.connect(self.store)
        pending = list(self.wanted - self._seen_a.keys())
        if not pending:
            return []
        rows = await self._pg.fetch(
            "SELECT message_id FROM messages WHERE message_id = ANY($1::text[])"
            " AND state = 'delivered'",
            pending,
        )
        return [(0, row["message_id"]) for row in rows]

    def _handed_off(self, now: float) -> None:
        if not self._b_cons:
            self._b_cons = [read_only(inbox.parent / "gateway.sqlite3") for inbox in self.inboxes]
        for n, con in enumerate(self._b_cons):
            for row_id, message_id in history_since(con, self._b_last[n], "handed-off"):
                self._b_last[n] = row_id
                self._handed_off_at.setdefault(message_id, now)
                if message_id in self._waiting_b:
                    self._waiting_b.discard(message_id)
                    self.done_at.setdefault(message_id, now)

    def _check_b(self, now: float) -> None:
        for message_id in list(self._waiting_b):
            if any(os.path.lexists(inbox / message_id) for inbox in self.inboxes):
                self._waiting_b.discard(message_id)
                self.done_at.setdefault(message_id, now)

    async def until(self, ids: set[str], timeout: float) -> None:
        self.wanted |= ids
        end = time.perf_counter() + timeout
        while not ids <= self.done_at.keys():
            if time.perf_counter() > end:
                raise TimeoutError(f"{len(ids - self.done_at.keys())} letters not done")
            await self.poll()
            await asyncio.sleep(0.005)


def read_only(db: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)


def history_since(con: sqlite3.Connection, after: int, state: str) -> list[tuple[int, str]]:
    """(row id, message id) of the history rows after ``after`` that reached ``state``."""
    return con.execute(
        "SELECT id, message_id FROM history WHERE id > ? AND state = ? ORDER BY id",
        (after, state),
    ).fetchall()


def file_creation_us(folder: Path, count: int = 200) -> float:
    """CPU microseconds to create one empty file in ``folder``: the baseline for the hand-off,
    which creates five per letter. On ext4 without a journal, creating a file scans past every
    inode of its block group deleted in the last minute or more (``recently_deleted`` in the
    kernel), so a folder near thousands of fresh deletions (an earlier run's clean-up, a test
    suite's temporary folders) makes each creation cost hundreds of microseconds."""
    probe = folder / "file-creation-probe"
    probe.mkdir()
    start = time.process_time()
    for n in range(count):
        os.close(os.open(probe / str(n), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    return (time.process_time() - start) / count * 1e6


def machine_speed(folder: Path) -> str:
    """How fast this machine is right now, on four things a letter does: Python bytecode, a C
    signature check, writes into the page cache, and a wake-up of another thread. The same code
    here has run twice as slow an hour later (a shared virtual machine), so only figures taken
    when these agree compare."""
    start = time.process_time()
    sum(len(str(n)) for n in range(300_000))
    python = 300_000 / (time.process_time() - start) / 1e6

    key = ec.generate_private_key(ec.SECP256R1())
    signature = key.sign(b"x" * 64, ec.ECDSA(hashes.SHA256()))
    public, count, start = key.public_key(), 0, time.process_time()
    while time.process_time() - start < 0.3:
        public.verify(signature, b"x" * 64, ec.ECDSA(hashes.SHA256()))
        count += 1
    verify = count / (time.process_time() - start)

    probe, chunk = folder / "page-cache-probe", os.urandom(256 * 1024)
    start = time.process_time()
    with probe.open("wb") as out:
        for _ in range(128):  # 32 MiB, never synced: the cost of copying into the page cache
            out.write(chunk)
    copy = 32 / (time.process_time() - start)
    probe.unlink()

    ping: queue.SimpleQueue[int] = queue.SimpleQueue()
    pong: queue.SimpleQueue[int] = queue.SimpleQueue()

    def echo() -> None:
        while (n := ping.get()) >= 0:
            pong.put(n)

    thread = threading.Thread(target=echo)
    thread.start()
    start = time.perf_counter()
    for n in range(2000):
        ping.put(n)
        pong.get()
    hop = (time.perf_counter() - start) / 2000 * 1e6
    ping.put(-1)
    thread.join()
    return (f"machine: Python {python:.1f} M steps/s, ECDSA P-256 verify {verify:,.0f}/s, "
            f"page-cache writes {copy:,.0f} MB/s, thread round trip {hop:.0f} µs")  # fmt: skip


def cpu_seconds(node: Node) -> tuple[float, float]:
    """User and system CPU seconds the node's process has used so far."""
    assert node.process is not None
    fields = Path(f"/proc/{node.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def machine_ticks() -> list[int]:
    """The machine's CPU time so far, from ``/proc/stat``: user, nice, system, idle, iowait,
    irq, softirq, steal (in clock ticks, all cores together)."""
    return [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]


class CpuMeter:
    """CPU per letter of each gateway over one phase (from ``/proc/<pid>/stat``), of the
    benchmark itself (its local-system clients and its watcher share the same two cores), and
    how busy the machine was: idle left over, and time the hypervisor took away (steal), which
    varies from run to run on a shared virtual machine."""

    def __init__(self, nodes: dict[str, list[Node]]) -> None:
        self.nodes = nodes
        self.start = {name: [cpu_seconds(n) for n in group] for name, group in nodes.items()}
        self.own = sum(os.times()[:2])
        self.machine = machine_ticks()

    def report(self, letters: int) -> str:
        parts = []
        for name, group in self.nodes.items():
            user = sum(
                cpu_seconds(n)[0] - s[0] for n, s in zip(group, self.start[name], strict=True)
            )
            system = sum(
                cpu_seconds(n)[1] - s[1] for n, s in zip(group, self.start[name], strict=True)
            )
            parts.append(f"{name} {(user + system) / letters * 1000:.2f} ms "
                         f"({user / letters * 1000:.2f} user + {system / letters * 1000:.2f} system)")  # fmt: skip
        own = (sum(os.times()[:2]) - self.own) / letters * 1000
        ticks = [now - then for now, then in zip(machine_ticks(), self.machine, strict=True)]
        total = sum(ticks) or 1
        idle, steal = (ticks[3] + ticks[4]) / total * 100, ticks[7] / total * 100
        return ("CPU per letter: " + ", ".join(parts) + f"; the benchmark {own:.2f} ms; "
                f"machine {idle:.0f}% idle, {steal:.0f}% stolen by the hypervisor")  # fmt: skip


@contextlib.contextmanager
def profiled(nodes: list[Node], folder: str | None) -> Iterator[None]:
    """py-spy records each node (raw collapsed stacks, all threads) for the phase, if asked."""
    if folder is None:
        yield
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    spies = []
    for node in nodes:
        assert node.process is not None
        out = Path(folder) / f"{node.member.id}-{node.process.pid}.txt"
        spies.append(subprocess.Popen(
            ["py-spy", "record", "--pid", str(node.process.pid), "--rate", "250", "--format", "raw",
             "--threads", "--nonblocking", "-o", str(out)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ))  # fmt: skip
    try:
        yield
    finally:
        for spy in spies:
            spy.send_signal(signal.SIGINT)
        for spy in spies:
            spy.wait(timeout=60)


def peak_rss_mib(node: Node) -> float:
    assert node.process is not None
    for line in Path(f"/proc/{node.process.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def submit_all(
    session: aiohttp.ClientSession, a: list[Node], letters: range, clients: int, tag: str
) -> set[str]:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in letters:
        queue.put_nowait(n)
    ids: set[str] = set()

    async def client() -> None:
        while not queue.empty():
            n = queue.get_nowait()
            node = a[n % len(a)]  # a load balancer's round robin over A's nodes
            (message,) = await localnet.submit(session, node, letter(n), files(n), key=f"{tag}-{n}")
            ids.add(message["message_id"])

    await asyncio.gather(*(client() for _ in range(clients)))
    return ids


async def throughput(
    session: aiohttp.ClientSession,
    a: list[Node],
    b: list[Node],
    watch: Watch,
    letters: int,
    clients: int,
    tag: str = "t",
) -> float:
    """Submitting and delivering at once: intake competes with delivery for the same cores."""
    start = time.perf_counter()
    meter = CpuMeter({"A": a, "B": b})
    ids = await submit_all(session, a, range(letters), clients, tag)
    await watch.until(ids, timeout=600)
    if tag != "w":
        print(meter.report(letters))
    return letters / (max(watch.done_at[i] for i in ids) - start)


async def drain(
    session: aiohttp.ClientSession,
    a: list[Node],
    b: list[Node],
    watch: Watch,
    letters: int,
    clients: int,
    pyspy: str | None = None,
    first: int = 200_000,
) -> float:
    """From accepted at A: letters queued at A while B is down; B starts; time to all done."""
    for node in b:
        node.stop()
    ids = await submit_all(session, a, range(first, first + letters), clients, "d")
    await asyncio.gather(*(asyncio.to_thread(node.start) for node in b))
    start = time.perf_counter()  # A's retry ceiling is 0.2 s here, so it resumes at once
    meter = CpuMeter({"A": a, "B": b})
    with profiled([*a, *b], pyspy):
        await watch.until(ids, timeout=600)
    print(meter.report(letters))
    return letters / (max(watch.done_at[i] for i in ids) - start)


async def latency(
    session: aiohttp.ClientSession, a: list[Node], watch: Watch, rate: float, seconds: float
) -> list[float]:
    accepted: dict[str, float] = {}
    tasks = []
    turn = itertools.count()

    async def one(n: int) -> None:
        node = a[next(turn) % len(a)]
        (message,) = await localnet.submit(session, node, letter(n), files(n), key=f"l-{n}")
        accepted[message["message_id"]] = time.perf_counter()
        watch.wanted.add(message["message_id"])

    async def keep_polling() -> None:  # completions must be seen as they happen, not at the end
        while True:
            await watch.poll()
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
    receipts = sorted(watch.receipt_at[i] - t for i, t in accepted.items())
    print(f"latency to the receipt back at A (the hand-off at B included below): p50 {statistics.median(receipts) * 1000:.1f} "
          f"ms, p99 {receipts[min(len(receipts) - 1, int(len(receipts) * 0.99))] * 1000:.1f} ms")  # fmt: skip
    return sorted(watch.done_at[i] - t for i, t in accepted.items())


def use_store(node: Node, url: str) -> None:
    text = node.config.read_text(encoding="utf-8")
    node.config.write_text(text.replace("[gateway]\n", f'[gateway]\nstore = "{url}"\n', 1))


def another_node(node: Node, name: str, port: int, participants: str | None = None) -> Node:
    """A second node of ``node``'s participant: same keys and configuration, own port and
    data folder; ``participants`` names another participants file (where B is another node)."""
    folder = node.folder.parent / name
    shutil.copytree(node.folder, folder, ignore=shutil.ignore_patterns("var", "*.log"))
    config = folder / "gateway.toml"
    text = config.read_text(encoding="utf-8").replace(
        f'listen = "127.0.0.1:{node.member.port}"', f'listen = "127.0.0.1:{port}"'
    )
    if participants is not None:
        text = text.replace(
            'participants = "../participants.toml"', f'participants = "../{participants}"'
        )
    config.write_text(text, encoding="utf-8")
    return Node(dataclasses.replace(node.member, port=port), folder, node.token)


def start_network(
    folder: Path, stores: tuple[str, str] | None, count: int, per_peer: int | None = None
) -> tuple[list[Node], list[Node]]:
    """Sender ru-61 (quick retries, see FAST_RETRY) and receiver ru-14, ``count`` nodes each
    (more than one only on PostgreSQL stores), all started. ``per_peer``: how many letters
    A sends to B at once (the gateway's default if None)."""
    port_a, port_b, *more = localnet.free_ports(2 + 2 * (count - 1))
    retry = FAST_RETRY + ("" if per_peer is None else f"per_peer_concurrency = {per_peer}\n")
    nodes = localnet.build(
        folder,
        [Member("ru-61", "Ростовская область", "6163000001", port_a, extra=retry),
         Member("ru-14", "Республика Саха (Якутия)", "1435000001", port_b)],
    )  # fmt: skip
    a, b = [nodes["ru-61"]], [nodes["ru-14"]]
    if stores is not None:
        use_store(a[0], stores[0])
        use_store(b[0], stores[1])
    for i in range(1, count):
        port_a_i, port_b_i = more[2 * (i - 1)], more[2 * (i - 1) + 1]
        b.append(another_node(b[0], f"ru-14-node{i + 1}", port_b_i))
        # This A node sends to that B node: its own participants file names B's other address.
        shared = (folder / "participants.toml").read_text(encoding="utf-8")
        (folder / f"participants-{i + 1}.toml").write_text(
            shared.replace(f"127.0.0.1:{port_b}/", f"127.0.0.1:{port_b_i}/"), encoding="utf-8"
        )
        a.append(another_node(a[0], f"ru-61-node{i + 1}", port_a_i, f"participants-{i + 1}.toml"))
    for node in (*a, *b):
        node.start()
    return a, b


def start_pair(folder: Path) -> tuple[Node, Node]:
    """Sender ru-61 and receiver ru-14, one node each on SQLite, both started."""
    a, b = start_network(folder, None, 1)
    return a[0], b[0]


@contextlib.asynccontextmanager
async def schemas(url: str | None) -> AsyncIterator[tuple[str, str] | None]:
    """Two fresh schemas (A's and B's) on the server at ``url``, dropped afterwards."""
    if url is None:
        yield None
        return
    names = [f"gwbench_{side}_{uuid.uuid4().hex[:8]}" for side in "ab"]
    conn = await asyncpg.connect(url)
    try:
        for name in names:
            await conn.execute(f'CREATE SCHEMA "{name}"')
        sep = "&" if "?" in url else "?"
        yield f"{url}{sep}search_path={names[0]}", f"{url}{sep}search_path={names[1]}"
    finally:
        for name in names:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        await conn.close()


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--letters", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--store", default="sqlite", help="sqlite, or postgresql://HOST/DB")
    parser.add_argument("--nodes", type=int, default=1, help="nodes per participant (PostgreSQL)")
    parser.add_argument(
        "--phases",
        default="drain,intake,latency",
        help="which measurements to run, comma-separated (default: all three)",
    )
    parser.add_argument(
        "--dir",
        type=Path,
        help="where the gateways' folders go (default: the system's temporary folder)",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="drain this many times, and print the median"
    )
    parser.add_argument(
        "--per-peer",
        type=int,
        metavar="N",
        help="letters A sends to B at once ([retry] per_peer_concurrency; default: the gateway's)",
    )
    parser.add_argument(
        "--pyspy", metavar="DIR", help="record each gateway with py-spy during the drain, into DIR"
    )
    args = parser.parse_args()
    pg = None if args.store == "sqlite" else args.store
    if pg is None and args.nodes != 1:
        parser.error("several nodes of one participant need --store postgresql://…")
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        print(
            f"baseline: creating a file in {tmp} costs {file_creation_us(Path(tmp)):.0f} µs of CPU"
        )
        print(machine_speed(Path(tmp)))
        async with schemas(pg) as stores:
            a, b = start_network(Path(tmp), stores, args.nodes, args.per_peer)
            try:
                print(
                    f"store: {'SQLite' if pg is None else 'PostgreSQL'}, {args.nodes} node(s) per participant"
                )
                await measure(a, b, Watch(a[0], b, stores[0] if stores else None), args)
            finally:
                for node in (*a, *b):
                    node.stop()


async def measure(a: list[Node], b: list[Node], watch: Watch, args: argparse.Namespace) -> None:
    connector = aiohttp.TCPConnector(limit=args.clients + 8)
    async with aiohttp.ClientSession(connector=connector) as session:
        phases = set(args.phases.split(","))
        await throughput(session, a, b, watch, 50, 8, "w")  # warm-up (keys of its own)
        if "drain" in phases:
            rates = []
            for run in range(args.repeat):
                first = 200_000 + run * args.letters
                rates.append(await drain(
                    session, a, b, watch, args.letters, args.clients, args.pyspy, first
                ))  # fmt: skip
                print(f"throughput from accepted at A: {rates[-1]:,.0f} letters/s ({args.letters} "
                      "letters queued at A, then B started; done = handed off at B + receipt "
                      "at A)")  # fmt: skip
            if len(rates) > 1:
                print(f"drain over {len(rates)} runs: median {statistics.median(rates):,.0f} "
                      f"letters/s, {min(rates):,.0f}–{max(rates):,.0f}")  # fmt: skip
        if "intake" in phases:
            rate = await throughput(session, a, b, watch, args.letters, args.clients)
            print(f"throughput with intake at the same time: {rate:,.0f} letters/s "
                  f"({args.letters} letters through A's local API, {args.clients} clients)")  # fmt: skip
        if "latency" not in phases:
            await watch.close()
            return
        delays = await latency(session, a, watch, args.rate, args.seconds)
    p50 = statistics.median(delays) * 1000
    p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))] * 1000
    print(f"latency at {args.rate:.0f} letters/s for {args.seconds:.0f} s: p50 {p50:.1f} ms, p99 {p99:.1f} ms "
          f"({len(delays)} letters)")  # fmt: skip
    rss_a = ", ".join(f"{peak_rss_mib(n):.0f}" for n in a)
    rss_b = ", ".join(f"{peak_rss_mib(n):.0f}" for n in b)
    print(f"peak RSS: A {rss_a} MiB, B {rss_b} MiB")
    await watch.close()


if __name__ == "__main__":
    asyncio.run(main())
