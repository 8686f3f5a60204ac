"""Element boundaries of an ASN.1 DER/BER encoding, for hostile input on the hot path.

Only the identifier and length octets are decoded here (tags, short and long lengths, BER
indefinite lengths, bounds, a nesting limit on indefinite lengths), the way asn1crypto's
low-level parser (``asn1crypto.parser``) decodes them, with its error messages; OIDs are decoded
by ``asn1crypto.core``. The result is light ``Tlv`` views into the one buffer the signature
arrived in, which the CMS reader walks field by field. Nothing is copied while walking:
asn1crypto's ``parse`` only takes ``bytes`` and returns the element's contents as a copy, so a
walk over it copies every element's remaining bytes and costs O(n²) on a set of many tiny
elements (11 s for a 1.28 MB signature). asn1crypto's schema classes (``asn1crypto.cms``) would
do the walk at about 3.5x the cost, and verification runs for every incoming envelope.
Every malformed encoding is reported as ``DerError`` (a ``ValueError``).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

from asn1crypto import core as asn1_core

# Nested indefinite lengths are followed this deep (asn1crypto's limit): finding the end of
# such an element means walking everything inside it.
_MAX_INDEFINITE_DEPTH = 10
_INSUFFICIENT = "Insufficient data - {} bytes requested but only {} available"


class DerError(ValueError):
    """The bytes are not a valid DER/BER encoding."""


class Tlv:
    """One element: ``tag`` is the identifier octet (low tag numbers; others get ``tag > 0xFF``).

    The element is a view: offsets into ``data``, which is never copied; ``contents`` and
    ``encoded`` copy out just this element's bytes when asked.
    """

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
        """The elements inside a constructed one, all at once.

        The common element (a low tag number, a definite length that fits) is read inline;
        anything else goes through :func:`read`, which decodes every case and words every
        error. Both give the same elements (``tests/unit/crypto/test_crypto_der.py``).
        """
        if not self.tag & 0x20:
            raise DerError(f"offset {self.start}: a primitive element has no children")
        data, position, end = self.data, self.body, self.end
        found: list[Tlv] = []
        while position < end:
            tag = data[position]
            if tag & 0x1F != 0x1F and position + 1 < end:
                length = data[position + 1]
                if length < 0x80:
                    body = position + 2
                    after = body + length
                    if after <= end:
                        found.append(Tlv(data, tag, position, body, after, after))
                        position = after
                        continue
                elif 0x80 < length <= 0x84:
                    body = position + 2 + (length & 0x7F)
                    if body <= end:
                        after = body + int.from_bytes(data[position + 2 : body], "big")
                        if after <= end:
                            found.append(Tlv(data, tag, position, body, after, after))
                            position = after
                            continue
            child = read(data, position, end)
            found.append(child)
            position = child.next
        return found

    def iter_children(self) -> Iterator[Tlv]:
        """The elements inside a constructed one, read one at a time (for counting limits)."""
        if not self.tag & 0x20:
            raise DerError(f"offset {self.start}: a primitive element has no children")
        position = self.body
        while position < self.end:
            child = read(self.data, position, self.end)
            yield child
            position = child.next


def read(data: bytes, position: int, end: int) -> Tlv:
    """The element starting at ``position``, which must end by ``end``."""
    try:
        tag, body, contents_end, next_ = _element(data, position, end, 0)
    except DerError as exc:
        raise DerError(f"offset {position}: {exc}") from None
    return Tlv(data, tag, position, body, contents_end, next_)


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


def _element(data: bytes, position: int, end: int, depth: int) -> tuple[int, int, int, int]:
    """(tag, first content octet, end of contents, end of element) of the element at
    ``position``, read without copying ``data``; everything must lie before ``end``."""
    if depth > _MAX_INDEFINITE_DEPTH:
        raise DerError("Indefinite-length recursion limit exceeded")
    pointer = position
    if end < pointer + 1:
        raise DerError(_INSUFFICIENT.format(1, end - pointer))
    tag = data[pointer]
    pointer += 1
    if tag & 0x1F == 0x1F:
        # A high tag number, base 128. Its value is never needed (no field this reader expects
        # has one), so it is not computed: a long run of octets must not make a huge integer.
        tag |= 0x100
        first = pointer
        while True:
            if end < pointer + 1:
                raise DerError(_INSUFFICIENT.format(1, end - pointer))
            octet = data[pointer]
            pointer += 1
            if octet == 0x80 and pointer == first + 1:
                raise DerError("Non-minimal tag encoding")
            if not octet & 0x80:
                break
        if pointer == first + 1 and data[first] < 0x1F:
            raise DerError("Non-minimal tag encoding")
    if end < pointer + 1:
        raise DerError(_INSUFFICIENT.format(1, end - pointer))
    length = data[pointer]
    pointer += 1
    if length < 0x80:
        contents_end = next_ = pointer + length
    elif length > 0x80:
        count = length & 0x7F
        if end < pointer + count:
            raise DerError(_INSUFFICIENT.format(count, end - pointer))
        pointer += count
        contents_end = next_ = pointer + int.from_bytes(data[pointer - count : pointer], "big")
    else:
        if not tag & 0x20:
            raise DerError("Indefinite-length element must be constructed")
        # The contents run up to the end-of-contents octets at this level: every element
        # inside is skipped by its own length, nested indefinite ones recursively.
        contents_end = pointer
        while end < contents_end + 2 or data[contents_end] or data[contents_end + 1]:
            contents_end = _element(data, contents_end, end, depth + 1)[3]
        next_ = contents_end + 2
    if next_ > end:
        raise DerError(_INSUFFICIENT.format(contents_end - pointer, end - pointer))
    return tag, pointer, contents_end, next_


@functools.lru_cache(maxsize=256)
def _dotted(encoded: bytes) -> str:
    # asn1crypto silently drops an unfinished last arc; an OID must end on a final octet.
    if len(encoded) < 3 or encoded[-1] & 0x80:
        raise DerError("malformed OBJECT IDENTIFIER: it ends inside an arc")
    try:
        return str(asn1_core.ObjectIdentifier.load(encoded, strict=True).dotted)
    except ValueError as exc:
        raise DerError(f"malformed OBJECT IDENTIFIER: {exc}") from None
