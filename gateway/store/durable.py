"""Making freshly written files and renames durable, many at a time (group sync).

A blob put and a hand-off export each used to fsync every file and every folder they touched:
four to six fsyncs per letter, each a full trip through the filesystem. Here the threads that
need durability at the same moment share ONE ``syncfs(2)`` of the filesystem, the way SQLite's
group commit shares one fsync of the log: a caller writes its files, then :func:`sync` returns
once a ``syncfs`` that STARTED AFTER the call has finished. ``syncfs`` writes back every dirty
inode, directory block and pending rename of that filesystem and flushes the device cache, so it
covers every path the caller names, provided they are on the same filesystem: that is checked
(``st_dev``) for every path, and a path on another filesystem is fsynced on its own.

Where ``syncfs`` is missing (not Linux, or the call fails with ENOSYS) every path is fsynced one
by one, exactly as before. A failed ``syncfs`` raises to every caller that relied on it, never
only to the one thread that ran it: its data may not be on the disk.

Callers run in worker threads (never on the event loop): :func:`sync` blocks.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Final


def _load_syncfs() -> Callable[[int], int] | None:
    if not hasattr(os, "O_DIRECTORY") or os.uname().sysname != "Linux":
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        function = libc.syncfs
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int]
    function.restype = ctypes.c_int
    call: Callable[[int], int] = function
    return call


_SYNCFS: Final = _load_syncfs()


class _Group:
    """One filesystem's shared ``syncfs``: generations started and finished, and failures."""

    def __init__(self, anchor: Path, device: int) -> None:
        self.device = device
        # Opened once and kept: since Linux 5.8 syncfs reports writeback errors that happened
        # since this descriptor last asked, so no error between two rounds goes unseen.
        self._fd = os.open(anchor, os.O_RDONLY | os.O_DIRECTORY)
        self._cond = threading.Condition()
        self._started = 0
        self._finished = 0
        self._running = False
        self._failed: dict[int, OSError] = {}
        self.available = True

    def sync(self) -> None:
        assert _SYNCFS is not None
        with self._cond:
            # Writes made before this call are covered by any round that starts from now on.
            needed = self._started + 1
            while True:
                if self._finished >= needed:
                    earlier = self._failed.get(needed)
                    if earlier is not None:
                        raise earlier
                    return
                if not self._running:
                    self._running = True
                    self._started += 1
                    round_ = self._started
                    break
                self._cond.wait()
        failure: OSError | None = None
        try:
            if _SYNCFS(self._fd) != 0:
                code = ctypes.get_errno()
                failure = OSError(code, f"syncfs: {os.strerror(code)}")
        finally:
            with self._cond:
                self._running = False
                self._finished = round_
                if failure is not None:
                    self._failed[round_] = failure
                    if failure.errno == errno.ENOSYS:
                        self.available = False
                # A waiter reads its round's failure when it wakes; keep failures (rare: a
                # broken disk) long enough for that, and not forever.
                for old in [r for r in self._failed if r < round_ - 10_000]:
                    del self._failed[old]
                self._cond.notify_all()
        if failure is not None:
            raise failure


_groups: dict[int, _Group] = {}
_groups_lock = threading.Lock()


def _group(anchor: Path) -> _Group | None:
    if _SYNCFS is None:
        return None
    device = os.stat(anchor).st_dev
    with _groups_lock:
        group = _groups.get(device)
        if group is None:
            group = _groups[device] = _Group(anchor, device)
    return group if group.available else None


def sync(anchor: Path, paths: Iterable[Path]) -> None:
    """Return once every file and folder in ``paths`` (their contents, their names in their
    folders) is on stable storage. ``anchor`` is a folder on the filesystem that most of the
    paths live on. Every other path is a file or folder the caller created, not a mount
    point."""
    paths = list(paths)
    group = _group(anchor)
    if group is None:
        for path in paths:
            fsync_path(path)
        return
    # Callers name what they have just created, never a mount point, so a path lives on its
    # folder's filesystem: one stat per folder, not one per path (a letter's export names
    # five paths in one folder, and a stat costs ~30 µs on a slow virtual machine).
    by_folder: dict[Path, list[Path]] = {}
    for path in paths:
        if path != anchor:  # the anchor is on the group's filesystem by definition
            by_folder.setdefault(path.parent, []).append(path)
    for folder, inside in by_folder.items():
        if os.stat(folder).st_dev != group.device:  # another filesystem: syncfs misses it
            for path in inside:
                fsync_path(path)
    try:
        group.sync()
    except OSError as exc:
        if exc.errno != errno.ENOSYS:
            raise
        for path in paths:
            fsync_path(path)


def fsync_path(path: Path) -> None:
    """fsync one file or folder by its path."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
