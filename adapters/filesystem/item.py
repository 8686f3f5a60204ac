"""One drop item on disk: a folder holding ``message.json`` and the files it names.

Reading never leaves the item folder: a file is named by a plain file name (no separators,
no ``..``, nothing absolute), and neither the sidecar nor a file may be a symbolic link — the
files are opened with ``O_NOFOLLOW``, so a link swapped in after the check is refused too.
Digests and sizes are measured from the bytes, never taken from the sidecar.

Writing picks a safe, unique file name for every file (a peer's file name may be anything),
and records it as ``file`` in the entry when it differs from the file's ``name``, so that
reading the item back gives the same document.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
import unicodedata
from collections.abc import Iterable
from pathlib import Path

from adapters.api import AdapterError, FormatError, Package
from adapters.filerefs import CHUNK
from adapters.filesystem.sidecar import (
    HINT,
    MAX_SIDECAR_BYTES,
    SIDECAR,
    FileEntry,
    dumps,
    parse,
    render,
)
from adapters.folders import copy_file
from gateway.model import Document, FileRef

_SAFE_ITEM = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
# Characters that are fine on Linux but not on a Windows share (where local systems often are).
_NOT_PORTABLE = re.compile(r'[<>:"|?*\\/\x00-\x1f\x7f-\x9f]')
_WINDOWS_RESERVED = frozenset(
    {"con", "prn", "aux", "nul"}
    | {f"com{i}" for i in range(1, 10)}
    | {f"lpt{i}" for i in range(1, 10)}
)


def read_item(source: Path) -> Package:
    """Decode the item folder ``source``; the package's files point into it."""
    if source.is_symlink():
        raise FormatError(
            f"{source.name} is a symbolic link; put the item itself (a folder) into the folder",
            code="format.unsafe_name",
        )
    if not source.is_dir():
        raise FormatError(
            f"{source.name} is not a folder; an item is a folder holding {SIDECAR} and the files "
            f"it names ({HINT})",
            code="format.no_sidecar",
        )
    sidecar = parse(_read_sidecar(source / SIDECAR), source=SIDECAR)
    if not isinstance(sidecar.payload, Document):
        return Package(sidecar.payload, {}, sidecar.context)
    refs: list[FileRef] = []
    paths: dict[str, Path] = {}
    used: dict[str, int] = {}
    for index, entry in enumerate(sidecar.files):
        where = f"document.files[{index}]"
        key = f"{where}.{'file' if entry.file is not None else 'name'}"
        _check_name(entry.on_disk, key)
        folded = _fold(entry.on_disk)
        if folded in used:
            raise FormatError(
                f"{key}: {entry.on_disk!r} is already the file of document.files[{used[folded]}]; "
                "each entry needs its own file"
            )
        used[folded] = index
        path = source / entry.on_disk
        sha, size = _measure(path, entry, key)
        refs.append(entry.ref(sha, size, where))
        paths[entry.id] = path
    return Package(sidecar.document(tuple(refs)), paths, sidecar.context)


def write_item(package: Package, target: Path) -> None:
    """Write ``package`` into the empty folder ``target``: its files, then ``message.json``."""
    payload = package.payload
    extra: dict[str, dict[str, str]] = {}
    if isinstance(payload, Document):
        for ref, name in zip(payload.files, disk_names(payload.files), strict=True):
            source = package.files.get(ref.id)
            if source is None:
                raise AdapterError(f"the package has no file for {ref.id!r} ({ref.name})")
            copy_file(source, target / name)
            if name != ref.name:
                extra[ref.id] = {"file": name}
    (target / SIDECAR).write_bytes(dumps(render(payload, package.context, extra)))


def disk_names(files: Iterable[FileRef]) -> list[str]:
    """A file name in the item folder for each file: its own name where that is safe and
    unique (ignoring case), else a cleaned one made unique with a number."""
    used = {_fold(SIDECAR)}
    names: list[str] = []
    for ref in files:
        name = ref.name if _portable(ref.name) else _cleaned(ref.name, ref.id)
        stem, dot, suffix = name.rpartition(".")
        if not stem:
            stem, dot, suffix = name, "", ""
        number = 1
        while _fold(name) in used:
            number += 1
            name = f"{stem}-{number}{dot}{suffix}"
        used.add(_fold(name))
        names.append(name)
    return names


