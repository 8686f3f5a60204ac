"""Small helpers shared by the wire codecs: qualified names, timestamps, optional fields.

Writing goes through :class:`Writer`, so that a value XML cannot carry (a control character, a
lone surrogate) becomes one clear :class:`EnvelopeError` naming the element.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from functools import cache
from typing import Final

from lxml import etree

from gateway.errors import EnvelopeError, SchemaError
from gateway.schemas import NS, VERSION


@cache
def q(name: str) -> str:
    """The qualified tag of a wire-format element."""
    return f"{{{NS}}}{name}"


class Writer:
    """Writes one wire document as text, escaping every value, then parses the result.

    Building an lxml tree element by element costs ~1-2 µs per element and more per attribute;
    joining escaped strings is several times cheaper, and the document is parsed once anyway
    for schema validation. Values are escaped here and nowhere else: text gets &, <, > and CR
    as references; attributes also get ", TAB and LF, so the parser's attribute-value
    normalisation cannot change them.
    """

    __slots__ = ("_parts", "_root")

    def __init__(self, root: str | None) -> None:
        """A document with this root element, or (``None``) a fragment for :meth:`fragment`."""
        self._root = root
        self._parts = [f'{_DECLARATION}<{root} xmlns="{NS}" version="{VERSION}">'] if root else []

    def fragment(self, text: str) -> None:
        """Insert text another (fragment) Writer produced; it is checked with the document."""
        self._parts.append(text)

    def text(self) -> str:
        """What a fragment Writer wrote."""
        return "".join(self._parts)

    def start(self, name: str, /, **attrs: str | None) -> None:
        self._parts.append(f"<{name}{_attributes(attrs)}>" if attrs else f"<{name}>")

    def end(self, name: str) -> None:
        self._parts.append(f"</{name}>")

    def leaf(self, name: str, text: str | None = None, /, **attrs: str | None) -> None:
        head = f"<{name}{_attributes(attrs)}" if attrs else f"<{name}"
        if text is None:
            self._parts.append(head + "/>")
        else:
            self._parts.append(f"{head}>{_text(text)}</{name}>")

    def opt(self, name: str, text: str | None) -> None:
        """An element only when there is a value (None); an empty string fails validation."""
        if text is not None:
            self.leaf(name, text)

    def finish(self) -> tuple[bytes, etree._Element]:
        """The document's bytes and its parsed tree; EnvelopeError names a value XML can't hold."""
        text = "".join(self._parts) + f"</{self._root}>"
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError as exc:  # a lone surrogate
            raise EnvelopeError(
                f"{_element_at(text, exc.start)}: the value cannot be written as XML "
                f"(character U+{ord(text[exc.start]):04X})"
            ) from None
        try:
            return data, etree.fromstring(data, _parser())
        except etree.XMLSyntaxError as exc:  # a control character or U+FFFE/U+FFFF
            line, column = exc.position
            offset = sum(len(row) + 1 for row in text.split("\n")[: line - 1]) + column
            reason = (exc.msg or "").splitlines()[0]
            raise EnvelopeError(
                f"{_element_at(text, offset)}: the value cannot be written as XML ({reason})"
            ) from None


_DECLARATION: Final = "<?xml version='1.0' encoding='UTF-8'?>\n"
_local = threading.local()


def _parser() -> etree.XMLParser:
    # Our own output only (no comments, entities or DTDs can occur in what Writer produces);
    # one parser per thread, as lxml requires.
    p: etree.XMLParser | None = getattr(_local, "parser", None)
    if p is None:
        p = _local.parser = etree.XMLParser(resolve_entities=False, no_network=True)
    return p


_TAG = re.compile(r"<([A-Za-z]+)[^<]*$")
_ATTRIBUTE_SPECIAL = re.compile('[&<>"\t\n\r]')


def _text(value: str) -> str:
    if "&" in value:
        value = value.replace("&", "&amp;")
    if "<" in value:
        value = value.replace("<", "&lt;")
    if ">" in value:
        value = value.replace(">", "&gt;")
    if "\r" in value:
        value = value.replace("\r", "&#13;")
    return value


def _attribute(value: str) -> str:
    value = _text(value)
    for raw, reference in (('"', "&quot;"), ("\t", "&#9;"), ("\n", "&#10;")):
        if raw in value:
            value = value.replace(raw, reference)
    return value


def _attributes(attrs: dict[str, str | None]) -> str:
    parts = []
    for key, value in attrs.items():
        if value is not None:
            if _ATTRIBUTE_SPECIAL.search(value):  # ids, digests, sizes, dates need nothing
                value = _attribute(value)
            parts.append(f' {key}="{value}"')
    return "".join(parts)


def _element_at(text: str, offset: int) -> str:
    match = _TAG.search(text, 0, max(offset, 0))
    return match.group(1) if match else "the document"


def instant(value: dt.datetime) -> str:
    """An aware timestamp as xs:dateTime in UTC (naive times are ambiguous across regions)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise EnvelopeError(f"timestamp {value.isoformat()} has no time zone")
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def parse_instant(text: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(text.strip())
    except ValueError as exc:  # the schema's pattern should prevent it; never a traceback
        raise SchemaError(f"{text[:40]!r} is not a usable timestamp: {exc}") from None


def day(value: dt.date | None) -> str | None:
    return None if value is None else value.isoformat()


def parse_day(text: str | None) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text.strip()[:10])
    except ValueError as exc:
        raise SchemaError(f"{text[:40]!r} is not a usable date: {exc}") from None


class Fields:
    """The children of one element by tag, gathered in one pass (``find`` costs ~2 µs a call).

    Only for elements whose children are each allowed once by the schema; repeated children
    are read by iterating the element.
    """

    __slots__ = ("_children", "element")

    def __init__(self, element: etree._Element) -> None:
        self.element = element
        self._children = {c.tag: c for c in element}

    def child(self, name: str) -> etree._Element | None:
        return self._children.get(q(name))

    def text(self, name: str) -> str | None:
        element = self._children.get(q(name))
        return None if element is None else (element.text or "")

    def required(self, name: str) -> str:
        value = self.text(name)
        if value is None:  # the schema forbids this; guard against a codec/schema drift
            raise EnvelopeError(f"{name} is missing")
        return value


def int_or_none(text: str | None) -> int | None:
    return None if text is None else int(text)
