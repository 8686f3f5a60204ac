"""The wire endpoint's request body: the parts of a ``multipart/related`` body, read in order
as they stream in.

aiohttp's ``MultipartReader`` reads the same syntax, but it is built for forms: each part goes
through several layers of coroutines and aiohttp's full HTTP header parser, and the endpoint
had to wrap every read in ``asyncio.timeout`` to notice a silent sender. That came to about a
quarter of the receiving gateway's event loop per standard letter (four parts). This reader
takes the request's stream (aiohttp's ``StreamReader``) and does the same work with a few
``bytes.find`` calls and one timer per request (``bench/multipart.py`` measures both).

Syntax (RFC 2046 §5.1.1): an optional preamble, then parts, each opened by a delimiter line
``--boundary`` (transport padding allowed before its CRLF) and a header block ended by an
empty line; the close delimiter ``--boundary--`` ends the body, and what follows it (the
epilogue) is left unread. A part that declares a Content-Length is read by that length and
must be followed by a delimiter; a part without one runs up to the next delimiter. Anything
else (a missing delimiter, a body that ends early, a header line without a colon, a folded
or oversized header block) is a :class:`~gateway.transport.wire.WireError` with code
``request.malformed``; silence from the sender for longer than ``idle`` while a read waits is
``request.timeout`` (408).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Final

from aiohttp import StreamReader

from gateway.transport import wire
from gateway.transport.wire import WireError

#: The most bytes of preamble before the first delimiter, and of one part's header block.
MAX_PREAMBLE: Final = 64 << 10
MAX_HEADERS: Final = 8 << 10  # as aiohttp's longest header line; ours have three short ones

_CRLF: Final = b"\r\n"
_PADDING: Final = b" \t"
_MAX_PADDING: Final = 1024  # transport padding after a boundary, before its CRLF
_READ: Final = 1 << 16  # what one read of the stream asks for while looking for a delimiter
# The headers a part's reading depends on; a second copy of one of them is refused.
_SINGLE: Final = frozenset(
    {
        "content-id",
        "content-length",
        "content-type",
        "content-transfer-encoding",
        "content-encoding",
    }
)


def boundary_of(parameters: Mapping[str, str]) -> bytes:
    """The boundary from the request's Content-Type parameters (RFC 2046: 1–70 characters)."""
    value = parameters.get("boundary", "")
    if not 0 < len(value) <= 70 or not value.isascii() or value.endswith(" "):
        raise WireError(
            "the multipart body cannot be read: its Content-Type has "
            + (f"an invalid boundary {value[:80]!r}" if value else "no boundary")
        )
    return value.encode("ascii")


@contextlib.asynccontextmanager
async def parts(stream: StreamReader, boundary: bytes, idle: float) -> AsyncIterator[Parts]:
    """The body's parts, for as long as the block runs; a read that waits ``idle`` seconds
    for the sender ends the block with ``request.timeout`` (408)."""
    try:
        async with asyncio.timeout(None) as scope:
            silence = Silence(scope, idle)
            try:
                yield Parts(stream, boundary, silence)
            finally:
                silence.close()
    except TimeoutError:
        if not scope.expired():
            raise
        raise WireError(
            f"no data from the peer for {idle:g} seconds", code="request.timeout", http_status=408
        ) from None


class Silence:
    """A sender's silence: a read that has waited ``idle`` seconds expires ``scope``.

    One timer per request, checked every ``idle`` seconds, instead of a timeout around each
    read: marking a read as waiting costs a clock reading, not a timer.
    """

    def __init__(self, scope: asyncio.Timeout, idle: float) -> None:
        self.idle = idle
        self._scope = scope
        self._loop = asyncio.get_running_loop()
        self._since: float | None = None
        self._timer = self._loop.call_later(idle, self._check)

    def waiting(self) -> None:
        self._since = self._loop.time()

    def heard(self) -> None:
        self._since = None
        if self._scope.when() is not None and not self._scope.expired():
            # The timer found this read waiting just as its data came: the expiry it set is
            # still queued and would cancel whatever the receiver awaits next (its commit).
            self._scope.reschedule(None)

    def close(self) -> None:
        self._timer.cancel()

    def _check(self) -> None:
        now = self._loop.time()
        since = self._since
        if since is not None and now - since >= self.idle:
            self._scope.reschedule(now)  # the waiting read raises; the scope turns it into 408
            return
        self._timer = self._loop.call_at((now if since is None else since) + self.idle, self._check)


