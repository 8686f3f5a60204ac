"""gateway.crypto.der: element boundaries, OIDs and integers, and the limits on hostile input."""

from __future__ import annotations

import time

import pytest
from asn1crypto import core
from asn1crypto import parser as asn1_parser
from hypothesis import given, settings
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


# The octets that steer a header decoder: tags (low, high, constructed), short, long and
# indefinite lengths, end-of-contents; and any octet now and then.
_HEADER_OCTETS = st.one_of(
    st.sampled_from([0x00, 0x01, 0x02, 0x04, 0x05, 0x1F, 0x30, 0x3F, 0x80, 0x81, 0x82, 0xA0]),
    st.sampled_from([0x9F, 0xBF, 0xFF, 0x7F, 0x1E, 0x20]),
    st.integers(0, 255),
)


@settings(max_examples=500)
@given(st.lists(_HEADER_OCTETS, max_size=14).map(bytes))
def test_element_boundaries_match_asn1crypto(data: bytes) -> None:
    # The reader decodes headers itself (without copying); it must agree with asn1crypto's
    # parser on every input: the same element, or the same error.
    try:
        class_, method, number, header, contents, trailer = asn1_parser.parse(data)
    except ValueError as exc:
        with pytest.raises(der.DerError) as error:
            der.read(data, 0, len(data))
        assert error.value.args[0] == f"offset 0: {exc}"
        return
    element = der.read(data, 0, len(data))
    tag = class_ << 6 | method << 5 | min(number, 0x1F) | (0x100 if number >= 0x1F else 0)
    assert element.tag == tag
    assert element.encoded == header + contents + trailer
    assert element.contents == contents
    assert element.body == len(header) and element.next == len(header + contents + trailer)


def _encoded(tag: int, size: int, long_form: int) -> bytes:
    """An element of ``size`` content octets, its length in short form (``long_form`` 0, when
    it fits) or in ``long_form`` octets (minimal or not, as BER allows)."""
    if long_form == 0 and size < 0x80:
        header = bytes([tag, size])
    else:
        count = max(long_form, (size.bit_length() + 7) // 8, 1)
        header = bytes([tag, 0x80 | count]) + size.to_bytes(count, "big")
    return header + bytes(range(256)) * (size // 256) + bytes(range(size % 256))


_ELEMENTS = st.builds(
    _encoded, st.sampled_from([0x02, 0x04, 0x06, 0x30, 0x31, 0xA0, 0x80]),
    st.integers(0, 300), st.integers(0, 5),
)  # fmt: skip


@settings(max_examples=500)
@given(
    st.lists(st.one_of(_ELEMENTS, st.lists(_HEADER_OCTETS, max_size=8).map(bytes)), max_size=6),
    st.integers(0, 8),
)
def test_children_read_inline_agree_with_the_general_reader(pieces: list[bytes], cut: int) -> None:
    # children() reads common elements inline; it must give what iter_children() (the general
    # reader, one element at a time) gives: the same elements, or the same error.
    contents = b"".join(pieces)
    contents = contents[: len(contents) - cut]  # often ends inside an element
    outer = der.Tlv(contents, 0x30, 0, 0, len(contents), len(contents))
    try:
        expected = [(c.tag, c.start, c.body, c.end, c.next) for c in outer.iter_children()]
    except der.DerError as exc:
        with pytest.raises(der.DerError) as error:
            outer.children()
        assert error.value.args == exc.args
        return
    assert [(c.tag, c.start, c.body, c.end, c.next) for c in outer.children()] == expected


def test_elements_are_read_in_linear_time() -> None:
    # A set of 640 000 empty elements: reading used to copy the rest of the buffer for each
    # element (11 s); now the walk only moves offsets.
    data = b"\x31\x83" + (1_280_000).to_bytes(3, "big") + b"\x05\x00" * 640_000
    started = time.perf_counter()
    count = sum(1 for _ in der.read_whole(data).iter_children())
    assert count == 640_000
    assert time.perf_counter() - started < 2.5  # about 0.4 s


def test_a_long_high_tag_number_is_not_computed() -> None:
    # Continuation octets of a tag number are skipped, not multiplied into a huge integer.
    data = b"\x1f" + b"\xff" * 200_000 + b"\x01\x00"
    started = time.perf_counter()
    element = der.read_whole(data)
    assert element.tag > 0xFF and element.contents == b""
    assert time.perf_counter() - started < 0.5
