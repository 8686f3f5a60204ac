"""Element boundaries of an ASN.1 DER/BER encoding, for hostile input on the hot path.

The bytes are decoded by asn1crypto's low-level parser (``asn1crypto.parser``: tags, lengths,
BER indefinite lengths, bounds, nesting limit) and OIDs by ``asn1crypto.core``; this module
only presents the result as light ``Tlv`` views that the CMS reader walks field by field.
asn1crypto's schema classes (``asn1crypto.cms``) do the same walk at about 3.5x the cost
(136 µs against 38 µs for one signature), and verification runs for every incoming envelope.
Every malformed encoding is reported as ``DerError`` (a ``ValueError``).
"""

from __future__ import annotations

import functools

from asn1crypto import core as asn1_core
from asn1crypto import parser as asn1_parser


class DerError(ValueError):
    """The bytes are not a valid DER/BER encoding."""


class Tlv:
    """One element: ``tag`` is the identifier octet (low tag numbers; others get ``tag > 0xFF``)."""

    __slots__ = ("body", "data", "end", "next", "start", "tag")

    def __init__(self, data: bytes, tag: int, start: int, body: int, end: int, next_: int) -> None:
        self.data = data
        self.tag = tag
        self.start = start  # the first identifier octet
        self.body = body  # the first content octet
        self.end = end  # one past the last content octet
        self.next = next_  # one past the element, end-of-contents octets included

    @property
    def contents(self) -> bytes:
        return self.data[self.body : self.end]

    @property
    def encoded(self) -> bytes:
        return self.data[self.start : self.next]

    def children(self) -> list[Tlv]:
        if not self.tag & 0x20:
            raise DerError(f"offset {self.start}: a primitive element has no children")
        found = []
        position = self.body
        while position < self.end:
            child = read(self.data, position, self.end)
            found.append(child)
            position = child.next
        return found


def read(data: bytes, position: int, end: int) -> Tlv:
    """The element starting at ``position``, which must end by ``end``."""
    window = data[position:end]
    try:
        class_, method, number, header, contents, trailer = asn1_parser.parse(window)
    except ValueError as exc:
        raise DerError(f"offset {position}: {exc}") from None
    tag = class_ << 6 | method << 5 | min(number, 0x1F)
    if number >= 0x1F:
        tag |= 0x100  # high tag numbers: never one this reader expects
    body = position + len(header)
    return Tlv(data, tag, position, body, body + len(contents), body + len(contents) + len(trailer))


def read_whole(data: bytes) -> Tlv:
    """The one element that ``data`` consists of, with nothing after it."""
    element = read(data, 0, len(data))
    if element.next != len(data):
        raise DerError(f"{len(data) - element.next} octets after the end of the structure")
    return element


def expect(element: Tlv, tag: int, what: str) -> Tlv:
    if element.tag != tag:
        raise DerError(f"offset {element.start}: {what} expected, found tag 0x{element.tag:02x}")
    return element


def integer(element: Tlv) -> int:
    expect(element, 0x02, "INTEGER")
    if element.end == element.body:
        raise DerError(f"offset {element.start}: empty INTEGER")
    return int.from_bytes(element.contents, "big", signed=True)


def oid(element: Tlv) -> str:
    """The dotted form of an OBJECT IDENTIFIER."""
    return _dotted(expect(element, 0x06, "OBJECT IDENTIFIER").encoded)


@functools.lru_cache(maxsize=256)
def _dotted(encoded: bytes) -> str:
    # asn1crypto silently drops an unfinished last arc; an OID must end on a final octet.
    if len(encoded) < 3 or encoded[-1] & 0x80:
        raise DerError("malformed OBJECT IDENTIFIER: it ends inside an arc")
    try:
        return str(asn1_core.ObjectIdentifier.load(encoded, strict=True).dotted)
    except ValueError as exc:
        raise DerError(f"malformed OBJECT IDENTIFIER: {exc}") from None
