"""``POST /api/v1/outbox``: a local system submits a document with its files.

Request: ``multipart/form-data``; the first part, named ``document``, is JSON
``{"document": {…canonical Document…}, "files": [{"id", "name", "media_type", "role",
"signature_of"?, "description"?, "pages"?}]}``; then one part per file, named by its id.
Files are streamed into the blob store. ``Idempotency-Key`` (optional, recommended) makes a
resubmission after a lost answer return the same messages instead of new ones.
Answer: ``202`` with the queued messages, only after they are durably recorded.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import BodyPartReader, web

from gateway.api.auth import Tokens
from gateway.appkeys import INTAKE, TOKENS
from gateway.intake import FileSpec, with_files
from gateway.model import Document, FileRef
from gateway.modeljson import IntakeError, from_json

MAX_METADATA = 4 * 1024 * 1024


async def submit(request: web.Request) -> web.Response:
    tokens: Tokens = request.app[TOKENS]
    caller = tokens.caller(request.headers.get("Authorization"))
    intake = request.app[INTAKE]
    reader = await request.multipart()
    first = await reader.next()
    if not isinstance(first, BodyPartReader) or first.name != "document":
        raise IntakeError("the first part must be named 'document' and hold the JSON metadata")
    raw = await first.read(decode=False)
    if len(raw) > MAX_METADATA:
        raise IntakeError(f"the document part is over {MAX_METADATA:,} bytes")
    document, specs = _metadata(raw)
    stored: list[FileRef] = []
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise IntakeError("nested multipart bodies are not accepted")
        spec = specs.pop(part.name or "", None)
        if spec is None:
            raise IntakeError(f"file part {part.name!r} is not listed in 'files' (or came twice)")
        stored.append(await intake.store_file(spec, _chunks(part)))
    if specs:
        raise IntakeError(f"listed files were not sent: {', '.join(sorted(specs))}")
    key = request.headers.get("Idempotency-Key")
    records = await intake.submit(
        with_files(document, stored), local_ref=key, actor=f"local:{caller}"
    )
    body = {
        "messages": [
            {"message_id": r.message_id, "recipient": r.peer, "state": r.state.value}
            for r in records
        ]
    }
    return web.json_response(body, status=202)


def _metadata(raw: bytes) -> tuple[Document, dict[str, FileSpec]]:
    try:
        data: Any = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise IntakeError(f"the document part is not JSON: {exc}") from None
    if not isinstance(data, dict) or "document" not in data:
        raise IntakeError('the document part must be {"document": {…}, "files": […]}')
    files = data.get("files", [])
    if not isinstance(files, list):
        raise IntakeError("files: must be a list")
    document = from_json(Document, data["document"], "document")
    specs: dict[str, FileSpec] = {}
    for index, item in enumerate(files):
        spec = from_json(FileSpec, item, f"files[{index}]")
        if spec.id in specs:
            raise IntakeError(f"files[{index}].id: {spec.id!r} is listed twice")
        specs[spec.id] = spec
    return document, specs


async def _chunks(part: BodyPartReader) -> AsyncIterator[bytes]:
    while chunk := await part.read_chunk(1 << 20):
        yield chunk
