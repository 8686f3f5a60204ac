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
from pathlib import Path
from typing import Protocol

from gateway.doorbell import Doorbell
from gateway.store import durable
from gateway.store.api import BlobStore, MessageRecord, Store

log = logging.getLogger(__name__)
_UNSAFE = re.compile(r"[^\w.\- ]", re.UNICODE)


class Sink(Protocol):
    """Where accepted messages go. ``export`` must be idempotent by message id."""

    name: str

    async def export(self, record: MessageRecord, blobs: BlobStore) -> str:
        """Export the message; returns a short description for the history ("folder …")."""
        ...


class FolderSink:
    """Writes each message as a folder ``<root>/<message id>/``: envelope, signature, files."""

    name = "folder"

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    async def export(self, record: MessageRecord, blobs: BlobStore) -> str:
        target = self.root / _safe(record.message_id)
        if target.exists():
            # Left by an earlier attempt whose last sync may have failed: sync before saying so.
            await asyncio.to_thread(durable.sync, self.root, [self.root])
            return f"already in {target}"
        staging = self.root / f".tmp-{_safe(record.message_id)}-{uuid.uuid4().hex[:8]}"
        names = _file_names(record)
        local = [blobs.local_path(f.sha256) for f in record.files]
        try:
            if all(path is not None for path in local):
                # Every blob is a local file: the whole export is one job off the event loop.
                sources = [p for p in local if p is not None]
                return await asyncio.to_thread(
                    self._write_all, record, names, sources, staging, target
                )
            await asyncio.to_thread(self._start, record, staging)
            for file, name in zip(record.files, names, strict=True):
                await _copy_blob(blobs, file.sha256, staging / name)
            return await asyncio.to_thread(self._commit, staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    def _write_all(
        self,
        record: MessageRecord,
        names: list[str],
        sources: list[Path],
        staging: Path,
        target: Path,
    ) -> str:
        self._start(record, staging, sync=False)
        written = [staging / "envelope.xml"]
        if record.signature:
            written.append(staging / "envelope.xml.p7s")
        for source, name in zip(sources, names, strict=True):
            destination = staging / name
            if destination.exists():
                raise FileExistsError(destination)
            # A copy, never a hard link: the local system may change what it was given, and
            # the blob must stay what its digest says. copyfile copies inside the kernel.
            shutil.copyfile(source, destination)
            written.append(destination)
        # Every file and the folder itself are durable before the rename can make them
        # visible; concurrent exports share this sync (see gateway.store.durable).
        durable.sync(self.root, [*written, staging])
        return self._commit(staging, target, synced=True)

    @staticmethod
    def _start(record: MessageRecord, staging: Path, *, sync: bool = True) -> None:
        staging.mkdir()
        _write(staging / "envelope.xml", record.envelope, sync=sync)
        if record.signature:
            _write(staging / "envelope.xml.p7s", record.signature, sync=sync)

    def _commit(self, staging: Path, target: Path, *, synced: bool = False) -> str:
        if not synced:
            _fsync_dir(staging)
        try:
            os.rename(staging, target)  # atomic: the export appears whole or not at all
        except OSError:
            if target.exists():  # another worker finished the same export first
                shutil.rmtree(staging, ignore_errors=True)
                durable.sync(self.root, [self.root])  # its rename may not be durable yet
                return f"already in {target}"
            raise
        # The rename is durable before the caller marks the message handed off.
        durable.sync(self.root, [self.root])
        return f"folder {target}"


def _file_names(record: MessageRecord) -> list[str]:
    used: set[str] = {"envelope.xml", "envelope.xml.p7s"}
    return [_unique(_safe(f.name) or f.file_id, used) for f in record.files]


class HandoffWorker:
    """Leases accepted messages and hands each to the sink; one attempt per lease."""

    def __init__(
        self,
        store: Store,
        sink: Sink,
        *,
        owner: str,
        lease: dt.timedelta = dt.timedelta(seconds=60),
        batch: int = 32,
        parallel: int = 8,
        idle: float = 0.5,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.store, self.sink, self.owner = store, sink, owner
        self.lease, self.batch, self.idle, self.clock = lease, batch, idle, clock
        self.parallel = parallel
        self._bell = Doorbell()

    def wake(self) -> None:
        """Something was accepted: hand it off now instead of at the next poll."""
        self._bell.ring()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self._bell.reset()  # before looking: a ring while we look is kept
            try:
                done = await self.run_once()
            except Exception:
                log.exception("hand-off round failed; trying again shortly")
                done = 0
            if done == 0:
                await self._bell.wait(stop, self.idle)

    async def run_once(self) -> int:
        records = await self.store.claim_handoff(
            self.owner, now=self.clock(), lease=self.lease, limit=self.batch
        )
        if records:
            # Exports are I/O (writes and fsyncs): several at once keep the disk busy.
            limit = asyncio.Semaphore(self.parallel)

            async def one(record: MessageRecord) -> None:
                async with limit:
                    await self._hand_off(record)

            await asyncio.gather(*(one(r) for r in records))
        return len(records)

    async def _hand_off(self, record: MessageRecord) -> None:
        try:
            detail = await self.sink.export(record, self.store.blobs)
        except Exception as exc:
            # The lease runs out and a later round tries again; the sink's error is logged
            # with the message id so an operator can find it.
            log.error("hand-off of %s to %s failed: %s", record.message_id, self.sink.name, exc,
                      extra={"message_id": record.message_id})  # fmt: skip
            return
        if await self.store.mark_handed_off(record.message_id, self.owner, detail=detail):
            log.info("message %s handed off: %s", record.message_id, detail,
                     extra={"message_id": record.message_id})  # fmt: skip


def _safe(name: str) -> str:
    base = os.path.basename(name.replace("\\", "/"))
    cleaned = _UNSAFE.sub("_", base).strip(" .")
    return cleaned[:200]


def _unique(name: str, used: set[str]) -> str:
    candidate, n = name, 1
    while candidate in used:
        stem, dot, ext = name.rpartition(".")
        candidate = f"{stem}-{n}.{ext}" if dot else f"{name}-{n}"
        n += 1
    used.add(candidate)
    return candidate


def _write(path: Path, data: bytes, *, sync: bool = True) -> None:
    with path.open("xb") as fh:
        fh.write(data)
        fh.flush()
        if sync:
            os.fsync(fh.fileno())


async def _copy_blob(blobs: BlobStore, sha256: str, path: Path) -> None:
    fh = await asyncio.to_thread(path.open, "xb")
    try:
        async for chunk in blobs.read(sha256):
            await asyncio.to_thread(fh.write, chunk)
        await asyncio.to_thread(os.fsync, fh.fileno())
    finally:
        fh.close()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
