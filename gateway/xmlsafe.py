"""The one way the gateway parses XML that came from outside.

Every envelope, receipt, МЭДО or СЭВ file goes through :func:`parse`: a size cap first; then the
encoding must be one we know (UTF-8/16/32 and the Cyrillic single-byte ones) and any DOCTYPE is
refused, both before libxml2 sees the bytes; then lxml parses with entities, DTD loading and
network access off and a resolver that hands out nothing. The layers are not belt-and-braces:
with lxml's ``collect_ids=False`` (libxml2's XML_SKIP_IDS) libxml2 2.14 opens a local external
subset (``<!DOCTYPE r SYSTEM "/etc/passwd">``) even with ``load_dtd=False`` — never set it —
and libxml2 honours exotic encodings such as UTF-7 in which a byte scan cannot see markup. Each
layer alone has been seen to fail; the tests exercise each one on its own.

This module must never return a tree that has a DTD, an entity or an external reference in it.
"""

from __future__ import annotations

import re
import threading
from typing import Any, Final

from lxml import etree

from gateway.errors import XmlSecurityError

#: Default cap for one XML document (envelopes are a few KB; МЭДО xdms rarely passes 1 MB).
DEFAULT_MAX_BYTES: Final = 16 * 1024 * 1024

_DOCTYPE: Final = "<!DOCTYPE"
_ENTITY = re.compile(r"<!ENTITY", re.IGNORECASE)
_EXTERNAL_ID = re.compile(r"<!DOCTYPE\s+[^\s\[>]+\s+(SYSTEM|PUBLIC)\b")
_BOMS: Final = (
    (b"\xef\xbb\xbf", "utf-8-sig"),  # EOS and .NET tools write UTF-8 with a BOM
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\xfe\xff", "utf-16-be"),
    (b"\xff\xfe", "utf-16-le"),
)
#: Declared encodings we read, compared without case, '-' and '_'. Anything else (UTF-7,
#: EBCDIC, …) could hide markup from the scan.
ENCODINGS: Final = frozenset(
    {"utf8", "utf16", "utf16le", "utf16be", "utf32", "utf32le", "utf32be",
     "windows1251", "cp1251", "koi8r", "iso88595", "usascii", "ascii"}
)  # fmt: skip
_DECLARED = re.compile(r"""<\?xml\s[^>]*?encoding\s*=\s*["']([^"']*)["']""")
_local = threading.local()


class _RefuseAll(etree.Resolver):
    """Resolves every external reference to nothing: no file or URL is ever opened."""

    def resolve(self, system_url: str | None, public_id: str | None, context: object, /) -> Any:
        return self.resolve_empty(context)


def parser() -> etree.XMLParser:
    """The hardened parser of this thread (lxml parsers must not be shared across threads)."""
    p: etree.XMLParser | None = getattr(_local, "parser", None)
    if p is None:
        p = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=False,  # keeps libxml2's own depth (256) and text-node limits
            # Comments and PIs carry no meaning here; dropping them keeps readers that walk
            # children from meeting nodes the schema never mentions.
            remove_comments=True,
            remove_pis=True,
        )
        p.resolvers.add(_RefuseAll())
        _local.parser = p
    return p


def parse(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> etree._Element:
    """Parse untrusted XML bytes and return the root element, or raise :class:`XmlSecurityError`.

    Codes: ``xml.too_large``, ``xml.doctype_forbidden``, ``xml.entity_forbidden``,
    ``xml.external_dtd_forbidden``, ``xml.too_deep``, ``xml.malformed``.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError("xmlsafe.parse takes bytes; decode nothing before the parser does")
    if len(data) > max_bytes:
        raise XmlSecurityError(
            f"the XML document is {len(data):,} bytes, over the limit of {max_bytes:,} bytes",
            code="xml.too_large",
        )
    text = _scannable_text(bytes(data))
    _refuse_unknown_encoding(text, utf8_bom=bytes(data[:3]) == b"\xef\xbb\xbf")
    _refuse_doctype(text)
    try:
        root = etree.fromstring(data, parser())
    except etree.XMLSyntaxError as exc:
        raise _syntax_error(exc) from None
    refuse_dtd_in(root)
    return root


def refuse_dtd_in(root: etree._Element) -> None:
    """Backstop behind the scan: nothing DTD-shaped may survive a parse."""
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise XmlSecurityError(
            "the XML document has a DOCTYPE declaration; DTDs are not accepted",
            code="xml.doctype_forbidden",
        )


def _scannable_text(data: bytes) -> str:
    """The document as text good enough to find markup in, whatever its encoding family."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return data.decode(codec, errors="replace")
    head = data[:4]
    if len(head) == 4 and b"\x00" in head:
        codec = {
            b"\x00\x00\x00<": "utf-32-be",
            b"<\x00\x00\x00": "utf-32-le",
            b"\x00<\x00?": "utf-16-be",
            b"<\x00?\x00": "utf-16-le",
        }.get(head, "utf-16-le" if head[1:2] == b"\x00" else "utf-16-be")
        return data.decode(codec, errors="replace")
    # UTF-8, windows-1251 and every other ASCII-compatible encoding keep markup as ASCII.
    return data.decode("latin-1")


def _refuse_unknown_encoding(text: str, *, utf8_bom: bool = False) -> None:
    head = text.lstrip("\ufeff \t\r\n")
    if head and not head.startswith("<"):
        raise XmlSecurityError(
            "the document does not start with '<' in UTF-8, UTF-16, UTF-32 or a Cyrillic "
            "single-byte encoding; other encodings are not accepted",
            code="xml.encoding_forbidden",
        )
    declared = _DECLARED.match(head[:200])
    name = declared.group(1).strip().lower().replace("-", "").replace("_", "") if declared else ""
    if utf8_bom and declared and name != "utf8":
        raise XmlSecurityError(
            f"the document starts with a UTF-8 byte-order mark but declares encoding "
            f"{declared.group(1)[:40]!r}; save it as one or the other",
            code="xml.encoding_forbidden",
        )
    if declared and name not in ENCODINGS:
        raise XmlSecurityError(
            f"the document declares encoding {declared.group(1)[:40]!r}; accepted: UTF-8, "
            "UTF-16, UTF-32, windows-1251, KOI8-R, ISO-8859-5",
            code="xml.encoding_forbidden",
        )


def _refuse_doctype(text: str) -> None:
    start = text.find(_DOCTYPE)
    if start < 0:
        return
    declaration = text[start : start + 65536]
    if _ENTITY.search(declaration):
        raise XmlSecurityError(
            "the XML document declares entities in a DOCTYPE; entity declarations are refused "
            "(they can expand without bound or read local files)",
            code="xml.entity_forbidden",
        )
    if _EXTERNAL_ID.match(declaration):
        raise XmlSecurityError(
            "the XML document refers to an external DTD; external references are refused",
            code="xml.external_dtd_forbidden",
        )
    raise XmlSecurityError(
        "the XML document has a DOCTYPE declaration; DTDs are not accepted",
        code="xml.doctype_forbidden",
    )


def _syntax_error(exc: etree.XMLSyntaxError) -> XmlSecurityError:
    last = exc.error_log.last_error if exc.error_log else None
    if last is not None and last.type_name == "ERR_RESOURCE_LIMIT" and "depth" in last.message:
        return XmlSecurityError(
            "the XML document is nested too deeply (over 256 levels)", code="xml.too_deep"
        )
    message = (exc.msg or "").splitlines()[0] if exc.msg else "parse error"
    return XmlSecurityError(f"the XML document is not well-formed: {message}")
