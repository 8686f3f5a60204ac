"""The files of an МЭДО message: names checked on the way in, planned on the way out.

Reading: the xdms (or a passport) names files by ``localName``; each name must be a plain file
name (no folder, no ``..``, no drive) of a regular file in the message folder — never a link
that could point elsewhere. Files get ids by position (``file-1``, its signatures
``file-1-sig-1``): МЭДО has no file ids, and the gateway's ids must be ASCII while МЭДО names
are usually Cyrillic. Digests are measured, never taken from the message.

Writing: canonical names may repeat, carry folders or characters Windows refuses; each file gets
a unique safe name, case-insensitively, that does not collide with the adapter's own files.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from adapters.api import FormatError
from adapters.filerefs import describe
from adapters.medo.names import SIGNATURE_SUFFIXES
from gateway.model import FileRef, FileRole

_DRIVE: Final = re.compile(r"[A-Za-z]:")
_UNSAFE: Final = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]')
_BASE64: Final = re.compile(rb"[A-Za-z0-9+/=\s]+")
MAX_NAME: Final = 150


@dataclass(frozen=True)
class Entry:
    """A file a message names (a main text or an attachment) and its signature files."""

    name: str
    role: FileRole
    description: str | None = None
    pages: int | None = None
    signatures: tuple[str, ...] = ()


Resolve = Callable[[str, str], Path]
"""Finds a named file: ``resolve(name, code)`` raises FormatError ``code`` if it is missing."""


def unsafe(name: str) -> str | None:
    """Why ``name`` is not a plain file name (a path could leave the folder), or None."""
    if not name or name in (".", ".."):
        return "it is empty or a dot name"
    if "/" in name or "\\" in name:
        return "it contains a folder separator"
    if _DRIVE.match(name):
        return "it starts with a drive letter"
    if any(ord(ch) < 32 for ch in name):
        return "it contains control characters"
    return None


def in_folder(folder: Path, where: str) -> Resolve:
    """A resolver for files of a message folder (exact name first, then any case)."""

    def resolve(name: str, code: str) -> Path:
        reason = unsafe(name)
        if reason:
            raise FormatError(
                f"{where}: the file name {name!r} is refused because {reason}; name the files "
                "of an МЭДО message by their plain names inside the message folder",
                code="format.unsafe_name",
            )
        path = folder / name
        if not path.exists() and not path.is_symlink():
            matches = [p for p in folder.iterdir() if p.name.casefold() == name.casefold()]
            if len(matches) == 1:
                path = matches[0]
        if path.is_symlink():
            raise FormatError(
                f"{where}: {name} is a symbolic link; put the file itself into the message folder",
                code="format.link",
            )
        if not path.is_file():
            what = "signature file" if code == "format.missing_signature" else "file"
            raise FormatError(
                f"{where} names the {what} {name!r}, but the message has no such file; add it "
                "or correct the name",
                code=code,
            )
        return path

    return resolve


def check_signature(path: Path, name: str) -> None:
    """A detached signature must be DER (a SEQUENCE) or base64/PEM text; both are carried as
    they are. Anything else (an empty file, a PDF named .p7s) is refused."""
    with path.open("rb") as fh:
        head = fh.read(4096)
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not text:
        raise FormatError(
            f"the signature file {name} is empty; put the detached PKCS#7 signature into it",
            code="format.missing_signature",
        )
    if text[0] == 0x30 or text.startswith(b"-----BEGIN") or _BASE64.fullmatch(text):
        return
    raise FormatError(
        f"{name} is neither a DER nor a base64 PKCS#7 signature; put the detached signature "
        "(SignedData) of its file there",
        code="format.bad_signature",
    )


def describe_all(
    entries: Sequence[Entry], resolve: Resolve
) -> tuple[tuple[FileRef, ...], dict[str, Path]]:
    """FileRefs (digests measured) and local paths for every entry and its signatures."""
    seen: set[str] = set()
    refs: list[FileRef] = []
    paths: dict[str, Path] = {}
    for index, entry in enumerate(entries, 1):
        file_id = f"file-{index}"
        for name in (entry.name, *entry.signatures):
            if name.casefold() in seen:
                raise FormatError(
                    f"the file {name!r} is named twice in the message; each file is listed once",
                    code="format.duplicate_name",
                )
            seen.add(name.casefold())
        path = resolve(entry.name, "format.missing_file")
        paths[file_id] = path
        refs.append(
            describe(
                path,
                id=file_id,
                role=entry.role,
                name=entry.name,
                description=entry.description,
                pages=entry.pages,
            )
        )
        for number, signature in enumerate(entry.signatures, 1):
            sig_id = f"{file_id}-sig-{number}"
            sig_path = resolve(signature, "format.missing_signature")
            check_signature(sig_path, signature)
            paths[sig_id] = sig_path
            refs.append(
                describe(
                    sig_path,
                    id=sig_id,
                    role=FileRole.SIGNATURE,
                    name=signature,
                    signature_of=file_id,
                )
            )
    return tuple(refs), paths


def by_convention(entries: Sequence[Entry], listed: Iterable[str]) -> list[Entry]:
    """Signatures named after their file (``letter.pdf.p7s``, ``letter.pdf.2.sig``) that the
    XML does not mention — the only way 2.2, which has no ``signedData``, carries them."""
    named = {n.casefold() for e in entries for n in (e.name, *e.signatures)}
    extra: dict[str, list[str]] = {}
    targets = sorted((e.name for e in entries), key=len, reverse=True)
    for name in listed:
        if name.casefold() in named or not name.lower().endswith(SIGNATURE_SUFFIXES):
            continue
        for target in targets:  # the longest name first: "a.pdf.p7s" before "a.p7s"
            if name.casefold().startswith(target.casefold() + "."):
                extra.setdefault(target, []).append(name)
                break
    return [
        Entry(e.name, e.role, e.description, e.pages, (*e.signatures, *extra.get(e.name, ())))
        for e in entries
    ]


# ---- writing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Planned:
    """A file to write (main text or attachment) under ``name``, with its signatures."""

    ref: FileRef
    name: str
    signatures: tuple[tuple[FileRef, str], ...] = ()


def safe_name(name: str) -> str:
    """A plain file name every МЭДО client can write: no folders, no characters Windows
    refuses, no trailing dots or spaces, at most 150 characters (the extension kept)."""
    base = _UNSAFE.sub("_", name.replace("\\", "/").rsplit("/", 1)[-1]).strip(" .")
    if not base:
        base = "file"
    if len(base) > MAX_NAME:
        suffix = Path(base).suffix[:20]
        base = base[: MAX_NAME - len(suffix)].rstrip(" .") + suffix
    return base


def plan(files: Sequence[FileRef], *, reserved: Iterable[str], convention: bool) -> list[Planned]:
    """Names for every file; a signature goes with the file it signs (one that signs nothing
    of this document travels as a file of its own). With ``convention`` (2.2) a signature is
    named ``<its file>.p7s`` so that a reader can pair them without ``signedData``."""
    taken = {name.casefold() for name in reserved}
    signed = {f.id for f in files if f.role is not FileRole.SIGNATURE}
    planned: dict[str, Planned] = {}
    for ref in files:
        if ref.role is FileRole.SIGNATURE and ref.signature_of in signed:
            continue
        planned[ref.id] = Planned(ref, _unique(safe_name(ref.name), taken))
    for ref in files:
        if ref.role is not FileRole.SIGNATURE or ref.signature_of not in signed:
            continue
        owner = planned[ref.signature_of or ""]
        name = _signature_name(ref.name, owner.name, taken, convention)
        planned[owner.ref.id] = Planned(owner.ref, owner.name, (*owner.signatures, (ref, name)))
    return list(planned.values())


def _unique(name: str, taken: set[str]) -> str:
    candidate, number = name, 2
    stem, suffix = Path(name).stem, Path(name).suffix
    while candidate.casefold() in taken:
        candidate = f"{stem} ({number}){suffix}"
        number += 1
    taken.add(candidate.casefold())
    return candidate


def _signature_name(original: str, target: str, taken: set[str], convention: bool) -> str:
    if not convention:
        return _unique(safe_name(original), taken)
    suffix = Path(original).suffix.lower()
    suffix = suffix if suffix in SIGNATURE_SUFFIXES else ".p7s"
    own = safe_name(original)
    paired = own.casefold().startswith(target.casefold() + ".")
    candidates = [own] if paired and own.lower().endswith(SIGNATURE_SUFFIXES) else []
    candidates += [f"{target}{suffix}"] + [f"{target}.{n}{suffix}" for n in range(2, 1000)]
    for candidate in candidates:
        if candidate.casefold() not in taken:
            taken.add(candidate.casefold())
            return candidate
    raise FormatError(f"{target} has more signatures than can be named", code="format.unwritable")
