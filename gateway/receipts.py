"""Codecs for the receiving gateway's signed answers: the transport receipt, the error document.

Same rules as :mod:`gateway.envelope`: validated against ``xsd/`` both ways, untrusted bytes only
through :mod:`gateway.xmlsafe`, and ``decode(encode(x)) == x``. :func:`read` tells the three wire
documents apart for tools such as ``gateway validate``.
"""

from __future__ import annotations

from lxml import etree

from gateway import envelope, schemas, xmlsafe
from gateway.errors import SchemaError
from gateway.model import ErrorReport, FileDigest, Message, Receipt
from gateway.xmltools import (
    child,
    instant,
    opt,
    parse_instant,
    required_text,
    root,
    sub,
    text_of,
    to_bytes,
)

__all__ = ["decode_error", "decode_receipt", "encode_error", "encode_receipt", "read"]


def encode_receipt(receipt: Receipt) -> bytes:
    element = root("Receipt")
    sub(element, "MessageId", receipt.message_id)
    sub(element, "Time", instant(receipt.time))
    sub(element, "Sender", participant=receipt.sender)
    sub(element, "Recipient", participant=receipt.recipient)
    sub(element, "Accepted", "true" if receipt.accepted else "false")
    sub(element, "EnvelopeDigest", receipt.envelope_sha256, algorithm="sha256")
    if receipt.files:
        files = sub(element, "Files")
        for digest in receipt.files:
            sub(files, "File", id=digest.file_id, sha256=digest.sha256)
    schemas.validate(element, schemas.Kind.RECEIPT)
    return to_bytes(element)


def decode_receipt(data: bytes) -> Receipt:
    return _read_receipt(_checked(xmlsafe.parse(data), schemas.Kind.RECEIPT))


def encode_error(report: ErrorReport) -> bytes:
    element = root("Error")
    sub(element, "Code", report.code)
    sub(element, "Message", report.message)
    sub(element, "Time", instant(report.time))
    sub(element, "Sender", participant=report.sender)
    opt(element, "MessageId", report.message_id)
    schemas.validate(element, schemas.Kind.ERROR)
    return to_bytes(element)


def decode_error(data: bytes) -> ErrorReport:
    return _read_error(_checked(xmlsafe.parse(data), schemas.Kind.ERROR))


def read(data: bytes) -> Message | Receipt | ErrorReport:
    """Any of the three wire documents, validated; SchemaError says which one it was meant to be."""
    element = xmlsafe.parse(data)
    kind = schemas.kind_of(element)
    if kind is schemas.Kind.ENVELOPE:
        return envelope.decode_root(element)
    if kind is schemas.Kind.RECEIPT:
        return _read_receipt(_checked(element, kind))
    return _read_error(_checked(element, kind))


def _checked(element: etree._Element, kind: schemas.Kind) -> etree._Element:
    found = schemas.kind_of(element)
    if found is not kind:
        raise SchemaError(f"expected {kind.root_tag}, got {found.root_tag}")
    schemas.validate(element, kind)
    return element


def _participant(element: etree._Element, name: str) -> str:
    ref = child(element, name)
    assert ref is not None  # required by the schema
    return ref.get("participant", "")


def _read_receipt(element: etree._Element) -> Receipt:
    files = child(element, "Files")
    return Receipt(
        message_id=required_text(element, "MessageId"),
        time=parse_instant(required_text(element, "Time")),
        sender=_participant(element, "Sender"),
        recipient=_participant(element, "Recipient"),
        # xs:boolean also allows "1"/"0"
        accepted=required_text(element, "Accepted").strip() in ("true", "1"),
        envelope_sha256=required_text(element, "EnvelopeDigest").strip(),
        files=tuple(
            FileDigest(file_id=f.get("id", ""), sha256=f.get("sha256", ""))
            for f in (files if files is not None else ())
        ),
    )


def _read_error(element: etree._Element) -> ErrorReport:
    return ErrorReport(
        code=required_text(element, "Code"),
        message=required_text(element, "Message"),
        time=parse_instant(required_text(element, "Time")),
        sender=_participant(element, "Sender"),
        message_id=text_of(element, "MessageId"),
    )
