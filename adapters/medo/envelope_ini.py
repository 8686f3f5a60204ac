"""``envelope.ini``: the МЭДО client's cover note for a message folder.

An INI text, windows-1251 by tradition (UTF-8 is read too): ``[ПИСЬМО КП ПС СЗИ]`` with the
subject (ТЕМА) and flags, ``[АДРЕСАТЫ]`` with МЭДО addresses (``0=WH-MEDO~APRF``) and
``[ФАЙЛЫ]`` with the files of the folder (``0=document.xml``). Older clients name it
``envelope.ltr``. Reading is lenient about case, spacing and comments; it never interpolates
(``configparser`` would choke on ``%`` in a subject and lower-case the keys).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from adapters.api import FormatError
from adapters.medo.names import MOSCOW

NAMES: Final = ("envelope.ini", "envelope.ltr")
LETTER: Final = "ПИСЬМО КП ПС СЗИ"
ADDRESSEES: Final = "АДРЕСАТЫ"
FILES: Final = "ФАЙЛЫ"
MAX_BYTES: Final = 1024 * 1024


@dataclass(frozen=True)
class Envelope:
    subject: str = ""
    addressees: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    signed: bool = False


def find(folder: Path) -> Path | None:
    """The envelope file of a message folder (any case of its name), or None."""
    for entry in sorted(folder.iterdir()):
        if entry.name.casefold() in NAMES:
            return entry
    return None


def read(path: Path) -> Envelope:
    """Parse an envelope; FormatError (``format.envelope``/``format.encoding``) if it is not one."""
    if path.is_symlink() or not path.is_file():
        raise FormatError(f"{path.name} is not a regular file", code="format.envelope")
    if path.stat().st_size > MAX_BYTES:
        raise FormatError(
            f"{path.name} is over {MAX_BYTES // 1024} KiB; an МЭДО envelope is a short INI text",
            code="format.envelope",
        )
    sections = _sections(_decode(path.name, path.read_bytes()))
    if LETTER not in sections:
        raise FormatError(
            f"{path.name} has no [{LETTER}] section; write the МЭДО envelope with its sections "
            f"[{LETTER}], [{ADDRESSEES}] and [{FILES}]",
            code="format.envelope",
        )
    letter = dict(sections[LETTER])
    return Envelope(
        subject=letter.get("ТЕМА", ""),
        addressees=tuple(value for _, value in _numbered(sections.get(ADDRESSEES, []))),
        files=tuple(value for _, value in _numbered(sections.get(FILES, []))),
        signed=letter.get("ЭЦП", "0").strip() == "1",
    )


def render(envelope: Envelope, when: dt.datetime) -> bytes:
    """The envelope text, CRLF lines, windows-1251 (UTF-8 only if a value needs it)."""
    lines = [
        f"[{LETTER}]",
        f"ТЕМА={_one_line(envelope.subject)}",
        "АВТООТПРАВКА=1",
        "ШИФРОВАНИЕ=0",
        f"ЭЦП={1 if envelope.signed else 0}",
        "ДОСТАВЛЕНО=1",
        "ПРОЧТЕНО=1",
        f"ДАТА={when.astimezone(MOSCOW):%d.%m.%Y %H:%M:%S}",
        "",
        f"[{ADDRESSEES}]",
        *(f"{n}={_one_line(a)}" for n, a in enumerate(envelope.addressees)),
        "",
        f"[{FILES}]",
        *(f"{n}={_no_breaks(f)}" for n, f in enumerate(envelope.files)),
        "",
    ]
    text = "\r\n".join(lines)
    try:
        return text.encode("windows-1251")
    except UnicodeEncodeError:  # e.g. a Tatar letter in a file name: keep it exact in UTF-8
        return text.encode("utf-8")


def _decode(name: str, data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("windows-1251")
    except UnicodeDecodeError:
        raise FormatError(
            f"{name} is neither UTF-8 nor windows-1251 text; save it in windows-1251",
            code="format.encoding",
        ) from None


def _sections(text: str) -> dict[str, list[tuple[str, str]]]:
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith((";", "#")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(" ".join(line[1:-1].split()).upper(), [])
            continue
        key, sep, value = line.partition("=")
        if sep and current is not None:
            current.append((key.strip().upper(), value.strip()))
    return sections


def _numbered(entries: list[tuple[str, str]]) -> list[tuple[int, str]]:
    """Values of ``N=value`` lines in the order of N (then of appearance), empty ones dropped."""
    numbered = [(int(key) if key.isdigit() else 1 << 30, value) for key, value in entries if value]
    return sorted(numbered, key=lambda item: item[0])


def _one_line(value: str) -> str:
    return " ".join(value.split())


def _no_breaks(name: str) -> str:
    return name.replace("\r", " ").replace("\n", " ")
