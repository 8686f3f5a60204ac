"""The 2.7 transport container (``document.edc.zip``): safety checks, extraction, writing.

A container comes from outside, so its ZIP directory is checked entry by entry BEFORE anything
is written: names that could leave the extraction folder (``..``, absolute, drive letters,
backslashes, control characters), links and other non-regular entries, duplicates (ignoring
case, as Windows does), encryption, unknown compression, and sizes — the total a ZIP declares
and the ratio of expanded to compressed bytes (a ZIP bomb). Extraction then writes only into a
scratch folder created next to the message (``.<name>.medo-XXXX/.unpacked``), never follows a
name outside it, and checks that every entry expands to exactly its declared size and CRC-32.
Any failure removes the scratch folder; the adapter's intake removes it after settling.
"""

from __future__ import annotations

import glob
import lzma
import re
import shutil
import stat
import tempfile
import unicodedata
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO, Final

from adapters.api import FormatError

CHUNK: Final = 1 << 20
MAX_ENTRIES: Final = 10_000
#: Entries smaller than this are not judged by their ratio (a page of zeros compresses 1000×).
RATIO_FLOOR: Final = 1 << 20
SCRATCH: Final = ".medo-"
UNPACKED: Final = ".unpacked"
_DRIVE: Final = re.compile(r"[A-Za-z]:")
_METHODS: Final = frozenset(
    {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
)


@dataclass(frozen=True)
class Limits:
    max_bytes: int  # the container file and the sum of what it expands to
    max_ratio: float  # expanded / compressed, per large entry and overall


class Checked:
    """An opened container whose directory passed every check; entries by name."""

    def __init__(self, archive: zipfile.ZipFile, entries: dict[str, zipfile.ZipInfo]) -> None:
        self.archive = archive
        self.entries = entries
        self._folded = {name.casefold(): name for name in entries}

    def find(self, name: str) -> str | None:
        """The entry called ``name`` (exactly, else ignoring case), or None."""
        if name in self.entries:
            return name
        return self._folded.get(name.casefold())

    def read(self, name: str, limit: int) -> bytes:
        """A small entry's bytes (the passport), CRC checked."""
        info = self.entries[name]
        if info.file_size > limit:
            raise FormatError(
                f"{name} in the container is {info.file_size:,} bytes, over {limit:,}",
                code="format.zip_bomb",
            )
        with self.open(info) as src:
            return _drain(src, info, None)

    def open(self, info: zipfile.ZipInfo) -> IO[bytes]:
        try:
            return self.archive.open(info)
        except (zipfile.BadZipFile, NotImplementedError) as exc:
            raise FormatError(
                f"the entry {info.filename!r} cannot be read ({exc}); send the container again",
                code="format.zip_invalid",
            ) from None

    def close(self) -> None:
        self.archive.close()


def open_checked(path: Path, limits: Limits) -> Checked:
    """Open ``path`` and check its directory; FormatError with a specific code otherwise."""
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise FormatError(
            f"{path.name} is {size:,} bytes, over the limit of {limits.max_bytes:,}",
            code="format.zip_bomb",
        )
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError) as exc:
        raise FormatError(
            f"{path.name} is not a readable ZIP file ({exc}); send the container again",
            code="format.zip_invalid",
        ) from None
    try:
        return Checked(archive, _check(archive.infolist(), limits, path.name))
    except BaseException:
        archive.close()
        raise


def _check(
    infos: Sequence[zipfile.ZipInfo], limits: Limits, zip_name: str
) -> dict[str, zipfile.ZipInfo]:
    if len(infos) > MAX_ENTRIES:
        raise FormatError(
            f"{zip_name} has {len(infos):,} entries, over {MAX_ENTRIES:,}", code="format.zip_bomb"
        )
    entries: dict[str, zipfile.ZipInfo] = {}
    seen: set[str] = set()
    total = packed = 0
    for info in infos:
        name = _name(info)
        problem = _unsafe(name)
        if problem:
            raise FormatError(
                f"{zip_name}: the entry {name!r} is refused because {problem}; a container "
                "holds plain relative names only",
                code="format.zip_slip",
            )
        kind = stat.S_IFMT(info.external_attr >> 16)  # 0 when the writer recorded no type
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise FormatError(
                f"{zip_name}: the entry {name!r} is a link or a special file; a container "
                "holds regular files only",
                code="format.zip_link",
            )
        key = unicodedata.normalize("NFC", name.rstrip("/")).casefold()
        if key in seen:
            raise FormatError(
                f"{zip_name}: the name {name!r} occurs twice (names are compared ignoring case)",
                code="format.zip_duplicate",
            )
        seen.add(key)
        if info.is_dir():
            continue
        if info.flag_bits & 0x1:
            raise FormatError(
                f"{zip_name}: the entry {name!r} is encrypted; send the container unencrypted",
                code="format.zip_invalid",
            )
        if info.compress_type not in _METHODS:
            raise FormatError(
                f"{zip_name}: the entry {name!r} uses an unsupported compression method "
                f"({info.compress_type}); use deflate",
                code="format.zip_invalid",
            )
        total += info.file_size
        packed += info.compress_size
        if total > limits.max_bytes:
            raise FormatError(
                f"{zip_name} expands to more than {limits.max_bytes:,} bytes",
                code="format.zip_bomb",
            )
        if _inflated(info.file_size, info.compress_size, limits.max_ratio):
            raise FormatError(
                f"{zip_name}: the entry {name!r} expands {info.file_size:,} bytes from "
                f"{info.compress_size:,} (over {limits.max_ratio:g}×); that is a ZIP bomb",
                code="format.zip_bomb",
            )
        entries[name] = info
    if _inflated(total, packed, limits.max_ratio):
        raise FormatError(
            f"{zip_name} expands {total:,} bytes from {packed:,} (over {limits.max_ratio:g}×)",
            code="format.zip_bomb",
        )
    return entries


