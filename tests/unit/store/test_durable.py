"""The shared filesystem sync: every caller is covered by a round that started after it."""

from __future__ import annotations

import errno
import os
import tempfile
import threading
import time
from pathlib import Path

import pytest

from gateway.store import durable


def test_sync_covers_files_and_folders(tmp_path: Path) -> None:
    file = tmp_path / "a"
    file.write_bytes(b"x")
    durable.sync(tmp_path, [file, tmp_path])


def test_concurrent_callers_share_rounds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if durable._SYNCFS is None:
        pytest.skip("no syncfs here")
    calls: list[int] = []
    real = durable._SYNCFS
    gate = threading.Event()

    def slow(fd: int) -> int:
        calls.append(fd)
        gate.wait(5)
        return real(fd)

    monkeypatch.setattr(durable, "_SYNCFS", slow)
    monkeypatch.setattr(durable, "_groups", {})
    threads = [threading.Thread(target=durable.sync, args=(tmp_path, [])) for _ in range(8)]
    for thread in threads:
        thread.start()
    time.sleep(0.2)  # all of them are waiting on the first round by now
    gate.set()
    for thread in threads:
        thread.join(10)
    # The first caller runs a round; all that arrive while it runs share the next one.
    assert len(calls) in (1, 2)


def test_failure_reaches_every_caller_of_the_round(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if durable._SYNCFS is None:
        pytest.skip("no syncfs here")
    monkeypatch.setattr(durable, "_SYNCFS", lambda fd: -1)
    monkeypatch.setattr(durable.ctypes, "get_errno", lambda: errno.EIO)
    monkeypatch.setattr(durable, "_groups", {})
    with pytest.raises(OSError, match="syncfs"):
        durable.sync(tmp_path, [])


def test_without_syncfs_every_path_is_fsynced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[Path] = []
    monkeypatch.setattr(durable, "_SYNCFS", None)
    monkeypatch.setattr(durable, "fsync_path", synced.append)
    file = tmp_path / "a"
    file.write_bytes(b"x")
    durable.sync(tmp_path, [file, tmp_path])
    assert synced == [file, tmp_path]


def test_only_paths_on_another_filesystem_are_fsynced_one_by_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if durable._SYNCFS is None:
        pytest.skip("no syncfs here")
    shm = Path("/dev/shm")
    if not shm.is_dir() or shm.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("no second filesystem here")
    with tempfile.TemporaryDirectory(dir=shm) as elsewhere:
        here = [tmp_path / f"here-{n}" for n in range(4)]
        there = [Path(elsewhere) / f"there-{n}" for n in range(2)]
        for path in here + there:
            path.write_bytes(b"x")
        synced: list[Path] = []
        stats: list[Path] = []
        real_stat = os.stat
        monkeypatch.setattr(durable, "fsync_path", synced.append)
        monkeypatch.setattr(
            durable.os, "stat", lambda p, **kw: stats.append(Path(p)) or real_stat(p, **kw)
        )
        durable.sync(tmp_path, [*here, *there, tmp_path])
    assert synced == there  # syncfs of tmp_path's filesystem covers the others
    # One look per folder (and one at the anchor), not one per path.
    assert sorted(map(str, stats)) == sorted(map(str, [tmp_path, tmp_path, Path(elsewhere)]))
