"""The sidecar ``message.json``: the canonical model as JSON, with a file list a person can write.

One JSON object, format ``gateway-drop/1`` (docs/adapters/filesystem.md has a full example)::

    {"format": "gateway-drop/1",
     "document": {…a Document as in gateway.modeljson, but "files" lists FileEntry objects…},
     "context": {"any key": "any text"}}

or ``"notification": {…a Notification…}`` instead of ``"document"``. A file entry names the
file and says what it is; its digest and size are measured by whoever reads the bytes (a
stated ``sha256``/``size`` must match them). This module only translates JSON ⇄ model: it
never touches a file, so the drop folder and the REST adapter share it.

Input is untrusted: every problem is a :class:`FormatError` with a stable code and the JSON
path of the problem, as :mod:`gateway.modeljson` names it.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from adapters.api import FormatError, Payload
from adapters.filerefs import media_type
from gateway.model import Document, FileRef, FileRole, Message, Notification
from gateway.modeljson import IntakeError, from_json, to_json

FORMAT = "gateway-drop/1"
SIDECAR = "message.json"
MAX_SIDECAR_BYTES = 4 * 1024 * 1024
HINT = "see docs/adapters/filesystem.md for the format"

# The envelope schema's Id type (xsd/common-1.xsd): file ids travel as manifest ids.
FILE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:{}\-]{0,127}")
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_TOP = ("format", "document", "notification", "context")


@dataclass(frozen=True)
class FileEntry:
    """One item of ``document.files`` as written in a sidecar.

    ``file`` is the file's name in the item folder when it differs from ``name`` (the gateway
    writes it when a peer's file name is not safe or not unique in a folder); readers use
    ``file or name``.
    """

    id: str
    name: str
    role: FileRole
    media_type: str | None = None
    signature_of: str | None = None
    description: str | None = None
    pages: int | None = None
    sha256: str | None = None
    size: int | None = None
    file: str | None = None

    def ref(self, sha256: str, size: int, path: str) -> FileRef:
        """The manifest entry of this file, whose bytes measured ``sha256`` and ``size``."""
        if self.sha256 is not None and self.sha256.lower() != sha256:
            raise FormatError(
                f"{path}.sha256: the sidecar says {self.sha256.lower()}, but the file "
                f"{self.on_disk!r} has SHA-256 {sha256}; the file was changed or replaced after "
                "the sidecar was written: send the right file, or leave sha256 out",
                code="format.digest_mismatch",
            )
        if self.size is not None and self.size != size:
            raise FormatError(
                f"{path}.size: the sidecar says {self.size} bytes, but the file "
                f"{self.on_disk!r} has {size}; send the whole file, or leave size out",
                code="format.digest_mismatch",
            )
        return FileRef(
            id=self.id,
            role=self.role,
            name=self.name,
            media_type=self.media_type or media_type(self.name),
            size=size,
            sha256=sha256,
            signature_of=self.signature_of,
            description=self.description,
            pages=self.pages,
        )

    @property
    def on_disk(self) -> str:
        return self.file or self.name


@dataclass(frozen=True)
class Sidecar:
    """A parsed sidecar. For a document, ``payload.files`` is empty until the bytes are
    measured: :meth:`document` fills it in from :attr:`files`."""

    payload: Payload
    files: tuple[FileEntry, ...] = ()
    context: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def document(self, refs: tuple[FileRef, ...]) -> Document:
        assert isinstance(self.payload, Document)
        return dataclasses.replace(self.payload, files=refs)


def parse(raw: bytes, *, source: str = SIDECAR) -> Sidecar:
    """Read sidecar JSON (UTF-8, a byte-order mark allowed); ``source`` names it in errors."""
    return parse_data(load_json(raw, source=source), source=source)


def load_json(raw: bytes, *, source: str = SIDECAR) -> Any:
    """Strict JSON: at most MAX_SIDECAR_BYTES, no repeated keys, no NaN."""
    if len(raw) > MAX_SIDECAR_BYTES:
        raise FormatError(
            f"{source} is {len(raw):,} bytes; at most {MAX_SIDECAR_BYTES:,} are read. "
            "Put long texts into files, not into the sidecar"
        )
    try:
        return json.loads(
            raw.decode("utf-8-sig"),
            object_pairs_hook=_unique_keys,
            parse_constant=_no_constant,
        )
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise FormatError(
            f"{source} is not valid JSON ({exc}); save it as UTF-8 JSON ({HINT})",
            code="format.json",
        ) from None


def parse_data(data: Any, *, source: str = SIDECAR) -> Sidecar:
    """The same as :func:`parse`, for JSON already decoded."""
    if not isinstance(data, dict):
        raise FormatError(f"{source} must hold a JSON object ({HINT})")
    version = data.get("format")
    if version != FORMAT:
        said = "does not say its format" if version is None else f"says format {version!r}"
        raise FormatError(
            f'{source} {said}; this gateway reads "format": "{FORMAT}". Write that key, or '
            "update the gateway if the sidecar comes from a newer version",
            code="format.unknown_version",
        )
    unknown = sorted(set(data) - set(_TOP))
    if unknown:
        raise FormatError(f"{unknown[0]}: unknown field; known: {', '.join(_TOP)} ({HINT})")
    if ("document" in data) == ("notification" in data):
        raise FormatError(f'{source} must hold either "document" or "notification" ({HINT})')
    context = _context(data.get("context", {}))
    if "notification" in data:
        return Sidecar(_model(Notification, data["notification"], "notification"), (), context)
    document = data["document"]
    if not isinstance(document, dict):
        raise FormatError(f"document: must be an object ({HINT})")
    fields = {key: value for key, value in document.items() if key != "files"}
    payload = _model(Document, fields, "document")
    return Sidecar(payload, _entries(document.get("files", [])), context)


def render(
    payload: Payload,
    context: Mapping[str, str] = {},  # read only
    extra: Mapping[str, Mapping[str, Any]] = {},
) -> dict[str, Any]:
    """The sidecar of ``payload`` (a JSON-ready dict): the inverse of :func:`parse_data`.

    File entries carry the measured ``sha256`` and ``size``; ``extra[file_id]`` adds keys to
    an entry (``file`` for a folder, ``url`` for the REST inbox). ``streebog256`` is not
    written: a reader could not check it.
    """
    data: dict[str, Any] = {"format": FORMAT}
    if isinstance(payload, Document):
        body = to_json(payload)
        body["files"] = [_entry(ref, extra.get(ref.id, {})) for ref in payload.files]
        data["document"] = body
    else:
        data["notification"] = to_json(payload)
    if context:
        data["context"] = dict(context)
    return data


def dumps(data: Mapping[str, Any]) -> bytes:
    """Sidecar bytes as the gateway writes them: UTF-8, readable Cyrillic, indented."""
    return (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def export_context(message: Message) -> dict[str, str]:
    """What the gateway adds to the context of an item it exports (documented keys)."""
    return {
        "gateway.message_id": message.message_id,
        "gateway.sender": message.sender,
        "gateway.created": message.created.isoformat(),
    }


def _entry(ref: FileRef, extra: Mapping[str, Any]) -> dict[str, Any]:
    entry = to_json(ref)
    entry.pop("streebog256", None)
    entry.update(extra)
    return entry  # type: ignore[no-any-return]


def _model(cls: type[Any], data: Any, path: str) -> Any:
    try:
        return from_json(cls, data, path)
    except IntakeError as exc:
        raise FormatError(f"{exc.message} ({HINT})") from None


def _entries(data: Any) -> tuple[FileEntry, ...]:
    if not isinstance(data, list):
        raise FormatError(f"document.files: must be a list ({HINT})")
    entries: list[FileEntry] = []
    seen: set[str] = set()
    for index, item in enumerate(data):
        path = f"document.files[{index}]"
        entry: FileEntry = _model(FileEntry, item, path)
        if not FILE_ID.fullmatch(entry.id):
            raise FormatError(
                f"{path}.id: {entry.id!r} is not a file id; use letters A-Z, a-z, digits and "
                "._:{}- (at most 128, starting with a letter or digit)"
            )
        if entry.id in seen:
            raise FormatError(f"{path}.id: {entry.id!r} is listed twice; give each file its own id")
        seen.add(entry.id)
        if not entry.name:
            raise FormatError(f"{path}.name: must not be empty")
        if entry.sha256 is not None and not _HEX64.fullmatch(entry.sha256):
            raise FormatError(f"{path}.sha256: must be 64 hexadecimal digits, or left out")
        if entry.size is not None and entry.size < 0:
            raise FormatError(f"{path}.size: must not be negative")
        if entry.pages is not None and entry.pages < 0:
            raise FormatError(f"{path}.pages: must not be negative")
        entries.append(entry)
    for index, entry in enumerate(entries):
        if entry.signature_of is not None and (
            entry.signature_of not in seen or entry.signature_of == entry.id
        ):
            raise FormatError(
                f"document.files[{index}].signature_of: {entry.signature_of!r} is not the id of "
                "another file of this document; a signature must point at the file it signs"
            )
    return tuple(entries)


def _context(data: Any) -> dict[str, str]:
    if not isinstance(data, dict):
        raise FormatError(f'context: must be an object of texts, e.g. {{"case": "12-3"}} ({HINT})')
    for key, value in data.items():
        if not isinstance(value, str):
            raise FormatError(f"context.{key}: must be a string")
    return dict(data)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key, value in pairs:
        if key in data:  # which of the two would count is a guess; refuse to guess
            raise ValueError(f"the key {key!r} appears twice in one object")
        data[key] = value
    return data


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")
