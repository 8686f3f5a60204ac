"""gateway.crypto.der: element boundaries, OIDs and integers, and the limits on hostile input."""

from __future__ import annotations

import pytest
from asn1crypto import core
from hypothesis import given
from hypothesis import strategies as st

from gateway.crypto import der


@pytest.mark.parametrize(
    "dotted",
    ["1.2.840.113549.1.7.2", "2.16.840.1.101.3.4.2.1", "1.3.14.3.2.26", "2.999.3", "0.0"],
)
def test_oid_matches_asn1crypto(dotted: str) -> None:
    encoded = core.ObjectIdentifier(dotted).dump()
    assert der.oid(der.read_whole(encoded)) == dotted


@given(st.integers(min_value=-(2**200), max_value=2**200))
def test_integer_matches_asn1crypto(value: int) -> None:
    assert der.integer(der.read_whole(core.Integer(value).dump())) == value


def test_children_and_boundaries() -> None:
    encoded = core.Sequence.load(b"\x30\x06\x02\x01\x05\x04\x01\xff").dump()
    outer = der.read_whole(encoded)
    first, second = outer.children()
    assert (first.tag, der.integer(first)) == (0x02, 5)
    assert (second.tag, second.contents, second.encoded) == (0x04, b"\xff", b"\x04\x01\xff")


def test_long_form_length_and_high_tag_numbers() -> None:
    body = b"\x04\x81\x80" + b"a" * 128 + b"\x9f\x81\x00\x01\x00"  # [1 << 7] IMPLICIT, 1 octet
    outer = der.read_whole(b"\x30\x81" + bytes([len(body)]) + body)
    octets, high = outer.children()
    assert octets.contents == b"a" * 128
    assert high.tag > 0xFF and high.contents == b"\x00"


def test_indefinite_length() -> None:
    outer = der.read_whole(b"\x30\x80\x02\x01\x01\x30\x80\x00\x00\x00\x00")
    integer, inner = outer.children()
    assert der.integer(integer) == 1
    assert inner.children() == [] and inner.next == len(outer.data) - 2


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "Insufficient data"),
        (b"\x30", "Insufficient data"),
        (b"\x30\x05\x02\x01", "5 bytes requested but only 2 available"),
        (b"\x30\x85\x01\x00\x00\x00\x00", "4294967296 bytes requested"),
        (b"\x30\xff", "127 bytes requested"),
        (b"\x04\x80\x00\x00", "Indefinite-length element must be constructed"),
        (b"\x30\x80\x02\x01\x01", "Insufficient data"),
        (b"\x30\x80" * 40 + b"\x00\x00" * 40, "recursion limit exceeded"),
        (b"\x02\x00", "empty INTEGER"),
        (b"\x30\x00\x00", "1 octets after the end"),
    ],
)
def test_malformed_encodings(data: bytes, reason: str) -> None:
    with pytest.raises(der.DerError, match=reason):
        element = der.read_whole(data)
        if element.tag == 0x02:
            der.integer(element)


def test_a_high_tag_number_never_matches_an_expected_field() -> None:
    element = der.read_whole(b"\x1f\xff\xff\xff\xff\x01\x00")
    assert element.tag > 0xFF
    with pytest.raises(der.DerError, match="expected"):
        der.expect(element, 0x30, "SEQUENCE")


def test_malformed_oid() -> None:
    with pytest.raises(der.DerError, match="OBJECT IDENTIFIER"):
        der.oid(der.read_whole(b"\x06\x02\x2a\x86"))  # the last octet continues
    with pytest.raises(der.DerError, match="OBJECT IDENTIFIER expected"):
        der.oid(der.read_whole(b"\x04\x01\x2a"))
