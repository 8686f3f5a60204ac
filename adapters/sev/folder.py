"""A СЭВ package on disk: which file is the message, which files are its resources, and
names that are safe to read and to write.

A package is a folder holding one СЭВ XML file (``DocInfo.xml`` or ``Report.xml`` when the
gateway writes it) and every file its ``Header/ResourceList`` names by ``UniqueName``. A
report may also come as that one XML file alone. Reading never leaves the package folder: a
resource name with a separator, ``..``, a drive or a control character is refused before any
file is opened, and a resource must be a regular file of the folder, not a link.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from lxml import etree

from adapters.api import FormatError
from adapters.sev.xmlio import attr, find_all, parse, q
from gateway import xmlsafe

DOCINFO: Final = "DocInfo.xml"
REPORT: Final = "Report.xml"
HINT: Final = f"a СЭВ package is a folder with {DOCINFO} or {REPORT} and the files it lists"

_UNSAFE = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]')
_WINDOWS_RESERVED = frozenset(
    {"con", "prn", "aux", "nul"}
    | {f"com{i}" for i in range(1, 10)}
    | {f"lpt{i}" for i in range(1, 10)}
)
_SAFE_FOLDER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_MAX_SNIFF: Final = 20  # XML files looked into when none has a standard name


@dataclass(frozen=True)
class Message:
    """The СЭВ XML file of a package, parsed, and where its resources live."""

    path: Path
    root: etree._Element
    folder: Path | None  # None: a lone XML file, which can carry no resources


def open_message(source: Path) -> Message:
    """The parsed СЭВ message of the package at ``source`` (a folder, or a lone XML file)."""
    if source.is_symlink():
        raise FormatError(f"{source.name} is a symbolic link; {HINT}", code="format.unsafe_name")
    if source.is_file() and source.suffix.lower() == ".xml":
        return Message(source, parse(read_limited(source), source.name), None)
    if not source.is_dir():
        raise FormatError(
            f"{source.name} is neither a folder nor an XML file; {HINT}", code="format.not_sev"
        )
    xml = sorted(p for p in source.iterdir() if p.suffix.lower() == ".xml" and p.is_file())
    named = [p for p in xml if p.name.lower() in (DOCINFO.lower(), REPORT.lower())]
    if len(named) > 1:
        raise FormatError(
            f"{source.name} holds both {named[0].name} and {named[1].name}; a package carries "
            "one СЭВ message, put each into its own folder",
            code="format.invalid",
        )
    if named or len(xml) == 1:
        path = (named or xml)[0]
        return Message(path, parse(read_limited(path), path.name), source)
    found = [(path, sniffed) for path in xml[:_MAX_SNIFF] if (sniffed := _sniff(path)) is not None]
    if len(found) == 1:
        return Message(found[0][0], found[0][1], source)
    if not found:
        raise FormatError(f"{source.name} holds no СЭВ message; {HINT}", code="format.not_sev")
    raise FormatError(
        f"{source.name} holds several СЭВ messages ({', '.join(p.name for p, _ in found)}); "
        f"put each into its own folder, or name the one to send {DOCINFO}",
        code="format.invalid",
    )


def _sniff(path: Path) -> etree._Element | None:
    """The root of ``path`` if it is a СЭВ message; anything else (an attachment) is None."""
    try:
        tree = parse(read_limited(path), path.name)
    except (FormatError, OSError):
        return None
    return tree if tree.tag in (q("DocInfo"), q("Report")) else None


def read_limited(path: Path) -> bytes:
    """The bytes of a message file, never following a link, up to the XML size limit
    (one byte more, so that the parser reports the excess)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise FormatError(
                f"{path.name} is a symbolic link; {HINT}", code="format.unsafe_name"
            ) from None
        raise
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise FormatError(f"{path.name} is not a file; {HINT}", code="format.not_sev")
        return fh.read(xmlsafe.DEFAULT_MAX_BYTES + 1)


