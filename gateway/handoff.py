"""Hand-off: accepted messages go to the local system exactly once (DESIGN §3 step 6).

The inbox worker leases accepted inbound (and local) messages, exports each through a
:class:`Sink`, then marks it handed off. A crash between export and mark exports again on
restart, so every sink is idempotent by message id: the folder sink writes into a temporary
folder, makes it durable (one filesystem sync shared by concurrent exports), and renames it to
the message id in one step — an export that already exists is not written twice, and a
half-written one is never visible.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import re
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from gateway.doorbell import Doorbell
from gateway.gate import Gate
from gateway.leases import Leases
from gateway.settle import settled
from gateway.store import durable
from gateway.store.api import (
    WHOLE_BUDGET,
    BlobStore,
    MessageRecord,
    Store,
    StoredFile,
    worth_fetching_whole,
)

log = logging.getLogger(__name__)
_UNSAFE = re.compile(r"[^\w.\- ]", re.UNICODE)
_IN_MEMORY = 1 << 20  # a blob that is not a local file is read whole up to this size


class Sink(Protocol):
    """Where accepted messages go. ``export`` must be idempotent by message id."""

    name: str

    async def export(self, record: MessageRecord, blobs: BlobStore) -> str:
        """Export the message; returns a short description for the history ("folder …")."""
        ...


class FolderSink:
    """Writes each message as a folder ``<root>/<message id>/``: envelope, signature, files.

    Exports that arrive together are written together: one thread call stages every folder,
    ONE filesystem sync makes all their files durable, the renames follow, and one more sync
    makes the renames durable (see :class:`_Together`). A message whose files are neither
    local files nor small (a large blob in a database) is streamed on its own.
    """

    name = "folder"

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self._together: _Together[_Export, str] = _Together(self._write_batch)

    async def export(self, record: MessageRecord, blobs: BlobStore) -> str:
        target = self.root / _safe(record.message_id)
        if target.exists():
            # Left by an earlier attempt whose last sync may have failed: sync before saying so.
            await asyncio.to_thread(durable.sync, self.root, [self.root])
            return f"already in {target}"
        staging = self.root / f".tmp-{_safe(record.message_id)}-{uuid.uuid4().hex[:8]}"
        names = _file_names(record)
        sources = await _sources(blobs, record.files)
        ready = [source for source in sources if source is not None]
        if len(ready) == len(sources):
            # The thread cleans up after its own failures; a cancelled caller leaves the job
            # to finish (an export that appears anyway is found by the next attempt).
            return await self._together.run(_Export(record, names, ready, staging, target))
        try:
            await asyncio.to_thread(self._start, record, staging)
            for file, name in zip(record.files, names, strict=True):
                await _copy_blob(blobs, file.sha256, staging / name)
            # Let the rename finish before any clean-up: removing the folder while the thread
            # renames it could make a half-deleted export visible under the message id.
            renaming = asyncio.ensure_future(asyncio.to_thread(self._commit, staging, target))
            return await settled(renaming)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    def _write_batch(self, jobs: list[_Export]) -> list[tuple[bool, str | BaseException]]:
        """Stage every export, sync once, rename each, sync once; one outcome per job."""
        outcomes: dict[int, tuple[bool, str | BaseException]] = {}  # by index; every job gets one
        staged: list[int] = []
        written: list[Path] = []
        for index, job in enumerate(jobs):
            try:
                written += self._stage(job)
                staged.append(index)
            except Exception as exc:
                shutil.rmtree(job.staging, ignore_errors=True)
                outcomes[index] = (False, exc)
        try:
            if staged:
                # Every file and folder is durable before a rename can make it visible.
                durable.sync(self.root, written)
        except Exception as exc:
            for index in staged:
                shutil.rmtree(jobs[index].staging, ignore_errors=True)
                outcomes[index] = (False, exc)
            staged = []
        renamed: list[int] = []
        for index in staged:
            job = jobs[index]
            try:
                outcomes[index] = (True, self._rename(job.staging, job.target))
                renamed.append(index)
            except Exception as exc:
                shutil.rmtree(job.staging, ignore_errors=True)
                outcomes[index] = (False, exc)
        if renamed:
            try:
                # The renames are durable before any caller marks its message handed off.
                durable.sync(self.root, [self.root])
            except Exception as exc:
                for index in renamed:
                    outcomes[index] = (False, exc)
        return [outcomes[index] for index in range(len(jobs))]

    def _stage(self, job: _Export) -> list[Path]:
        """Write one export's staging folder without syncing; the paths written."""
        self._start(job.record, job.staging, sync=False)
        written = [job.staging / "envelope.xml"]
        if job.record.signature:
            written.append(job.staging / "envelope.xml.p7s")
        for source, name in zip(job.sources, job.names, strict=True):
            destination = job.staging / name
            # Never overwrite (names are unique, even case-folded): _write creates exclusively,
            # copyfile does not.
            if isinstance(source, bytes):
                _write(destination, source, sync=False)
            else:
                if destination.exists():
                    raise FileExistsError(destination)
                # A copy, never a hard link: the local system may change what it was given,
                # and the blob must stay what its digest says. copyfile copies in the kernel.
                shutil.copyfile(source, destination)
            written.append(destination)
        written.append(job.staging)
        return written

    @staticmethod
    def _start(record: MessageRecord, staging: Path, *, sync: bool = True) -> None:
        staging.mkdir()
        _write(staging / "envelope.xml", record.envelope, sync=sync)
        if record.signature:
            _write(staging / "envelope.xml.p7s", record.signature, sync=sync)

    def _commit(self, staging: Path, target: Path) -> str:
        durable.fsync_path(staging)
        detail = self._rename(staging, target)
        # The rename is durable before the caller marks the message handed off.
        durable.sync(self.root, [self.root])
        return detail

    def _rename(self, staging: Path, target: Path) -> str:
        try:
            os.rename(staging, target)  # atomic: the export appears whole or not at all
        except OSError:
            if target.exists():  # another worker finished the same export first
                shutil.rmtree(staging, ignore_errors=True)
                return f"already in {target}"  # its rename is synced with ours
            raise
        return f"folder {target}"


