"""СЭВ XML in and out: the namespace, element helpers, times, and the check of what we write.

Reading goes through :func:`gateway.xmlsafe.parse` only (no DTD, no entities) and never
validates: ДЕЛО writes far more than the subset the gateway uses, so readers take what they
need and say precisely what is missing. Writing builds an lxml tree, validates it against the
project's own compact schema ``xsd/sev/sev.xsd`` (loaded once per thread, network off) and
serialises it as UTF-8 with a declaration.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from pathlib import Path
from typing import Final

from lxml import etree

from adapters.api import AdapterError, FormatError
from gateway import schemas, xmlsafe
from gateway.errors import XmlSecurityError

NS: Final = "http://www.eos.ru/2010/sev"
VERSION: Final = "1.0"  # Header/@Version we write
INT_MAX: Final = 2**31 - 1  # the published schema types sizes and resource ids as xs:int

_local = threading.local()
_DAY = re.compile(r"\s*(\d{4}-\d{2}-\d{2})")
_BOM: Final = b"\xef\xbb\xbf"
_ENCODING = re.compile(rb"""<\?xml\s[^>]*?encoding\s*=\s*["']([^"']*)["']""")


def q(name: str) -> str:
    return f"{{{NS}}}{name}"


# ---- reading ------------------------------------------------------------------------------


def parse(data: bytes, name: str) -> etree._Element:
    """The root of a СЭВ file; FormatError with a code a person can act on."""
    try:
        return xmlsafe.parse(_without_bom(data))
    except XmlSecurityError as exc:
        if exc.code == "xml.malformed":
            raise FormatError(
                f"{name} is not well-formed XML ({exc.message}); ask ДЕЛО to export the "
                "package again",
                code="format.xml",
            ) from None
        raise FormatError(
            f"{name} was refused before reading: {exc.message}. СЭВ files are plain XML "
            "without a DOCTYPE; export the package again from ДЕЛО",
            code=exc.code,
        ) from None


def _without_bom(data: bytes) -> bytes:
    """EOS tools (.NET) start UTF-8 files with a byte-order mark, which xmlsafe refuses (its
    encoding scan sees no '<' first). The mark carries no markup: drop it when the file
    declares UTF-8 or nothing; a mark contradicting the declaration stays, to be refused."""
    if not data.startswith(_BOM):
        return data
    declared = _ENCODING.match(data[3:200])
    name = declared.group(1).lower().replace(b"-", b"").replace(b"_", b"") if declared else b"utf8"
    return data[3:] if name == b"utf8" else data


def find(parent: etree._Element, path: str) -> etree._Element | None:
    """The first element at ``path`` ("Header/Sender"), namespaced, or None."""
    return parent.find("/".join(q(step) for step in path.split("/")))


def find_all(parent: etree._Element, path: str) -> list[etree._Element]:
    return list(parent.iterfind("/".join(q(step) for step in path.split("/"))))


def need(parent: etree._Element, path: str, where: str) -> etree._Element:
    found = find(parent, path)
    if found is None:
        raise FormatError(f"{where}/{path} is missing; the СЭВ format requires it")
    return found


def text(parent: etree._Element, path: str) -> str | None:
    """The text of the element at ``path``; None when it is absent or empty."""
    found = find(parent, path)
    return (found.text or None) if found is not None else None


def attr(element: etree._Element, name: str) -> str | None:
    value = element.get(name)
    return value if value else None


def parse_date(value: str | None, where: str) -> dt.date:
    """An xs:date ("2026-11-20", possibly with a zone, which a calendar day ignores)."""
    if not value:
        raise FormatError(f"{where} is missing; a date (YYYY-MM-DD) is required there")
    match = _DAY.match(value)
    try:
        return dt.date.fromisoformat(match.group(1) if match else "")
    except ValueError:
        raise FormatError(f"{where}: {value!r} is not a date (YYYY-MM-DD)") from None


def parse_time(value: str | None, where: str, zone: dt.tzinfo) -> dt.datetime:
    """An xs:dateTime; one written without an offset is local time in ``zone``."""
    try:
        moment = dt.datetime.fromisoformat((value or "").strip())
    except ValueError:
        raise FormatError(
            f"{where}: {value!r} is not a date and time (YYYY-MM-DDThh:mm:ss±hh:mm)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def zone_of(header: etree._Element, default: dt.tzinfo) -> dt.tzinfo:
    """The zone of times without an offset: Header/@TimeZone (hours, or minutes when over
    14, as writers differ), else ``default``."""
    raw = attr(header, "TimeZone")
    if raw is None:
        return default
    try:
        offset = int(raw)
    except ValueError:
        raise FormatError(f"Header/@TimeZone: {raw!r} is not a whole number") from None
    minutes = offset * 60 if abs(offset) <= 14 else offset
    if abs(minutes) >= 24 * 60:
        raise FormatError(f"Header/@TimeZone: {raw!r} is not a time zone offset")
    return dt.timezone(dt.timedelta(minutes=minutes))


# ---- writing ------------------------------------------------------------------------------


def root(name: str) -> etree._Element:
    return etree.Element(q(name), nsmap={None: NS})


def sub(
    parent: etree._Element, name: str, value: str | None = None, **attrs: str
) -> etree._Element:
    """A child element; AdapterError when a value cannot be written as XML at all."""
    try:
        element = etree.SubElement(parent, q(name), attrs)
        if value is not None:
            element.text = value
    except ValueError as exc:  # control characters, lone surrogates
        raise AdapterError(
            f"the value of {name} cannot be written as XML ({exc})", code="sev.cannot_encode"
        ) from None
    return element


def opt(parent: etree._Element, name: str, value: str | None) -> None:
    if value:
        sub(parent, name, value)


def local(moment: dt.datetime, zone: dt.tzinfo) -> dt.datetime:
    """``moment`` on ДЕЛО's clock (a naive time is taken as UTC, as the model keeps UTC)."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).astimezone(zone)


def format_time(moment: dt.datetime, zone: dt.tzinfo) -> str:
    """ДЕЛО reads local times best; ours always carry the offset as well."""
    return local(moment, zone).isoformat()


def schema_path() -> Path:
    return schemas.schema_dir() / "sev" / "sev.xsd"


def _schema() -> etree.XMLSchema:
    # XMLSchema objects are not shared across threads (encode runs in worker threads).
    schema: etree.XMLSchema | None = getattr(_local, "schema", None)
    if schema is None:
        loader = etree.XMLParser(no_network=True, resolve_entities=False)
        schema = etree.XMLSchema(etree.parse(str(schema_path()), loader))
        _local.schema = schema
    return schema


def serialize(tree: etree._Element) -> bytes:
    """The bytes of a document we write, after checking it against xsd/sev/sev.xsd."""
    schema = _schema()
    if not schema.validate(tree):
        error = schema.error_log.last_error
        raise AdapterError(
            f"the {etree.QName(tree).localname} the adapter built breaks xsd/sev/sev.xsd "
            f"({error.message if error else 'invalid'}); this is a fault of the sev adapter "
            "or of the message it was given, tell the gateway's operator",
            code="sev.schema_invalid",
        )
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8", pretty_print=True)