class Parts:
    """The parts of one request body, in order; each is read before the next is asked for
    (whatever of it is left unread is skipped)."""

    def __init__(self, stream: StreamReader, boundary: bytes, silence: Silence) -> None:
        self._stream = stream
        self._dash = b"--" + boundary
        self._delimiter = _CRLF + self._dash
        self._keep = len(self._delimiter) - 1  # trailing bytes that may begin a delimiter
        self._silence = silence
        self._data = b""
        self._at = 0
        self._started = False
        self._done = False
        self._part: Part | None = None

    def __aiter__(self) -> Parts:
        return self

    async def __anext__(self) -> Part:
        if self._part is not None:
            await self._part.skip()
            self._part = None
        elif not self._started:
            await self._preamble()
            self._started = True
        if self._done:
            raise StopAsyncIteration
        self._part = Part(self, _headers(await self._header_block()))
        return self._part

    # --- the stream ------------------------------------------------------------------------
    # ``_data[_at:]`` is what was read from the stream and not used yet: positions move instead
    # of bytes, so a part's bytes are copied once, when they are handed out.

    async def _receive(self, size: int, what: str) -> bytes:
        """Up to ``size`` bytes from the stream, waiting for them (as silence) if need be."""
        self._silence.waiting()
        chunk = await self._stream.read(size)
        self._silence.heard()
        if not chunk:
            raise WireError(f"the request body ends {what}")
        return chunk

    async def _more(self, what: str) -> None:
        """Add what the stream has (waiting for it if need be) to the unused bytes."""
        chunk = await self._receive(_READ, what)
        self._data = self._data[self._at :] + chunk if self._at < len(self._data) else chunk
        self._at = 0

    def _unused(self) -> int:
        return len(self._data) - self._at

    def _take(self, size: int) -> bytes:
        at, data = self._at, self._data
        self._at = at + size
        return data if at == 0 and size == len(data) else data[at : at + size]

    async def _read(self, size: int, what: str) -> bytes:
        """Up to ``size`` bytes (at least one): unused ones first, else from the stream."""
        if unused := self._unused():
            return self._take(min(size, unused))
        return await self._receive(size, what)

    async def _until_delimiter(self, size: int, what: str) -> bytes:
        """Up to ``size`` bytes before the next delimiter (``b""`` when it is next)."""
        while True:
            at = self._at
            found = self._data.find(self._delimiter, at, at + size + len(self._delimiter))
            if found >= 0:
                return self._take(found - at)
            if self._unused() > self._keep:
                return self._take(min(size, self._unused() - self._keep))
            await self._more(what)

    # --- syntax ----------------------------------------------------------------------------

    async def _preamble(self) -> None:
        """Skip what comes before the first delimiter; the body may start with it."""
        while self._unused() < len(self._dash):
            await self._more("before its first boundary")
        if self._data.startswith(self._dash, self._at):
            self._data = _CRLF + self._data[self._at :]  # read it as the delimiter it is
            self._at = 0
        else:
            skipped = 0  # the preamble is dropped as it is searched, so it never piles up
            while (found := self._data.find(self._delimiter, self._at)) < 0:
                drop = max(0, self._unused() - self._keep)
                skipped += drop
                self._at += drop
                if skipped > MAX_PREAMBLE:
                    raise WireError(
                        f"no multipart boundary in the first {MAX_PREAMBLE:,} bytes of the body"
                    )
                await self._more("before its first boundary")
            self._at = found
        await self._after_delimiter()

    async def _after_delimiter(self) -> None:
        """The unused bytes start with a delimiter: use its line (or the close delimiter)."""
        while True:
            data, start = self._data, self._at + len(self._delimiter)
            if data[start : start + 2] == b"--":
                self._done = True  # the close delimiter; the epilogue stays unread
                self._data, self._at = b"", 0
                return
            line_end = data.find(_CRLF, start, start + _MAX_PADDING + 2)
            if line_end >= 0:
                if data[start:line_end].strip(_PADDING):
                    raise WireError(
                        "a multipart boundary line has more after the boundary: "
                        f"{data[start:line_end][:40]!r}"
                    )
                self._at = line_end  # at the CRLF: an empty header block is CRLF CRLF
                return
            rest = data[start:]
            # Still possible: the first "-" of a close delimiter, or padding and a CR.
            if len(rest) > _MAX_PADDING + 1 or (
                rest != b"-" and rest.rstrip(b"\r").strip(_PADDING)
            ):
                raise WireError("a multipart boundary is not followed by the end of its line")
            await self._more("inside a boundary line")

    async def _header_block(self) -> list[bytes]:
        """The header lines of the next part (the unused bytes start at the CRLF ending the
        delimiter line); what is left unused starts at the part's first byte."""
        searched = 0  # bytes of the block already searched, so each byte is searched once
        while True:
            start = self._at + max(0, searched - 3)
            end = self._data.find(b"\r\n\r\n", start, self._at + MAX_HEADERS)
            if end >= 0:
                break
            if self._unused() > MAX_HEADERS:
                raise WireError(f"a part's header block is over {MAX_HEADERS:,} bytes")
            searched = self._unused()
            await self._more("inside a part's headers")
        block = self._data[self._at + 2 : end]
        self._at = end + 4
        return block.split(_CRLF) if block else []

    async def _end_of_part(self) -> None:
        """After a part's bytes: the delimiter that must come next, and its line."""
        while self._unused() < len(self._delimiter) + 2:
            await self._more("inside a part, before the boundary that ends it")
        if not self._data.startswith(self._delimiter, self._at):
            raise WireError(
                "a part is not followed by a multipart boundary (is its Content-Length right?)"
            )
        await self._after_delimiter()