@dataclass(frozen=True)
class _Export:
    record: MessageRecord
    names: list[str]
    sources: list[Path | bytes]
    staging: Path
    target: Path


J = TypeVar("J")
R = TypeVar("R")


class _Together(Generic[J, R]):
    """Runs jobs in batches, one thread call per batch: the jobs submitted while a batch is
    being written make up the next one (group commit, as the store's writer does)."""

    def __init__(
        self, run_batch: Callable[[list[J]], list[tuple[bool, R | BaseException]]]
    ) -> None:
        self._run_batch = run_batch
        self._queue: list[tuple[J, asyncio.Future[R]]] = []
        self._task: asyncio.Task[None] | None = None

    async def run(self, job: J) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((job, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                outcomes = await settled(
                    asyncio.ensure_future(asyncio.to_thread(self._run_batch, [j for j, _ in batch]))
                )
            except asyncio.CancelledError:  # shutting down: nobody waits for the rest
                for _, future in [*batch, *self._queue]:
                    if not future.done():
                        future.cancel()
                self._queue = []
                raise
            except Exception as exc:  # the batch as a whole failed
                outcomes = [(False, exc)] * len(batch)
            for (_, future), (ok, value) in zip(batch, outcomes, strict=True):
                if future.done():  # its caller was cancelled
                    continue
                if ok:
                    future.set_result(value)  # type: ignore[arg-type]
                else:
                    future.set_exception(value)  # type: ignore[arg-type]


def _file_names(record: MessageRecord) -> list[str]:
    used: set[str] = {"envelope.xml", "envelope.xml.p7s"}
    return [_unique(_safe(f.name) or f.file_id, used) for f in record.files]


class HandoffWorker:
    """Leases accepted messages and hands each to the sink; one attempt per lease.

    Up to ``parallel`` messages are in flight, leased ``batch`` at a time, and their exports
    hold at most ``memory`` bytes of files together (a letter larger than that goes alone).
    """

    def __init__(
        self,
        store: Store,
        sink: Sink,
        *,
        owner: str,
        lease: dt.timedelta = dt.timedelta(seconds=60),
        batch: int = 64,
        parallel: int = 128,
        memory: int = 4 * WHOLE_BUDGET,
        idle: float = 0.5,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.store, self.sink, self.owner = store, sink, owner
        self.lease, self.batch, self.idle, self.clock = lease, batch, idle, clock
        self.parallel = parallel
        self.memory = Gate(memory)
        self.leases = Leases(store, owner, lease, clock)
        self._bell = Doorbell()

    def wake(self) -> None:
        """Something was accepted: hand it off now instead of at the next poll."""
        self._bell.ring()

    async def run(self, stop: asyncio.Event) -> None:
        """Hand off until ``stop`` is set, then let the exports in flight finish.

        A pipeline rather than rounds: up to ``parallel`` messages are in flight, and more
        are claimed as soon as there is room, so one slow export never holds back those
        behind it, and exports that arrive together share the sink's batches. The leases of
        the messages in flight are renewed until their exports end (:mod:`gateway.leases`)."""
        inflight: set[asyncio.Task[None]] = set()
        async with self.leases.kept():
            try:
                while not stop.is_set():
                    self._bell.reset()  # before looking: a ring while we look is kept
                    room = self.parallel - len(inflight)
                    if room <= 0:
                        await asyncio.wait(inflight, return_when=asyncio.FIRST_COMPLETED)
                        continue
                    try:
                        records = await self.store.claim_handoff(
                            self.owner, now=self.clock(), lease=self.lease,
                            limit=min(self.batch, room),
                        )  # fmt: skip
                    except Exception:
                        log.exception("hand-off claim failed; trying again shortly")
                        records = []
                    for record in records:
                        task = asyncio.create_task(self._hand_off(record))
                        inflight.add(task)
                        task.add_done_callback(inflight.discard)
                    if not records:
                        await self._bell.wait(stop, self.idle)
            finally:
                if inflight:
                    await asyncio.wait(inflight)

    async def _hand_off(self, record: MessageRecord) -> None:
        with self.leases.holding(record.message_id):
            await self._export_and_mark(record)

    async def _export_and_mark(self, record: MessageRecord) -> None:
        try:
            async with self.memory.hold(_weight(record)):
                detail = await self.sink.export(record, self.store.blobs)
        except Exception as exc:
            # The lease runs out and a later claim tries again; the sink's error is logged
            # with the message id so an operator can find it.
            log.error("hand-off of %s to %s failed: %s", record.message_id, self.sink.name, exc,
                      extra={"message_id": record.message_id})  # fmt: skip
            return
        if await self.store.mark_handed_off(record.message_id, self.owner, detail=detail):
            log.info("message %s handed off: %s", record.message_id, detail,
                     extra={"message_id": record.message_id})  # fmt: skip


def _weight(record: MessageRecord) -> int:
    """Roughly what exporting ``record`` may hold in memory at once: its envelope, and its
    files up to the budget a sink reads whole (larger ones stream)."""
    files = sum(file.size for file in record.files)
    return len(record.envelope) + len(record.signature or b"") + min(files, WHOLE_BUDGET)


def _safe(name: str) -> str:
    base = os.path.basename(name.replace("\\", "/"))
    cleaned = _UNSAFE.sub("_", base).strip(" .")
    return cleaned[:200]


def _unique(name: str, used: set[str]) -> str:
    # Compared case-folded: on a case-insensitive share "Envelope.xml" IS envelope.xml.
    candidate, n = name, 1
    while candidate.casefold() in used:
        stem, dot, ext = name.rpartition(".")
        candidate = f"{stem}-{n}.{ext}" if dot else f"{name}-{n}"
        n += 1
    used.add(candidate.casefold())
    return candidate


def _write(path: Path, data: bytes, *, sync: bool = True) -> None:
    """A new file (never an existing one) holding ``data``. Plain descriptor calls: a Python
    file object would add a stat, a terminal check and a seek per file, and on the export
    thread every system call is a round of waiting for the GIL."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


async def _sources(
    blobs: BlobStore, files: tuple[StoredFile, ...], budget: int | None = None
) -> list[Path | bytes | None]:
    """What the export copies each file from: the blob's local file, or its bytes when it is
    not a file and fits in the letter's memory ``budget``; None: stream it (:func:`_copy_blob`)."""
    budget = WHOLE_BUDGET if budget is None else budget
    small = await blobs.small(worth_fetching_whole(files, budget))
    budget -= sum(len(data) for data in small.values())
    sources: list[Path | bytes | None] = []
    for file in files:
        found: Path | bytes | None = small.get(file.sha256)
        if found is None:
            found = blobs.local_path(file.sha256)
        if found is None and file.size <= min(_IN_MEMORY, budget):
            found = b"".join([chunk async for chunk in blobs.read(file.sha256)])
            budget -= len(found)
        if isinstance(found, bytes) and len(found) != file.size:
            raise ValueError(f"blob {file.sha256} has {len(found)} bytes, {file.size} recorded")
        sources.append(found)
    return sources


async def _copy_blob(blobs: BlobStore, sha256: str, path: Path) -> None:
    fh = await asyncio.to_thread(path.open, "xb")
    try:
        async for chunk in blobs.read(sha256):
            await asyncio.to_thread(fh.write, chunk)
        await asyncio.to_thread(os.fsync, fh.fileno())
    finally:
        fh.close()
