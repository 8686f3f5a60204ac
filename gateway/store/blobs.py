"""The filesystem blob store: file contents addressed by their SHA-256.

A blob lives at ``<root>/ab/cd/<64 hex digits>``. ``put`` streams into a temporary file under
``<root>/tmp`` (the same filesystem, so the final rename is atomic) while hashing, fsyncs it,
renames it into place and fsyncs the directory, so a blob is durable before the database write
that references it. A small blob (one coalescing batch) takes the same two steps through
:mod:`gateway.store.durable` instead, sharing one filesystem sync with concurrent puts.
Identical content lands on the same name, so storing it twice is harmless.

File I/O runs in worker threads in large pieces (small chunks are coalesced first), so a 2 GiB
stream neither blocks the event loop nor costs more memory than two pieces. A name is always
checked against the digest pattern before it touches the filesystem; this module never builds
a path from anything else, and never reads a whole blob into memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import os
import re
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Final, TypeVar

from gateway.settle import settled
from gateway.store import durable
from gateway.store.api import BlobRef

T = TypeVar("T")

_DIGEST: Final = re.compile(r"[0-9a-f]{64}")
COALESCE: Final = 1 << 20  # bytes gathered before one write in a thread
_TEMP_SUFFIX: Final = ".part"


class FilesystemBlobStore:
    """Content-addressed blobs in a folder; see the module docstring for the layout."""

    def __init__(self, root: Path, *, coalesce: int = COALESCE) -> None:
        self.root = root
        self._tmp = root / "tmp"
        self._coalesce = coalesce
        self._lock = threading.Lock()
        self._unsynced: set[str] = set()  # digests renamed into place, their folder not synced

    def path(self, sha256: str) -> Path:
        """Where a blob lives; ValueError unless ``sha256`` is 64 lower-case hex digits."""
        if not _DIGEST.fullmatch(sha256):
            raise ValueError(f"not a SHA-256 hex digest: {sha256[:80]!r}")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    async def put(self, chunks: AsyncIterator[bytes], *, max_size: int | None = None) -> BlobRef:
        # Most files of a letter are small: gather up to one coalescing batch in memory and, if
        # the stream ends there, store it in a single thread hop (hash first, so content that is
        # already stored costs no write and no fsync). Larger streams go through _put_stream.
        data = await whole_or_stream(chunks, limit=self._coalesce - 1, max_size=max_size)
        if not isinstance(data, bytes):
            return await self._put_stream(data, max_size=max_size)
        digest = hashlib.sha256(data).hexdigest()
        await settled(_in_thread(self._put_small, data, digest))
        return BlobRef(sha256=digest, size=len(data))

    def _put_small(self, data: bytes, digest: str) -> None:
        final = self.path(digest)
        if final.is_file() and final.stat().st_size == len(data):
            if digest in self._unsynced:  # placed by a concurrent put whose sync is pending
                durable.sync(self.root, [final.parent])
            _touch(final)  # stored again: garbage collection counts its grace from now
            return  # the same content is already there, durable since its own put
        temp = _TempBlob(self._tmp)
        try:
            temp.finish([data], sync=False)
            # Two shared syncs (gateway.store.durable) instead of a fsync per file and folder:
            # the content is durable before any name points at it, the name before we return.
            durable.sync(self.root, [temp.path])
            with self._lock:
                self._unsynced.add(digest)
            try:
                folders = self._place(temp.path, digest, len(data), sync=False)
                durable.sync(self.root, folders)
            finally:
                with self._lock:
                    self._unsynced.discard(digest)
        except BaseException:
            temp.discard()
            raise

    def local_path(self, sha256: str) -> Path | None:
        """The blob's file, for code that copies it without going through the event loop."""
        path = self.path(sha256)
        return path if path.is_file() else None

    async def _put_stream(
        self, chunks: AsyncIterator[bytes], *, max_size: int | None = None
    ) -> BlobRef:
        opening = _in_thread(_TempBlob, self._tmp)
        try:
            temp = await settled(opening)
        except asyncio.CancelledError:
            if not opening.exception():  # created after all: do not leave it behind
                opening.result().discard()
            raise
        pending: asyncio.Future[None] | None = None
        try:
            batch: list[bytes] = []
            batched = size = 0
            async for chunk in chunks:
                size += len(chunk)
                if max_size is not None and size > max_size:
                    raise ValueError(f"the blob is larger than the limit of {max_size} bytes")
                batch.append(chunk)
                batched += len(chunk)
                if batched >= self._coalesce:
                    # Double buffering: the previous piece is written while this one filled.
                    if pending is not None:
                        await settled(pending)
                    pending = _in_thread(temp.write, batch)
                    batch, batched = [], 0
            if pending is not None:
                await settled(pending)
                pending = None
            digest = await settled(_in_thread(temp.finish, batch))
            await settled(_in_thread(self._place, temp.path, digest, size))
        except BaseException:
            if pending is not None:
                await _finished(pending)
            temp.discard()
            raise
        return BlobRef(sha256=digest, size=size)

    async def put_bytes(self, data: bytes) -> BlobRef:
        return await self.put(single_chunk(data))

    def read(self, sha256: str, *, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        path = self.path(sha256)
        # Checked now, not at the first chunk, so a missing blob fails where it is asked for.
        if not path.is_file():
            raise KeyError(sha256)
        return self._chunks(path, sha256, chunk_size)

    async def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    async def small(self, sha256s: Sequence[str]) -> dict[str, bytes]:
        return {}  # every blob here is a file: read it with read(), or copy local_path()

    def collect(self, keep: set[str], *, older_than: float) -> int:
        """Delete blobs not in ``keep`` whose file was last stored more than ``older_than``
        seconds ago; how many. Blocking: run it in a thread."""
        removed = 0
        cutoff = time.time() - older_than
        for first in _folders(self.root):
            for second in _folders(first):
                for entry in second.iterdir():
                    if not _DIGEST.fullmatch(entry.name) or entry.name in keep:
                        continue
                    with contextlib.suppress(FileNotFoundError):
                        if entry.stat().st_mtime < cutoff:
                            entry.unlink()
                            removed += 1
        return removed

    def remove_stale_temp_files(self, *, older_than: float = 3600.0) -> int:
        """Delete temporary files left by a crash mid-``put``; only while holding the lock."""
        removed = 0
        cutoff = time.time() - older_than
        with contextlib.suppress(FileNotFoundError):
            for entry in self._tmp.iterdir():
                if entry.name.endswith(_TEMP_SUFFIX) and entry.stat().st_mtime < cutoff:
                    entry.unlink(missing_ok=True)
                    removed += 1
        return removed

    async def _chunks(self, path: Path, sha256: str, chunk_size: int) -> AsyncIterator[bytes]:
        # One thread hop opens the file and reads the first chunk; a file that fits in it is
        # closed in the same hop (most files of a letter), so it costs one hop, not three.
        opening = _in_thread(_open_and_read, path, chunk_size)
        try:
            file, first = await settled(opening)
        except FileNotFoundError:
            raise KeyError(sha256) from None
        except asyncio.CancelledError:
            if not opening.exception():  # opened after all: close it, as put() does
                handle = opening.result()[0]
                if handle is not None:
                    handle.close()
            raise
        try:
            if first:
                yield first
            if file is None:
                return
            while data := await settled(_in_thread(file.read, chunk_size)):
                yield data
        finally:
            if file is not None:
                file.close()

    def _place(self, temp: Path, digest: str, size: int, *, sync: bool = True) -> list[Path]:
        """Rename ``temp`` into place; returns the folders whose entries changed, already
        fsynced unless ``sync`` is False (then the caller makes them durable)."""
        final = self.path(digest)
        folder = final.parent
        made = [p for p in (folder.parent, folder) if not p.is_dir()]
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            same = final.stat().st_size == size
        except FileNotFoundError:
            same = False
        if same:
            temp.unlink()  # the same content is already there, durable since its own put
            _touch(final)  # stored again: garbage collection counts its grace from now
        else:
            os.replace(temp, final)
        # The rename (and any new fan-out folder) is durable only once its folder is synced.
        folders = [folder, *(created.parent for created in reversed(made))]
        if sync:
            for changed in folders:
                durable.fsync_path(changed)
        return folders


class _TempBlob:
    """A temporary file being written and hashed; used from one thread at a time."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=folder, suffix=_TEMP_SUFFIX)
        self.path = Path(name)
        self._fd: int | None = fd
        self._hash = hashlib.sha256()

    def write(self, chunks: list[bytes]) -> None:
        assert self._fd is not None
        for chunk in chunks:
            self._hash.update(chunk)  # releases the GIL for large chunks
            view = memoryview(chunk)
            while view:
                view = view[os.write(self._fd, view) :]

    def finish(self, chunks: list[bytes], *, sync: bool = True) -> str:
        self.write(chunks)
        assert self._fd is not None
        if sync:
            os.fsync(self._fd)
        os.close(self._fd)
        self._fd = None
        return self._hash.hexdigest()

    def discard(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self.path.unlink(missing_ok=True)


def _touch(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.utime(path)


def _folders(parent: Path) -> list[Path]:
    """The two-hex-digit fan-out folders in ``parent`` (never ``tmp``)."""
    try:
        return [p for p in parent.iterdir() if len(p.name) == 2 and p.is_dir()]
    except FileNotFoundError:
        return []


def _open_and_read(path: Path, chunk_size: int) -> tuple[io.FileIO | None, bytes]:
    """The first chunk, and the still open file, or None once the whole file was read."""
    file = io.FileIO(path, "r")
    try:
        first = file.read(chunk_size) or b""
        if len(first) < chunk_size:
            file.close()
            return None, first
        return file, first
    except BaseException:
        file.close()
        raise


async def single_chunk(data: bytes) -> AsyncIterator[bytes]:
    """``data`` as a stream of one chunk, for ``put_bytes``."""
    yield data


async def whole_or_stream(
    chunks: AsyncIterator[bytes], *, limit: int, max_size: int | None
) -> bytes | AsyncIterator[bytes]:
    """The stream's bytes when it ends within ``limit`` bytes; otherwise the stream itself
    again (what was read so far, then the rest), for a put that streams. Over ``max_size``
    bytes: ValueError, as every put refuses it."""
    head: list[bytes] = []
    size = 0
    stream = aiter(chunks)
    async for chunk in stream:
        size += len(chunk)
        if max_size is not None and size > max_size:
            raise ValueError(f"the blob is larger than the limit of {max_size} bytes")
        head.append(chunk)
        if size > limit:
            return _prepend(head, stream)
    return b"".join(head)


async def _prepend(head: list[bytes], rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    for chunk in head:
        yield chunk
    async for chunk in rest:
        yield chunk


def _in_thread(function: Callable[..., T], *args: object, **kwargs: object) -> asyncio.Future[T]:
    return asyncio.ensure_future(asyncio.to_thread(function, *args, **kwargs))


async def _finished(future: asyncio.Future[None]) -> None:
    """Wait for a thread's work on a failure path, whose own error is already propagating."""
    with contextlib.suppress(BaseException):
        await settled(future)
