"""``POST /local/v1/documents`` and ``/local/v1/notifications``: a local system submits an item.

A document comes as ``multipart/form-data``: first a part ``document`` holding the sidecar
JSON (:mod:`adapters.filesystem.sidecar`), then one part per file, named by its id. Each file
is streamed into a spool folder while it is hashed (never held in memory), within the size
limits; then the item is handed to the gateway (:mod:`adapters.rest.handover`) and the answer
waits for its settlement: 202 with the message ids, or the gateway's refusal with its code. A
request that cannot be read at all is answered 400 (or 413, 415) at once, with its code.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import shutil
import uuid
from pathlib import Path
from typing import IO, Any

from aiohttp import BodyPartReader, MultipartReader, web

from adapters.api import FormatError, Package, Taken
from adapters.filerefs import CHUNK
from adapters.filesystem.sidecar import (
    FORMAT,
    FileEntry,
    load_json,
    parse,
    parse_data,
)
from adapters.rest.handover import Ticket
from adapters.rest.keys import CALLER, HANDOVER, SETTINGS, Settings, caller
from gateway.errors import GatewayError
from gateway.model import Document, FileRef, Notification
from gateway.settle import settled

_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,200}")
_RAW_ENCODINGS = frozenset({"", "binary", "8bit", "7bit", "identity"})


class TooLarge(GatewayError):
    """The request is larger than this adapter accepts."""

    code = "rest.too_large"
    http_status = 413


class UnsupportedMedia(GatewayError):
    """The request body is not of the media type this endpoint reads."""

    code = "rest.unsupported_media_type"
    http_status = 415


async def documents(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    local_ref = _local_ref(request)
    _check_length(request, settings.max_request_bytes)
    if request.content_type != "multipart/form-data":
        raise UnsupportedMedia(
            "send a document as multipart/form-data: a part 'document' with the JSON, then one "
            "part per file, named by the file's id"
        )
    reader = await request.multipart()
    first = await _next(reader)
    if not isinstance(first, BodyPartReader) or first.name != "document":
        raise FormatError("the first part must be named 'document' and hold the JSON sidecar")
    sidecar = parse(await _read_part(first, settings), source="the document part")
    if not isinstance(sidecar.payload, Document):
        raise FormatError(
            "this endpoint takes documents; POST a notification to /local/v1/notifications"
        )
    for index, entry in enumerate(sidecar.files):
        if entry.file is not None:
            raise FormatError(
                f"document.files[{index}].file: over REST a file is the part named by its id; "
                "leave 'file' out"
            )
    if len(sidecar.files) > settings.max_files:
        raise TooLarge(f"{len(sidecar.files)} files; at most {settings.max_files} per document")
    spool = settings.spool / uuid.uuid4().hex
    await asyncio.to_thread(spool.mkdir, parents=True)
    try:
        received = await _receive_files(reader, sidecar.files, spool, settings)
        refs: list[FileRef] = []
        for index, entry in enumerate(sidecar.files):
            _, sha, size = received[entry.id]
            refs.append(entry.ref(sha, size, f"document.files[{index}]"))
        package = Package(
            sidecar.document(tuple(refs)),
            {entry.id: received[entry.id][0] for entry in sidecar.files},
            {**sidecar.context, CALLER: caller(request)},
        )
        ticket = request.app[HANDOVER].submit(local_ref, package, spool)
    except BaseException:
        await asyncio.to_thread(shutil.rmtree, spool, ignore_errors=True)
        raise
    return await _answer(ticket, settings)


async def notifications(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    local_ref = _local_ref(request)
    _check_length(request, settings.max_document_bytes)
    if request.content_type != "application/json":
        raise UnsupportedMedia("send a notification as application/json")
    raw = await _read_body(request, settings.max_document_bytes)
    data = load_json(raw, source="the request body")
    if isinstance(data, dict) and "format" not in data:
        data = {"format": FORMAT, "notification": data}  # the bare notification object
    sidecar = parse_data(data, source="the request body")
    if not isinstance(sidecar.payload, Notification):
        raise FormatError(
            "this endpoint takes notifications; POST a document to /local/v1/documents as "
            "multipart/form-data"
        )
    package = Package(sidecar.payload, {}, {**sidecar.context, CALLER: caller(request)})
    ticket = request.app[HANDOVER].submit(local_ref, package, None)
    return await _answer(ticket, settings)


async def _answer(ticket: Ticket, settings: Settings) -> web.Response:
    outcome = await ticket.wait(settings.queue_timeout)
    if isinstance(outcome, Taken):
        return web.json_response({"message_ids": list(outcome.message_ids)}, status=202)
    return web.json_response(
        {"code": outcome.code, "message": outcome.message}, status=refusal_status(outcome.code)
    )


def refusal_status(code: str) -> int:
    """400 for an item that is not valid, 422 for a valid one the gateway will not send (an
    unknown recipient, say)."""
    return 400 if code.startswith(("format.", "intake.")) else 422


def _local_ref(request: web.Request) -> str:
    # Keys are per local system: two systems that both number their requests 1, 2, 3 must not
    # take each other's submissions for repeats.
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return f"{caller(request)}:{uuid.uuid4()}"
    if not _IDEMPOTENCY_KEY.fullmatch(key):
        raise FormatError(
            "Idempotency-Key must be 1 to 200 visible ASCII characters, e.g. a UUID",
            code="rest.bad_idempotency_key",
        )
    return f"{caller(request)}:{key}"


def _check_length(request: web.Request, limit: int) -> None:
    if request.content_length is not None and request.content_length > limit:
        raise TooLarge(f"the request is {request.content_length:,} bytes; at most {limit:,}")


async def _next(reader: MultipartReader) -> Any:
    try:
        return await reader.next()
    except ValueError as exc:
        raise FormatError(f"the request is not valid multipart/form-data ({exc})") from None


async def _read_part(part: BodyPartReader, settings: Settings) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := await part.read_chunk(CHUNK):
        size += len(chunk)
        if size > settings.max_document_bytes:
            raise TooLarge(f"the document part is over {settings.max_document_bytes:,} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _read_body(request: web.Request, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(CHUNK):
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"the request is over {limit:,} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _receive_files(
    reader: MultipartReader, entries: tuple[FileEntry, ...], spool: Path, settings: Settings
) -> dict[str, tuple[Path, str, int]]:
    """Stream each file part into ``spool``; file id → (path, sha256, size)."""
    expected = {entry.id for entry in entries}
    received: dict[str, tuple[Path, str, int]] = {}
    total = 0
    while (part := await _next(reader)) is not None:
        if not isinstance(part, BodyPartReader):
            raise FormatError("nested multipart bodies are not accepted; send one part per file")
        name = part.name or ""
        if name not in expected or name in received:
            raise FormatError(
                f"part {name!r} is not a file listed in document.files (or came twice); name "
                "each file part by the id of its entry"
            )
        encoding = part.headers.get("Content-Transfer-Encoding", "").lower()
        if encoding not in _RAW_ENCODINGS or part.headers.get("Content-Encoding"):
            raise FormatError(f"part {name!r}: send the file's bytes as they are, not encoded")
        path = spool / str(len(received))  # never the client's name: nothing to escape from
        sha, size = await _spool(
            part, path, name, settings, budget=settings.max_request_bytes - total
        )
        total += size
        received[name] = (path, sha, size)
    missing = sorted(expected - set(received))
    if missing:
        raise FormatError(
            f"the files {', '.join(map(repr, missing))} are listed in document.files but were "
            "not sent; add a part for each, named by its id",
            code="format.missing_file",
        )
    return received


async def _spool(
    part: BodyPartReader, path: Path, file_id: str, settings: Settings, *, budget: int
) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    handle: IO[bytes] = await asyncio.to_thread(path.open, "xb")
    try:
        while chunk := await part.read_chunk(CHUNK):
            size += len(chunk)
            if size > settings.max_file_bytes:
                raise TooLarge(
                    f"file {file_id!r} is over {settings.max_file_bytes:,} bytes, the most this "
                    "adapter takes in one file",
                    code="rest.file_too_large",
                )
            if size > budget:
                raise TooLarge(f"the request is over {settings.max_request_bytes:,} bytes")
            # Hash and write off the event loop; wait for the write even if cancelled, so the
            # file is not closed under it.
            await settled(asyncio.ensure_future(asyncio.to_thread(_write, handle, digest, chunk)))
    finally:
        await asyncio.to_thread(handle.close)
    return digest.hexdigest(), size


def _write(handle: IO[bytes], digest: Any, chunk: bytes) -> None:
    digest.update(chunk)
    handle.write(chunk)
