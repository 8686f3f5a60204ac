"""Receipt and error-document codecs, and telling the three wire documents apart."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings

from gateway import envelope, receipts
from gateway.errors import SchemaError
from gateway.model import ErrorReport, FileDigest, Receipt
from tests.strategies import error_reports, messages
from tests.strategies import receipts as receipt_values

NOW = dt.datetime(2026, 11, 21, 9, 30, tzinfo=dt.UTC)


@settings(max_examples=150)
@given(receipt_values)
def test_receipts_round_trip(receipt: Receipt) -> None:
    assert receipts.decode_receipt(receipts.encode_receipt(receipt)) == receipt


@settings(max_examples=150)
@given(error_reports)
def test_error_documents_round_trip(report: ErrorReport) -> None:
    assert receipts.decode_error(receipts.encode_error(report)) == report


@settings(max_examples=50)
@given(messages)
def test_read_recognises_an_envelope(message: object) -> None:
    assert receipts.read(envelope.encode(message)) == message  # type: ignore[arg-type]


def test_read_recognises_receipts_and_errors() -> None:
    receipt = Receipt("m-1", NOW, "ru-14", "ru-61", True, "c" * 64, (FileDigest("f1", "d" * 64),))
    report = ErrorReport(
        "signature.sender_mismatch", "подпись не того участника", NOW, "ru-14", "m-1"
    )
    assert receipts.read(receipts.encode_receipt(receipt)) == receipt
    assert receipts.read(receipts.encode_error(report)) == report


def test_a_receipt_is_not_an_error_document() -> None:
    receipt = Receipt("m-1", NOW, "ru-14", "ru-61", False, "c" * 64)
    with pytest.raises(SchemaError, match="expected"):
        receipts.decode_error(receipts.encode_receipt(receipt))


def test_error_codes_must_be_machine_readable() -> None:
    with pytest.raises(SchemaError):
        receipts.encode_error(ErrorReport("Bad Code!", "text", NOW, "ru-14"))
