"""Blobs of a SQLite gateway: small ones as rows of the database, large ones as files.

Most files of a letter are small (a PDF of a few hundred kilobytes, its signature of two). A
blob of at most ``inline_max`` bytes is written as one row by the store's writer, so it shares
the writer's group commit (one WAL fsync for everything committed together) instead of costing
a temporary file, a rename and two filesystem syncs of its own, and the hop to a file thread.
It is durable when ``put`` returns, as a file blob is, because the writer answers only after
its COMMIT. A larger blob streams into :class:`~gateway.store.blobs.FilesystemBlobStore`
exactly as before; only the first ``inline_max`` bytes are gathered to decide.

The blobs this process stored last stay in memory too, up to ``recent_bytes`` (16 MiB by
default): the hand-off reads a letter's files back moments after the receiver stored them, and
delivery reads what intake has just taken in. A blob never changes under its digest, so a copy
in memory is never stale; the only way out of the database is garbage collection, which drops
the copies of what it deletes.

Reading looks in memory first, then in the database, then in the folder, so blobs stored as
files before rows existed stay readable. A row is never a local file: :meth:`local_path` is
None for it, and callers that copy files (the folder hand-off, adapters) take its bytes instead.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Final

from gateway.store.api import SMALL_BLOB, BlobRef
from gateway.store.blobs import FilesystemBlobStore, single_chunk, whole_or_stream
from gateway.store.sqlite.threads import Reader, Writer

INLINE_MAX: Final = SMALL_BLOB  # bytes; larger blobs are files
RECENT_BYTES: Final = 16 * 1024 * 1024  # bytes of recently stored blobs kept in memory


class SqliteBlobStore:
    """The :class:`~gateway.store.api.BlobStore` contract over the database and a folder."""

    def __init__(
        self,
        files: FilesystemBlobStore,
        writer: Writer,
        reader: Reader,
        *,
        inline_max: int,
        recent_bytes: int = RECENT_BYTES,
    ) -> None:
        self.files = files
        self.inline_max = inline_max
        self._writer = writer
        self._reader = reader
        self._recent = _Recent(recent_bytes)

    async def put(self, chunks: AsyncIterator[bytes], *, max_size: int | None = None) -> BlobRef:
        data = await whole_or_stream(chunks, limit=self.inline_max, max_size=max_size)
        if not isinstance(data, bytes):
            return await self.files.put(data, max_size=max_size)
        digest = hashlib.sha256(data).hexdigest()  # hashlib releases the GIL past 2 KiB
        stored_at = time.time()
        await self._writer.submit(lambda conn: insert(conn, digest, data, stored_at))
        self.remember({digest: data})  # only once committed: a failed put leaves no copy
        return BlobRef(sha256=digest, size=len(data))

    async def put_bytes(self, data: bytes) -> BlobRef:
        return await self.put(single_chunk(data))

    def read(self, sha256: str, *, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        return self._read(sha256, chunk_size)

    async def _read(self, sha256: str, chunk_size: int) -> AsyncIterator[bytes]:
        data = self._recent.get(sha256)
        if data is None:
            data = await self._reader.submit(lambda conn: _select(conn, sha256))
        if data is None:
            async for chunk in self.files.read(sha256, chunk_size=chunk_size):
                yield chunk
            return
        view = memoryview(data)
        for start in range(0, len(data), chunk_size):
            yield bytes(view[start : start + chunk_size])

    async def small(self, sha256s: Sequence[str]) -> dict[str, bytes]:
        """The blobs kept in the database, all in one query (files are read with ``read``)."""
        found: dict[str, bytes] = {}
        wanted = []
        for digest in dict.fromkeys(sha256s):
            data = self._recent.get(digest)
            if data is None:
                wanted.append(digest)
            else:
                found[digest] = data
        if not wanted:
            return found

        def select(conn: sqlite3.Connection) -> dict[str, bytes]:
            rows = conn.execute(
                "SELECT sha256, data FROM blob_rows"
                " WHERE sha256 IN (SELECT value FROM json_each(?))",
                (json.dumps(wanted),),
            )
            return {digest: bytes(data) for digest, data in rows}

        found.update(await self._reader.submit(select))
        return found

    async def exists(self, sha256: str) -> bool:
        if self._recent.get(sha256) is not None:
            return True
        found = await self._reader.submit(
            lambda conn: conn.execute(
                "SELECT 1 FROM blob_rows WHERE sha256 = ?", (sha256,)
            ).fetchone()
        )
        return found is not None or await self.files.exists(sha256)

    def remember(self, contents: Mapping[str, bytes]) -> None:
        """Keep copies of blobs just committed (by ``put``, or with their message)."""
        for digest, data in contents.items():
            self._recent.add(digest, data)

    def local_path(self, sha256: str) -> Path | None:
        return self.files.local_path(sha256)

    async def collect(self, keep: set[str], *, older_than: float) -> int:
        """Delete blobs (rows and files) not in ``keep`` stored more than ``older_than``
        seconds ago; how many."""
        cutoff = time.time() - older_than

        def delete(conn: sqlite3.Connection) -> int:
            stale = [
                digest
                for (digest,) in conn.execute(
                    "SELECT sha256 FROM blob_rows WHERE stored_at < ?", (cutoff,)
                )
                if digest not in keep
            ]
            conn.executemany("DELETE FROM blob_rows WHERE sha256 = ?", [(d,) for d in stale])
            return len(stale)

        # Forgotten before the rows go: a read that finds no copy then finds no row either.
        self._recent.forget(keep)
        rows = await self._writer.submit(delete)
        files = await asyncio.to_thread(self.files.collect, keep, older_than=older_than)
        return rows + files


class _Recent:
    """The last blobs stored, newest last, at most ``limit`` bytes together."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self._blobs: OrderedDict[str, bytes] = OrderedDict()

    def add(self, sha256: str, data: bytes) -> None:
        if len(data) > self.limit:
            return
        old = self._blobs.pop(sha256, None)
        if old is not None:
            self.size -= len(old)
        self._blobs[sha256] = data
        self.size += len(data)
        while self.size > self.limit:
            _, dropped = self._blobs.popitem(last=False)
            self.size -= len(dropped)

    def get(self, sha256: str) -> bytes | None:
        return self._blobs.get(sha256)

    def forget(self, keep: set[str]) -> None:
        """Drop every copy whose digest is not in ``keep`` (garbage collection may delete it)."""
        for sha256 in [digest for digest in self._blobs if digest not in keep]:
            self.size -= len(self._blobs.pop(sha256))


def insert(conn: sqlite3.Connection, digest: str, data: bytes, stored_at: float) -> None:
    """Store one small blob as a row, in the caller's transaction."""
    # Stored again: garbage collection counts its grace from now, as it does for a file.
    conn.execute(
        "INSERT INTO blob_rows (sha256, size, stored_at, data) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (sha256) DO UPDATE SET stored_at = excluded.stored_at",
        (digest, len(data), stored_at, data),
    )


def _select(conn: sqlite3.Connection, sha256: str) -> bytes | None:
    row = conn.execute("SELECT data FROM blob_rows WHERE sha256 = ?", (sha256,)).fetchone()
    return None if row is None else bytes(row[0])