def item_name(message_id: str) -> str:
    """The folder name of an exported message: its id when that is a safe name, else a
    digest of it (stable, so that a second export finds the first)."""
    if _SAFE_ITEM.fullmatch(message_id):
        return message_id
    return "msg-" + hashlib.sha256(message_id.encode("utf-8")).hexdigest()[:40]


def _read_sidecar(path: Path) -> bytes:
    try:
        fd = _open(path)
    except FileNotFoundError:
        raise FormatError(
            f"the item has no {SIDECAR}; put a {SIDECAR} describing the document into the "
            f"folder, next to its files ({HINT})",
            code="format.no_sidecar",
        ) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise FormatError(
                f"{SIDECAR} is a symbolic link; put the file itself into the item folder",
                code="format.unsafe_name",
            ) from None
        raise
    if not _regular(fd):
        raise FormatError(f"{SIDECAR} is not a file ({HINT})", code="format.no_sidecar")
    with os.fdopen(fd, "rb") as fh:
        return fh.read(MAX_SIDECAR_BYTES + 1)


def _measure(path: Path, entry: FileEntry, key: str) -> tuple[str, int]:
    try:
        fd = _open(path)
    except FileNotFoundError:
        raise FormatError(
            f"{key}: there is no file {entry.on_disk!r} in the item folder; put it next to "
            f"{SIDECAR} or correct the name (names are case-sensitive)",
            code="format.missing_file",
        ) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise FormatError(
                f"{key}: {entry.on_disk!r} is a symbolic link; files are read only from the "
                "item folder itself: copy the file in instead of linking it",
                code="format.unsafe_name",
            ) from None
        raise
    if not _regular(fd):
        raise FormatError(
            f"{key}: {entry.on_disk!r} is not a plain file (a folder?); name a file",
            code="format.missing_file",
        )
    digest = hashlib.sha256()
    size = 0
    with os.fdopen(fd, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _open(path: Path) -> int:
    # No links followed; O_NONBLOCK so that a named pipe cannot make us wait forever (it is
    # then refused as not a regular file).
    return os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)


def _regular(fd: int) -> bool:
    """Whether ``fd`` is a regular file; closes it if not."""
    if stat.S_ISREG(os.fstat(fd).st_mode):
        return True
    os.close(fd)
    return False


def _check_name(name: str, key: str) -> None:
    problem = None
    if "/" in name or "\\" in name:
        problem = "it contains a path separator"
    elif name in (".", ".."):
        problem = "it names a folder"
    elif any(unicodedata.category(c) == "Cc" for c in name):
        problem = "it contains control characters"
    elif _fold(name) == _fold(SIDECAR):
        problem = f"it is the sidecar {SIDECAR} itself"
    elif len(name.encode("utf-8")) > 255:
        problem = "it is longer than 255 bytes"
    if problem:
        raise FormatError(
            f"{key}: {name!r} is not a plain file name in the item folder ({problem}); name a "
            f"file that lies next to {SIDECAR}, without folders",
            code="format.unsafe_name",
        )


def _portable(name: str) -> bool:
    return (
        bool(name)
        and not _NOT_PORTABLE.search(name)
        and name not in (".", "..")
        and not name.endswith((" ", "."))
        and name.split(".")[0].strip().lower() not in _WINDOWS_RESERVED
        and _fold(name) != _fold(SIDECAR)
        and len(name.encode("utf-8")) <= 200
    )


def _cleaned(name: str, file_id: str) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = _NOT_PORTABLE.sub("_", base).strip(" .")
    # Too long: keep the end, where the extension is.
    cleaned = cleaned.encode("utf-8")[-200:].decode("utf-8", "ignore").strip(" .")
    if not _portable(cleaned):
        cleaned = "file-" + _NOT_PORTABLE.sub("_", file_id)
    return cleaned


def _fold(name: str) -> str:
    return unicodedata.normalize("NFC", name).casefold()