class Part:
    """One part: its Content-ID, declared size and bytes (:class:`gateway.receiver.Part`)."""

    def __init__(self, parts: Parts, headers: dict[str, str]) -> None:
        self._parts = parts
        self.content_id = wire.parse_content_id(headers.get("content-id"))
        kind = headers.get("content-type", "").strip().lower()
        if kind.startswith("multipart/"):
            raise WireError("a part of the request is itself multipart; parts are flat")
        encoding = headers.get("content-transfer-encoding", "binary").strip().lower()
        if encoding not in ("binary", "8bit", "7bit") or "content-encoding" in headers:
            # Parts are the exact bytes the digests and the signature cover; no encodings.
            raise WireError(f"part {self.content_id!r} is encoded; parts travel as binary")
        length = headers.get("content-length")
        if length is not None and not (length.isdigit() and length.isascii() and len(length) < 19):
            raise WireError(
                f"part {self.content_id!r} has an invalid Content-Length {length[:40]!r}"
            )
        self.size = None if length is None else int(length)
        self._left = self.size  # bytes of a declared length still to read
        self._ended = False
        self._where = f"inside part {self.content_id!r}"  # for errors

    async def read_chunk(self, size: int) -> bytes:
        """Up to ``size`` bytes of the part; ``b""`` at its end."""
        if self._ended:
            return b""
        parts = self._parts
        if self._left is None:
            chunk = await parts._until_delimiter(size, self._where)
        elif self._left:
            chunk = await parts._read(min(size, self._left), self._where)
            self._left -= len(chunk)
        else:
            chunk = b""
        if not chunk:
            await parts._end_of_part()
            self._ended = True
        return chunk

    async def skip(self) -> None:
        while await self.read_chunk(wire.CHUNK):
            pass


def _headers(lines: list[bytes]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in lines:
        name, colon, value = line.partition(b":")
        if not colon or not name or line[:1] in (b" ", b"\t") or name != name.strip():
            raise WireError(f"a part has a malformed header line {line[:60]!r}")
        key = name.decode("ascii", "replace").lower()
        if key in headers and key in _SINGLE:
            raise WireError(f"a part has more than one {name.decode('ascii', 'replace')} header")
        headers[key] = value.decode("utf-8", "surrogateescape").strip(" \t")
    return headers
