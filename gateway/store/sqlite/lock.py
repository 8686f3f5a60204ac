"""The data folder's lock file: one gateway process per SQLite database.

SQLite itself keeps concurrent writers consistent, but two gateways on one database would
both start delivery workers and release each other's leases at start-up. The lock is an
``flock`` on ``<data_dir>/gateway.lock``: the kernel drops it when the process dies, so a
crash never leaves a stale lock behind. Operator tools that run beside a live gateway open the
store without it.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Self

from gateway.errors import GatewayError

LOCK_NAME = "gateway.lock"


class DataDirLock:
    """An exclusive, non-blocking lock on a data folder; release() or use as a context."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, data_dir: Path) -> DataDirLock:
        """Take the lock; GatewayError ``store.locked`` naming the file if someone holds it."""
        path = data_dir / LOCK_NAME
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            who = f" (process {holder})" if holder else ""
            raise GatewayError(
                f"{path} is locked by another gateway{who}: only one gateway may run on a data "
                "folder; stop it first, or open the store without the lock for a read-only tool",
                code="store.locked",
            ) from None
        except BaseException:
            os.close(fd)
            raise
        # The pid is only a hint for the message above; the flock is the lock.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(path, fd)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # closing the descriptor drops the flock

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


def _read_pid(fd: int) -> str:
    try:
        return os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return ""
