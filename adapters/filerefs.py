"""Describing local files as manifest entries: digests and sizes computed by streaming.

Decoders use :func:`describe` for every file of a package, so that a FileRef's ``sha256`` and
``size`` are always what is on disk — never what the package claims.
"""

from __future__ import annotations

import hashlib
import mimetypes
from pathlib import Path

from gateway.model import FileRef, FileRole

CHUNK = 1 << 20

_TYPES = {
    ".pdf": "application/pdf",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".doc": "application/msword",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".odt": "application/vnd.oasis.opendocument.text",
    ".rtf": "application/rtf",
    ".txt": "text/plain",
    ".xml": "application/xml",
    ".zip": "application/zip",
    ".p7s": "application/pkcs7-signature",
    ".sig": "application/pkcs7-signature",
    ".sgn": "application/pkcs7-signature",
}


def media_type(name: str) -> str:
    """A media type for a file name (documents of Russian EDMS first, then the system table)."""
    suffix = Path(name).suffix.lower()
    return _TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"


def sha256_of(path: Path) -> tuple[str, int]:
    """The hex SHA-256 and size of a file, read in chunks (never whole)."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def describe(
    path: Path,
    *,
    id: str,
    role: FileRole,
    name: str | None = None,
    media: str | None = None,
    signature_of: str | None = None,
    description: str | None = None,
    pages: int | None = None,
) -> FileRef:
    """A manifest entry for the file at ``path``, its digest and size measured."""
    sha, size = sha256_of(path)
    name = name or path.name
    return FileRef(
        id=id,
        role=role,
        name=name,
        media_type=media or media_type(name),
        size=size,
        sha256=sha,
        signature_of=signature_of,
        description=description,
        pages=pages,
    )
