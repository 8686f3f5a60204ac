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
    Fields,
    Writer,
    instant,
    parse_instant,
)

__all__ = ["decode_error", "decode_receipt", "encode_error", "encode_receipt", "read"]


def encode_receipt(receipt: Receipt) -> bytes:
    w = Writer("Receipt")
    w.leaf("MessageId", receipt.message_id)
    w.leaf("Time", instant(receipt.time))
    w.leaf("Sender", participant=receipt.sender)
    w.leaf("Recipient", participant=receipt.recipient)
    w.leaf("Accepted", "true" if receipt.accepted else "false")
    w.leaf("EnvelopeDigest", receipt.envelope_sha256, algorithm="sha256")
    if receipt.files:
        w.start("Files")
        for digest in receipt.files:
            w.leaf("File", id=digest.file_id, sha256=digest.sha256)
        w.end("Files")
    data, tree = w.finish()
    schemas.validate(tree, schemas.Kind.RECEIPT)
    return data


def decode_receipt(data: bytes) -> Receipt:
    return _read_receipt(_checked(xmlsafe.parse(data), schemas.Kind.RECEIPT))


def encode_error(report: ErrorReport) -> bytes:
    w = Writer("Error")
    w.leaf("Code", report.code)
    w.leaf("Message", report.message)
    w.leaf("Time", instant(report.time))
    w.leaf("Sender", participant=report.sender)
    w.opt("MessageId", report.message_id)
    data, tree = w.finish()
    schemas.validate(tree, schemas.Kind.ERROR)
    return data


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


def _participant(parts: Fields, name: str) -> str:
    ref = parts.child(name)
    if ref is None:  # the schema requires it; guard against codec/schema drift
        raise SchemaError(f"{name} is missing")
    return ref.get("participant", "")


def _read_receipt(element: etree._Element) -> Receipt:
    parts = Fields(element)
    files = parts.child("Files")
    return Receipt(
        message_id=parts.required("MessageId"),
        time=parse_instant(parts.required("Time")),
        sender=_participant(parts, "Sender"),
        recipient=_participant(parts, "Recipient"),
        # xs:boolean also allows "1"/"0"
        accepted=parts.required("Accepted").strip() in ("true", "1"),
        envelope_sha256=parts.required("EnvelopeDigest").strip(),
        files=tuple(
            FileDigest(file_id=f.get("id", ""), sha256=f.get("sha256", ""))
            for f in (files if files is not None else ())
        ),
    )


def _read_error(element: etree._Element) -> ErrorReport:
    parts = Fields(element)
    return ErrorReport(
        code=parts.required("Code"),
        message=parts.required("Message"),
        time=parse_instant(parts.required("Time")),
        sender=_participant(parts, "Sender"),
        message_id=parts.text("MessageId"),
    )
