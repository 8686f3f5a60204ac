"""The envelope codec: lossless round trips and clear refusals."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway import envelope
from gateway.errors import EnvelopeError, GatewayError, SchemaError, XmlSecurityError
from gateway.model import (
    Document,
    FileRef,
    FileRole,
    Message,
    Notification,
    NotificationKind,
    Organization,
    Person,
    Registration,
    Signatory,
)
from tests.strategies import messages

NOW = dt.datetime(2026, 11, 21, 9, 30, tzinfo=dt.UTC)
ROSTOV = Organization(
    short_name="Минстрой Ростовской области", inn="6163000000", ogrn="1026103000000", region="61"
)
SAKHA = Organization(short_name="Минстрой РС(Я)", inn="1435000000", region="14")


def letter(**changes: object) -> Message:
    doc = Document(
        uid="doc-1",
        kind="Письмо",
        sender=ROSTOV,
        registration=Registration("61-01/4512", dt.date(2026, 11, 20)),
        annotation="О ходе реализации программы «Жильё»",
        signatories=(
            Signatory(Person(ROSTOV, name="Иванов И. И.", post="Министр"), dt.date(2026, 11, 20)),
        ),
        addressees=(Person(SAKHA, name="Петров П. П."),),
        files=(
            FileRef("f1", FileRole.MAIN, "письмо.pdf", "application/pdf", 102400, "a" * 64),
            FileRef(
                "f2",
                FileRole.SIGNATURE,
                "письмо.pdf.sig",
                "application/pkcs7-signature",
                2048,
                "b" * 64,
                signature_of="f1",
            ),
        ),
    )
    message = Message("msg-1", NOW, "ru-61", "ru-14", doc, expires=NOW + dt.timedelta(days=7))
    return dataclasses.replace(message, **changes)  # type: ignore[arg-type]


@settings(max_examples=300)
@given(messages)
def test_every_valid_message_survives_a_round_trip(message: Message) -> None:
    assert envelope.decode(envelope.encode(message)) == message


def test_encoding_is_utf8_with_the_versioned_namespace() -> None:
    data = envelope.encode(letter())
    assert data.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    assert b'xmlns="urn:interregional-gateway:1" version="1.0"' in data
    assert "письмо.pdf".encode() in data


def test_a_control_character_is_refused_naming_the_field() -> None:
    bad = dataclasses.replace(letter().payload, annotation="текст\x07звонок")  # type: ignore[type-var]
    with pytest.raises(EnvelopeError) as info:
        envelope.encode(letter(payload=bad))
    assert info.value.code == "envelope.invalid"
    assert "Annotation" in info.value.message


def test_a_naive_timestamp_is_refused() -> None:
    with pytest.raises(EnvelopeError, match="no time zone"):
        envelope.encode(letter(created=dt.datetime(2026, 11, 21, 9, 30)))


def test_encode_validates_signature_of_against_the_manifest() -> None:
    doc = letter().payload
    assert isinstance(doc, Document)
    orphan = dataclasses.replace(doc.files[1], signature_of="no-such-file")
    with pytest.raises(SchemaError) as info:
        envelope.encode(letter(payload=dataclasses.replace(doc, files=(doc.files[0], orphan))))
    assert info.value.code == "xml.schema_invalid"
    assert "no-such-file" in info.value.message


def test_duplicate_file_ids_are_refused() -> None:
    doc = letter().payload
    assert isinstance(doc, Document)
    with pytest.raises(SchemaError, match=r"(?i)duplicate"):
        envelope.encode(
            letter(payload=dataclasses.replace(doc, files=(doc.files[0], doc.files[0])))
        )


def test_a_bad_inn_is_refused_on_encode() -> None:
    doc = letter().payload
    assert isinstance(doc, Document)
    sender = dataclasses.replace(ROSTOV, inn="61630")
    with pytest.raises(SchemaError, match="inn"):
        envelope.encode(letter(payload=dataclasses.replace(doc, sender=sender)))


def test_decode_names_the_line_of_a_schema_violation() -> None:
    data = envelope.encode(letter()).replace(b"<Type>document</Type>", b"\n\n<Type>parcel</Type>")
    with pytest.raises(SchemaError) as info:
        envelope.decode(data)
    assert info.value.code == "xml.schema_invalid"
    assert "line 4" in info.value.message and "parcel" in info.value.message


def test_header_type_must_match_the_payload() -> None:
    data = envelope.encode(letter()).replace(b"<Type>document</Type>", b"<Type>notification</Type>")
    with pytest.raises(SchemaError) as info:
        envelope.decode(data)
    assert info.value.code == "envelope.type_mismatch"


def test_a_notification_may_not_carry_a_manifest() -> None:
    note = Notification(
        NotificationKind.REGISTERED,
        "doc-1",
        "msg-1",
        NOW,
        Registration("01-5", dt.date(2026, 11, 21)),
    )
    data = envelope.encode(letter(payload=note))
    manifest = (
        b'<Manifest><File id="f1" role="main" name="a.pdf" mediaType="application/pdf" size="1" '
        b'sha256="' + b"a" * 64 + b'"/></Manifest>'
    )
    with pytest.raises(SchemaError) as info:
        envelope.decode(data.replace(b"</Header>", b"</Header>" + manifest))
    assert info.value.code == "envelope.unexpected_manifest"


def test_another_major_version_is_refused_as_unsupported() -> None:
    data = envelope.encode(letter()).replace(
        b"urn:interregional-gateway:1", b"urn:interregional-gateway:2"
    )
    with pytest.raises(SchemaError) as info:
        envelope.decode(data)
    assert info.value.code == "envelope.unsupported_version"


def test_a_foreign_document_is_named_as_such() -> None:
    with pytest.raises(SchemaError) as info:
        envelope.decode(b'<communication xmlns="http://www.infpres.com/IEDMS" version="2.6"/>')
    assert info.value.code == "xml.unknown_document"


def test_a_newer_minor_version_with_extensions_is_read() -> None:
    message = letter()
    data = envelope.encode(message).replace(b'version="1.0"', b'version="1.7"', 1)
    data = data.replace(
        b"</Document>",
        b'<Extensions><x:Priority xmlns:x="urn:example:ext">high</x:Priority></Extensions></Document>',
    )
    assert envelope.decode(data) == message


def test_comments_and_processing_instructions_do_not_confuse_the_reader() -> None:
    message = letter()
    data = envelope.encode(message).replace(b"<Signatory", b"<!-- note --><?pi x?><Signatory")
    assert envelope.decode(data) == message


def test_a_windows_1251_envelope_is_read() -> None:
    message = letter()
    text = (
        envelope.encode(message)
        .decode("utf-8")
        .replace("encoding='UTF-8'", "encoding='windows-1251'")
    )
    assert envelope.decode(text.encode("cp1251")) == message


def test_the_size_cap_applies_before_parsing() -> None:
    data = envelope.encode(letter())
    with pytest.raises(XmlSecurityError) as info:
        # malformed after the cap: only a check that runs before parsing can say "too large"
        envelope.decode(data + b"<<<not xml", max_bytes=len(data))
    assert info.value.code == "xml.too_large"


@pytest.mark.parametrize(
    "created",
    ["2026-11-21T24:00:00Z", "12026-11-21T09:30:00Z", "-2026-11-21T09:30:00Z",
     "2026-11-21T09:30:00", "2026-02-30T09:30:00Z"],
)  # fmt: skip
def test_odd_timestamps_are_refused_with_a_code(created: str) -> None:
    data = envelope.encode(letter())
    start = data.index(b"<Created>") + len(b"<Created>")
    end = data.index(b"</Created>")
    with pytest.raises(SchemaError) as info:
        envelope.decode(data[:start] + created.encode() + data[end:])
    assert info.value.code == "xml.schema_invalid"


@settings(max_examples=300)
@given(st.data())
def test_a_damaged_envelope_raises_only_gateway_errors(data: st.DataObject) -> None:
    original = bytearray(envelope.encode(letter()))
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        position = data.draw(st.integers(min_value=0, max_value=len(original) - 1))
        original[position] = data.draw(st.integers(min_value=0, max_value=255))
    with contextlib.suppress(GatewayError):  # refused with a code: the only acceptable failure
        envelope.decode(bytes(original))
