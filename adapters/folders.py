"""Folder exchange, shared by the adapters whose local systems talk through folders.

ДЕЛО, МЭДО clients and plain drop folders all hand over items as folders (or files) in an
outgoing folder, and take items from an incoming folder. Two rules make that safe:

- **Pick-up is atomic.** An item is taken only once it has been quiet for ``quiet`` seconds
  (nothing in it modified), and is then renamed into ``.processing/`` of the same folder — a
  single step, so the local system never sees it half-taken and two gateways never both take
  it. After the gateway settles it, it moves to ``processed/``, or to ``failed/`` next to a
  ``<name>.error.txt`` that says what was wrong and how to fix it. Items left in
  ``.processing/`` by a crash are offered again (the gateway's ``local_ref`` makes that a
  no-op if they were already committed).
- **Publishing is atomic and idempotent.** An item is written into a hidden staging folder,
  every file and the folder are fsynced, and it is renamed to its final name in one step; if
  the final name already exists the item was published before and nothing is written.

Nothing here parses a format; adapters pass ``decode`` and ``write`` functions.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from adapters.api import Incoming, Package, Refused, Settlement
from gateway.errors import GatewayError
from gateway.store.durable import fsync_path

log = logging.getLogger(__name__)

PROCESSING = ".processing"
PROCESSED = "processed"
FAILED = "failed"
RESERVED = frozenset({PROCESSING, PROCESSED, FAILED})


class DropFolder:
    """An outgoing folder of a local system, from which the gateway picks up items."""

    def __init__(self, root: Path, *, quiet: float = 1.0) -> None:
        self.root = root
        self.quiet = quiet
        self.processing = root / PROCESSING
        for folder in (root, self.processing, root / PROCESSED, root / FAILED):
            folder.mkdir(parents=True, exist_ok=True)

    def leftovers(self) -> list[Path]:
        """Items a previous run picked up but did not settle."""
        return sorted(p for p in self.processing.iterdir() if not p.name.startswith("."))

    def pick_up(self, limit: int = 100) -> list[Path]:
        """Move up to ``limit`` ready items into ``.processing/``; their new paths."""
        taken: list[Path] = []
        now = time.time()
        for entry in sorted(self.root.iterdir()):
            if len(taken) >= limit:
                break
            if entry.name in RESERVED or entry.name.startswith("."):
                continue
            try:
                if now - _newest_mtime(entry) < self.quiet:
                    continue  # still being written
                target = self.processing / entry.name
                if target.exists():
                    continue  # the same name is still being processed; wait for it
                os.rename(entry, target)
            except FileNotFoundError:
                continue  # taken away meanwhile
            taken.append(target)
        if taken:
            fsync_path(self.root)
            fsync_path(self.processing)
        return taken

    def done(self, item: Path) -> Path:
        """The gateway committed ``item``: move it to ``processed/``."""
        return self._move(item, self.root / PROCESSED)

    def fail(self, item: Path, code: str, message: str) -> Path:
        """The gateway refused ``item``: move it to ``failed/`` with ``<name>.error.txt``."""
        target = self._move(item, self.root / FAILED)
        note = target.parent / f"{target.name}.error.txt"
        text = (
            f"code: {code}\n"
            f"item: {item.name}\n"
            f"time: {dt.datetime.now(dt.UTC):%Y-%m-%dT%H:%M:%SZ}\n\n"
            f"{message}\n\n"
            "Fix the item and put it into the outgoing folder again; this copy stays here.\n"
        )
        _write_synced(note, text.encode("utf-8"))
        return target

    def _move(self, item: Path, folder: Path) -> Path:
        target = folder / item.name
        if target.exists():
            target = (
                folder
                / f"{item.name}.{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
            )
        os.rename(item, target)
        fsync_path(item.parent)
        fsync_path(folder)
        return target


async def watch(
    drop: DropFolder,
    decode: Callable[[Path], Package],
    *,
    interval: float = 1.0,
    local_ref: Callable[[Path], str] = lambda path: path.name,
) -> AsyncIterator[Incoming]:
    """Poll ``drop`` for ready items and yield each as an :class:`Incoming`.

    ``decode`` runs in a thread; a :class:`GatewayError` from it becomes the item's problem
    (the gateway refuses it to ``failed/``), any other exception too, as an internal error
    named with its type, so one bad item never stops the folder.
    """
    pending = await asyncio.to_thread(drop.leftovers)
    while True:
        if not pending:
            pending = await asyncio.to_thread(drop.pick_up)
        if not pending:
            await asyncio.sleep(interval)
            continue
        for item in pending:
            yield await asyncio.to_thread(_incoming, drop, item, decode, local_ref)
        pending = []


def _incoming(
    drop: DropFolder,
    item: Path,
    decode: Callable[[Path], Package],
    local_ref: Callable[[Path], str],
) -> Incoming:
    async def settle(outcome: Settlement) -> None:
        if isinstance(outcome, Refused):
            await asyncio.to_thread(drop.fail, item, outcome.code, outcome.message)
        else:
            await asyncio.to_thread(drop.done, item)

    try:
        package = decode(item)
    except GatewayError as exc:
        return Incoming(local_ref(item), None, settle, problem=exc)
    except Exception as exc:  # a decoder bug must not stop the folder; say what happened
        log.exception("decoding %s failed", item)
        problem = GatewayError(
            f"the adapter could not read this item ({type(exc).__name__}: {exc})",
            code="adapter.failed",
        )
        return Incoming(local_ref(item), None, settle, problem=problem)
    return Incoming(local_ref(item), package, settle)


def publish(root: Path, name: str, write: Callable[[Path], None]) -> tuple[Path, bool]:
    """Write an item atomically as ``root/name`` (a folder); ``(path, False)`` if it exists.

    ``write`` fills an empty staging folder; it may create subfolders. Every file written is
    fsynced before the rename, and the rename is fsynced before this returns, so a caller
    that records "exported" afterwards never records something a crash could undo.
    """
    root.mkdir(parents=True, exist_ok=True)
    target = root / name
    if target.exists():
        fsync_path(root)  # an earlier attempt's rename may not be durable yet
        return target, False
    staging = root / f".tmp-{name}-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        write(staging)
        _fsync_tree(staging)
        try:
            os.rename(staging, target)
        except OSError:
            if target.exists():  # a concurrent export won
                shutil.rmtree(staging, ignore_errors=True)
                fsync_path(root)
                return target, False
            raise
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    fsync_path(root)
    return target, True


def copy_file(source: Path, target: Path) -> None:
    """Copy bytes exactly (inside the kernel where possible); never a link, never overwrite."""
    if target.exists():
        raise FileExistsError(target)
    shutil.copyfile(source, target)


def _newest_mtime(path: Path) -> float:
    newest = path.lstat().st_mtime
    if path.is_dir() and not path.is_symlink():
        for folder, dirs, files in os.walk(path):
            for name in (*dirs, *files):
                try:
                    newest = max(newest, os.lstat(os.path.join(folder, name)).st_mtime)
                except FileNotFoundError:
                    continue
    return newest


def _fsync_tree(root: Path) -> None:
    for folder, _dirs, files in os.walk(root):
        for name in files:
            fsync_path(Path(folder, name))
        fsync_path(Path(folder))


def _write_synced(path: Path, data: bytes) -> None:
    with path.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