def _inflated(size: int, packed: int, ratio: float) -> bool:
    return size > RATIO_FLOOR and size > ratio * max(packed, 1)


def _name(info: zipfile.ZipInfo) -> str:
    """The entry name; without the UTF-8 flag, non-ASCII names are Russian Windows' cp866."""
    name = info.filename
    if info.flag_bits & 0x800 or name.isascii():
        return name
    try:
        return name.encode("cp437").decode("cp866")
    except UnicodeError:
        return name


def _unsafe(name: str) -> str | None:
    if not name:
        return "it is empty"
    if any(ord(ch) < 32 for ch in name):
        return "it contains control characters"
    if "\\" in name:
        return "it contains a backslash (a Windows folder separator)"
    if name.startswith("/"):
        return "it is an absolute path"
    if _DRIVE.match(name):
        return "it starts with a drive letter"
    parts = name.rstrip("/").split("/")
    if any(part in ("", ".", "..") for part in parts):
        return "it steps out of or around its folder ('..', '.' or an empty part)"
    return None


# ---- extraction ------------------------------------------------------------------------------


def scratch(source: Path) -> Path:
    """A new scratch folder next to ``source``, with an empty ``.unpacked`` inside."""
    folder = Path(tempfile.mkdtemp(prefix=_prefix(source), dir=source.parent))
    (folder / UNPACKED).mkdir()
    return folder


def remove_scratch(source: Path) -> None:
    """Remove every scratch folder this adapter made for ``source`` (after it was settled)."""
    # mkdtemp appends exactly eight characters: a longer name is another item's scratch.
    for folder in source.parent.glob(glob.escape(_prefix(source)) + "?" * 8):
        if folder.is_dir() and not folder.is_symlink():
            shutil.rmtree(folder, ignore_errors=True)


def _prefix(source: Path) -> str:
    return f".{source.name[:80]}{SCRATCH}"


def extract(checked: Checked, names: Iterable[str], into: Path) -> dict[str, Path]:
    """Write the named entries under ``into``; their paths. Sizes and CRC-32 are checked."""
    root = into.resolve()
    paths: dict[str, Path] = {}
    for name in names:
        info = checked.entries[name]
        target = root.joinpath(*name.split("/"))
        if not target.resolve().is_relative_to(root):  # _unsafe already refused this
            raise FormatError(f"{name!r} leaves the extraction folder", code="format.zip_slip")
        target.parent.mkdir(parents=True, exist_ok=True)
        with checked.open(info) as src, target.open("xb") as dst:
            _drain(src, info, dst)
        paths[name] = target
    return paths


def _drain(src: IO[bytes], info: zipfile.ZipInfo, dst: BinaryIO | None) -> bytes:
    """Read an entry to its end (into ``dst``, or returned), checking size and CRC-32."""
    chunks: list[bytes] = []
    written = 0
    while chunk := _chunk(src, info):
        written += len(chunk)
        if written > info.file_size:
            raise FormatError(
                f"the entry {info.filename!r} expands beyond its declared {info.file_size:,} bytes",
                code="format.zip_bomb",
            )
        if dst is None:
            chunks.append(chunk)
        else:
            dst.write(chunk)  # an OSError here is our disk's, and worth retrying
    if written != info.file_size:
        raise FormatError(
            f"the entry {info.filename!r} declares {info.file_size:,} bytes but holds {written:,}",
            code="format.zip_size",
        )
    return b"".join(chunks)


def _chunk(src: IO[bytes], info: zipfile.ZipInfo) -> bytes:
    try:
        return src.read(CHUNK)
    except zipfile.BadZipFile as exc:
        crc = "CRC" in str(exc)
        raise FormatError(
            f"the entry {info.filename!r} is damaged ({exc})"
            + ("; its bytes do not match the CRC-32 the container states" if crc else ""),
            code="format.digest_mismatch" if crc else "format.zip_invalid",
        ) from None
    except (EOFError, OSError, zlib.error, lzma.LZMAError) as exc:  # bz2 raises OSError
        raise FormatError(
            f"the entry {info.filename!r} cannot be expanded ({exc}); send the container again",
            code="format.zip_invalid",
        ) from None


# ---- writing ---------------------------------------------------------------------------------


def write(path: Path, members: Sequence[tuple[str, Path | bytes]]) -> None:
    """A new container at ``path``: each member streamed in, deflated, names UTF-8 flagged."""
    with zipfile.ZipFile(
        path, "x", compression=zipfile.ZIP_DEFLATED, strict_timestamps=False
    ) as archive:
        for name, source in members:
            if isinstance(source, bytes):
                archive.writestr(name, source)
            else:
                archive.write(source, name)
