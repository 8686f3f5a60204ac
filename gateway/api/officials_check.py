"""The message page's check of the officials' own signatures, on request.

Each signature file in the message's manifest is verified against the file it signs, with the
officials' CAs (``keys.official_anchors``, by default the trust anchors). The bytes come from
the blob store: its local file when it has one, else a temporary copy streamed out of it and
removed afterwards. The result is data to show, never an error of the gateway.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gateway.api.views import decoded, when
from gateway.crypto import load_certificates
from gateway.crypto.officials import verify_message_files
from gateway.model import Document, FileRef
from gateway.store.api import BlobStore, MessageRecord


async def check(
    record: MessageRecord, blobs: BlobStore, anchor_files: tuple[Path, ...]
) -> list[dict[str, Any]]:
    message = decoded(record)
    if message is None or not isinstance(message.payload, Document):
        return []
    refs = message.payload.files
    signed = {r.signature_of for r in refs if r.signature_of}
    wanted = [r for r in refs if r.signature_of or r.id in signed]
    if not wanted:
        return []
    anchors = [cert for path in anchor_files for cert in load_certificates(path)]
    with _scratch() as scratch:
        paths = {r.id: await _local(blobs, r, scratch) for r in wanted}
        found = await asyncio.to_thread(
            verify_message_files, wanted, lambda ref: paths[ref.id], anchors
        )
    by_id = {r.id: r for r in refs}
    return [
        {
            "file_id": file_id,
            "name": by_id[file_id].name,
            "signs": by_id[file_id].signature_of,
            "signs_name": by_id[by_id[file_id].signature_of or ""].name,
            "valid": result.valid,
            "signer": result.signer,
            "signing_time": when(result.signing_time),
            "algorithm": result.algorithm,
            "reason": result.reason,
            "code": result.code,
        }
        for file_id, result in found.items()
    ]


@contextlib.contextmanager
def _scratch() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="gateway-signatures-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def _local(blobs: BlobStore, ref: FileRef, scratch: Path) -> Path:
    local = blobs.local_path(ref.sha256)
    if local is not None:
        return local
    target = scratch / ref.sha256
    with target.open("wb") as out:  # a blob held elsewhere (a database): streamed, not loaded
        async for chunk in blobs.read(ref.sha256):
            await asyncio.to_thread(out.write, chunk)
    return target