def resources(header: etree._Element, message: Message) -> dict[str, str]:
    """``Header/ResourceList``: resource number → file name, every name checked to be safe.

    The message file itself may be listed (the gateway lists it as resource 0, as
    ``Header/@ResourceID`` names it); it is left out of the result.
    """
    listed: dict[str, str] = {}
    for index, resource in enumerate(find_all(header, "ResourceList/Resource"), start=1):
        where = f"Header/ResourceList/Resource[{index}]"
        number = resource_number(attr(resource, "UID"), f"{where}/@UID")
        name = attr(resource, "UniqueName")
        if name is None:
            raise FormatError(f"{where} has no UniqueName; every resource names its file")
        check_name(name, f"{where}/@UniqueName")
        if number in listed:
            raise FormatError(f"{where}: resource number {number} is listed twice")
        if name.casefold() != message.path.name.casefold():
            listed[number] = name
    return listed


def resource_number(raw: str | None, where: str) -> str:
    """Resource numbers compare as integers ("07" is 7); other ids as written."""
    if raw is None or not raw.strip():
        raise FormatError(f"{where} is missing; it names a Header/ResourceList/Resource")
    raw = raw.strip()
    return str(int(raw)) if raw.isdigit() else raw


def check_name(name: str, where: str) -> None:
    """Refuse a resource name that could open anything but a file of the package folder."""
    if (
        not name
        or name in (".", "..")
        or "/" in name
        or "\\" in name
        or ":" in name  # a Windows drive ("C:x") or an NTFS stream
        or any(ord(c) < 32 or ord(c) == 127 for c in name)
        or os.path.isabs(name)
    ):
        raise FormatError(
            f"{where}: {name!r} is not a plain file name of the package folder (no folders, "
            "no '..', no drive, no control characters); refusing to open it",
            code="format.unsafe_name",
        )


def resource_path(message: Message, name: str, *, code: str, what: str) -> Path:
    """The path of a listed resource, which must be a regular file of the package folder."""
    if message.folder is None:
        raise FormatError(
            f"{message.path.name} lists {what} {name!r}, but came as a lone XML file; put the "
            "XML and its files into one folder",
            code=code,
        )
    path = message.folder / name
    try:
        info = path.lstat()
    except FileNotFoundError:
        raise FormatError(
            f"{what} {name!r} is listed in Header/ResourceList but is not in the package "
            "folder; export the package again with all its files",
            code=code,
        ) from None
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISREG(info.st_mode):
        raise FormatError(
            f"{what} {name!r} is not a regular file (a link or a folder)", code="format.unsafe_name"
        )
    return path


# ---- writing ------------------------------------------------------------------------------


def portable(name: str) -> bool:
    """Whether ``name`` is fine as a file name on Linux and on a Windows share alike."""
    stem = name.split(".", 1)[0].casefold()
    return (
        0 < len(name.encode("utf-8")) <= 200
        and not _UNSAFE.search(name)
        and not name.startswith(".")
        and not name.endswith((".", " "))
        and stem not in _WINDOWS_RESERVED
    )


class Names:
    """Unique (ignoring case) file names for one package being written."""

    def __init__(self, *taken: str) -> None:
        self._used = {name.casefold() for name in taken}

    def claim(self, wanted: str, fallback: str) -> str:
        """``wanted`` when it is portable and free, else ``fallback`` made unique."""
        name = wanted if portable(wanted) else fallback
        stem, dot, suffix = name.rpartition(".")
        if not stem:
            stem, dot, suffix = name, "", ""
        number = 1
        while name.casefold() in self._used:
            number += 1
            name = f"{stem}-{number}{dot}{suffix}"
        self._used.add(name.casefold())
        return name


def safe_suffix(name: str) -> str:
    """The extension of ``name`` if it is plain (``.pdf``), for generated names."""
    suffix = Path(name).suffix
    return suffix if re.fullmatch(r"\.[A-Za-z0-9]{1,10}", suffix) else ""


def folder_name(message_id: str) -> str:
    """The folder an exported message is written to: its id when that is a safe name, else a
    digest of it (stable, so that a second export finds the first)."""
    if _SAFE_FOLDER.fullmatch(message_id):
        return message_id
    return "msg-" + hashlib.sha256(message_id.encode("utf-8")).hexdigest()[:40]
