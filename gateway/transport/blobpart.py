"""A stored blob as one part of an outgoing request: streamed, sized up front, always closed.

The client sends every file of a message this way, so no attachment is ever held whole in
memory, and a peer that answers early (a refusal) or a dropped connection never leaves a blob
reader open behind a finished ``send``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator

import aiohttp
from aiohttp import payload
from aiohttp.abc import AbstractStreamWriter

from gateway.settle import settled
from gateway.store.api import BlobStore, StoredFile
from gateway.transport import wire


class BlobPayload(payload.Payload):
    """A blob streamed as one part, with its size known up front, so that the part carries a
    Content-Length (the receiver reads it without scanning for the boundary) and so does the
    whole request (the receiver can refuse it before reading it).

    The blob is opened when aiohttp writes the part and closed in ``finally``: when the peer
    answers early (a refusal) aiohttp abandons the upload mid-file, and a reader left to the
    garbage collector would leak its file until then.
    """

    _autoclose = True

    def __init__(self, blobs: BlobStore, file: StoredFile) -> None:
        super().__init__(
            None,
            content_type=wire.FILE_MEDIA_TYPE,
            headers={"Content-ID": wire.content_id(file.file_id)},
        )
        self._blobs = blobs
        self._file = file
        self._size = file.size
        self.idle = asyncio.Event()  # not being written; see uploads_finished
        self.idle.set()

    async def write(self, writer: AbstractStreamWriter) -> None:
        await self.write_with_length(writer, None)

    async def write_with_length(
        self, writer: AbstractStreamWriter, content_length: int | None
    ) -> None:
        self._consumed = True  # a blob stream cannot be replayed (a redirect would need it)
        self.idle.clear()
        chunks = self._blobs.read(self._file.sha256, chunk_size=wire.CHUNK)
        sent = 0
        try:
            chunk = await _first(chunks)
            while chunk:
                sent += len(chunk)
                if sent > self._file.size:
                    raise ValueError(f"blob {self._file.sha256} is longer than declared")
                await writer.write(chunk)
                chunk = await anext(chunks, b"")
        finally:
            try:
                if isinstance(chunks, AsyncGenerator):
                    await chunks.aclose()
            finally:
                self.idle.set()
        if sent != self._file.size:
            raise ValueError(
                f"blob {self._file.sha256} has {sent} bytes, {self._file.size} declared"
            )

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        raise TypeError("a blob is streamed, never decoded")


async def uploads_finished(body: aiohttp.MultipartWriter, timeout: float = 10.0) -> None:
    """Wait until no blob of ``body`` is still being read.

    When the connection drops, aiohttp answers the request with an error but leaves the upload
    task behind; it ends by itself at its next write. Waiting for it here means a finished
    ``send`` leaves nothing running (no open file, nothing for a shutdown to wait for).
    """
    busy = [
        part.idle.wait()
        for part, _, _ in body
        if isinstance(part, BlobPayload) and not part.idle.is_set()
    ]
    if busy:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*busy), timeout)


async def _first(chunks: AsyncIterator[bytes]) -> bytes:
    """The first chunk of a blob, read to the end even if we are cancelled meanwhile.

    The first read opens the file (in a thread, for the filesystem store). aiohttp cancels the
    upload when the peer answers early or the connection drops, sometimes twice; a cancellation
    that lands during the open would lose the open file, so the open is let finish.
    """
    return await settled(asyncio.ensure_future(anext(chunks, b"")))
