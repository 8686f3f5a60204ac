"""Small helpers shared by the wire codecs: qualified names, timestamps, optional fields.

Writing goes through :func:`sub` so that a value XML cannot carry (a control character, a lone
surrogate) becomes one clear :class:`EnvelopeError` naming the field, instead of lxml's ValueError.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

from lxml import etree

from gateway.errors import EnvelopeError
from gateway.schemas import NS, VERSION

NSMAP: Final = {None: NS}


def q(name: str) -> str:
    """The qualified tag of a wire-format element."""
    return f"{{{NS}}}{name}"


def root(name: str) -> etree._Element:
    element = etree.Element(q(name), nsmap=NSMAP)
    element.set("version", VERSION)
    return element


def sub(
    parent: etree._Element, name: str, text: str | None = None, /, **attrs: str | None
) -> etree._Element:
    element = etree.SubElement(parent, q(name))
    try:
        if text is not None:
            element.text = text
        for key, value in attrs.items():
            if value is not None:
                element.set(key, value)
    except ValueError as exc:
        raise EnvelopeError(f"{name}: the value cannot be written as XML ({exc})") from None
    return element


def opt(parent: etree._Element, name: str, text: str | None) -> None:
    """Write an element only when there is a value (absent and empty are the same on the wire)."""
    if text is not None:
        sub(parent, name, text)


def instant(value: dt.datetime) -> str:
    """An aware timestamp as xs:dateTime in UTC (naive times are ambiguous across regions)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise EnvelopeError(f"timestamp {value.isoformat()} has no time zone")
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def parse_instant(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def day(value: dt.date | None) -> str | None:
    return None if value is None else value.isoformat()


def parse_day(text: str | None) -> dt.date | None:
    # xs:date may carry a zone ("2026-11-21Z"); the model's dates are calendar days.
    return None if text is None else dt.date.fromisoformat(text[:10])


def child(parent: etree._Element, name: str) -> etree._Element | None:
    return parent.find(q(name))


def text_of(parent: etree._Element, name: str) -> str | None:
    element = parent.find(q(name))
    return None if element is None else (element.text or "")


def required_text(parent: etree._Element, name: str) -> str:
    value = text_of(parent, name)
    if value is None:  # the schema forbids this; guard against a codec/schema drift
        raise EnvelopeError(f"{name} is missing")
    return value


def int_or_none(text: str | None) -> int | None:
    return None if text is None else int(text)


def to_bytes(element: etree._Element) -> bytes:
    return etree.tostring(element, xml_declaration=True, encoding="UTF-8")
