"""xdms XML plumbing: safe parsing, lenient reading, building, and checking against our schemas.

Reading goes through :func:`gateway.xmlsafe.parse` only and is lenient where МЭДО clients differ
(attributes with or without the namespace prefix, GUIDs in braces, stray whitespace). Writing
builds an lxml tree, validates it against the project's own compact schemas in ``xsd/medo/``
(loaded once per thread, like lxml parsers) and serialises it in the configured charset;
characters windows-1251 lacks become character references, never question marks.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Final

from lxml import etree

from adapters.api import FormatError
from adapters.medo import names
from gateway import xmlsafe
from gateway.errors import XmlSecurityError
from gateway.schemas import schema_dir

#: Our schemas, by the namespace of the root they check.
SCHEMAS: Final = {
    names.NS_IEDMS: "iedms.xsd",
    names.NS_MESSAGE: "iedms-message.xsd",
    names.NS_CONTAINER_27: "container.xsd",
    names.NS_CONTAINER_271: "container-urn.xsd",
}
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_local = threading.local()


def parse_file(path: Path) -> etree._Element:
    """The root of an XML file from outside; FormatError ``format.xml``/``format.encoding``."""
    size = path.stat().st_size
    if size > xmlsafe.DEFAULT_MAX_BYTES:
        raise FormatError(
            f"{path.name} is {size:,} bytes; an xdms XML over {xmlsafe.DEFAULT_MAX_BYTES:,} "
            "bytes is not accepted",
            code="format.xml",
        )
    try:
        return xmlsafe.parse(path.read_bytes())
    except XmlSecurityError as exc:
        code = "format.encoding" if exc.code == "xml.encoding_forbidden" else "format.xml"
        raise FormatError(f"{path.name}: {exc.message}", code=code) from None


def charset_of(root: etree._Element) -> str:
    """The encoding the document was read in, as МЭДО writes it ("utf-8", "windows-1251")."""
    return (root.getroottree().docinfo.encoding or "utf-8").lower()


class Node:
    """An element read leniently: children in its own namespace, attributes prefixed or not."""

    __slots__ = ("el", "ns", "where")

    def __init__(self, el: etree._Element, where: str) -> None:
        self.el = el
        self.ns = etree.QName(el).namespace or ""
        self.where = where  # the file, for messages

    @property
    def name(self) -> str:
        return etree.QName(self.el).localname

    def _tag(self, name: str) -> str:
        return f"{{{self.ns}}}{name}" if self.ns else name

    def child(self, name: str) -> Node | None:
        found = self.el.find(self._tag(name))
        return None if found is None else Node(found, self.where)

    def children(self, name: str) -> list[Node]:
        return [Node(e, self.where) for e in self.el.findall(self._tag(name))]

    def elements(self) -> list[Node]:
        return [Node(e, self.where) for e in self.el if isinstance(e.tag, str)]

    def required(self, name: str) -> Node:
        found = self.child(name)
        if found is None:
            raise FormatError(
                f"{self.where}: <{self.name}> has no <{name}>; the xdms schema requires it",
                code="format.invalid",
            )
        return found

    @property
    def value(self) -> str | None:
        text = (self.el.text or "").strip()
        return text or None

    def text(self, name: str) -> str | None:
        found = self.child(name)
        return None if found is None else found.value

    def attr(self, name: str) -> str | None:
        value = self.el.get(self._tag(name))
        if value is None:
            value = self.el.get(name)
        value = (value or "").strip()
        return value or None


class Builder:
    """Builds one xdms (or passport) tree; attributes are namespace-qualified, as the schemas
    say (``attributeFormDefault="qualified"``)."""

    def __init__(self, ns: str, prefix: str) -> None:
        self.ns = ns
        self.prefix = prefix

    def root(self, name: str, **attrs: str | None) -> etree._Element:
        element = etree.Element(f"{{{self.ns}}}{name}", nsmap={self.prefix: self.ns})
        self._set(element, attrs)
        return element

    def add(
        self, parent: etree._Element, name: str, text: str | None = None, **attrs: str | None
    ) -> etree._Element:
        element = etree.SubElement(parent, f"{{{self.ns}}}{name}")
        if text is not None:
            element.text = clean(text)
        self._set(element, attrs)
        return element

    def opt(self, parent: etree._Element, name: str, text: str | None, **attrs: str | None) -> None:
        """An element only when there is text."""
        if text:
            self.add(parent, name, text, **attrs)

    def _set(self, element: etree._Element, attrs: dict[str, str | None]) -> None:
        for key, value in attrs.items():
            if value is not None:
                element.set(f"{{{self.ns}}}{key}", clean(value))


def clean(text: str) -> str:
    """``text`` without the characters XML 1.0 cannot hold (control characters)."""
    return _NOT_XML_CHAR.sub("", text)


def clip(text: str | None, limit: int) -> str | None:
    """``text`` cut to ``limit`` characters (an ellipsis marks the cut); None stays None."""
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 1] + "…"


def validate(root: etree._Element, what: str) -> None:
    """Check a tree we wrote against our schema for its namespace (FormatError
    ``format.unwritable`` names the first problem: a value the format cannot carry)."""
    schema = _schema(etree.QName(root).namespace or "")
    if not schema.validate(root):
        error = schema.error_log.last_error if schema.error_log else None
        detail = error.message if error is not None else "invalid"
        raise FormatError(
            f"the {what} cannot be written as МЭДО xdms: {detail}", code="format.unwritable"
        )


def serialize(root: etree._Element, charset: str) -> bytes:
    declaration = f'<?xml version="1.0" encoding="{charset}"?>\n'.encode("ascii")
    body: bytes = etree.tostring(root, encoding=charset, xml_declaration=False, pretty_print=True)
    return declaration + body


def _schema(namespace: str) -> etree.XMLSchema:
    cached: dict[str, etree.XMLSchema] = _local.__dict__.setdefault("schemas", {})
    schema = cached.get(namespace)
    if schema is None:
        path = schema_dir() / "medo" / SCHEMAS[namespace]
        loader = etree.XMLParser(no_network=True, resolve_entities=False)
        schema = etree.XMLSchema(etree.parse(str(path), loader))
        cached[namespace] = schema
    return schema
