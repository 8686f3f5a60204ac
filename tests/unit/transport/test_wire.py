"""The wire format's constants and helpers."""

from __future__ import annotations

import pytest

from gateway.errors import GatewayError
from gateway.transport import wire
from gateway.transport.wire import Limits, WireError


def test_content_ids_round_trip_and_need_their_brackets() -> None:
    assert wire.content_id("f1") == "<f1>"
    assert wire.parse_content_id(" <envelope.p7s> ") == "envelope.p7s"
    for bad in (None, "", "<>", "f1", "<f1", "f1>"):
        assert wire.parse_content_id(bad) is None


def test_the_path_carries_the_major_version() -> None:
    assert wire.PATH == "/gw/v1/messages"


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_files"):
        Limits(max_files=0)


def test_a_wire_error_is_a_gateway_error_with_its_own_status() -> None:
    error = WireError("too big", code="request.too_large", http_status=413)
    assert isinstance(error, GatewayError)
    assert (error.code, error.http_status, str(error)) == (
        "request.too_large",
        413,
        "[request.too_large] too big",
    )
    assert WireError("x").http_status == 400 and WireError("x").code == "request.malformed"
