"""Hostile input: whatever arrives as a signature, only SignatureError may come out."""

from __future__ import annotations

import base64
import contextlib
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.crypto import TrustPolicy, TrustStore, load_signature, verify_detached
from gateway.errors import SignatureError

if TYPE_CHECKING:
    from conftest import Party, Pki

_CONTENT = b"<letter>hostile input test</letter>"
_SETTINGS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def valid(alice: Party) -> bytes:
    return alice.sign(_CONTENT)


@pytest.fixture(scope="module")
def policy(pki: Pki, alice: Party) -> TrustPolicy:
    return TrustPolicy(TrustStore([pki.ca.cert]), {"alice": [alice.cert]})


def _only_signature_errors(signature: bytes, policy: TrustPolicy | None = None) -> bool:
    """True if it verified, False if refused with SignatureError; anything else propagates."""
    try:
        if policy is None:
            verify_detached(signature, _CONTENT)
        else:
            policy.verify_from("alice", _CONTENT, signature)
    except SignatureError as error:
        assert error.message  # a reason, never an empty one
        return False
    return True


@_SETTINGS
@given(st.binary(max_size=4096))
def test_random_bytes(data: bytes) -> None:
    assert not _only_signature_errors(data)


@_SETTINGS
@given(st.binary(max_size=512))
def test_random_bytes_that_look_like_der(data: bytes) -> None:
    # A SEQUENCE header gets random bytes past the first check into the ASN.1 parser.
    assert not _only_signature_errors(b"\x30" + bytes([min(len(data), 0x7F)]) + data)
    assert not _only_signature_errors(b"\x30\x82" + len(data).to_bytes(2, "big") + data)


@_SETTINGS
@given(st.text(max_size=300))
def test_random_text(text: str) -> None:
    data = text.encode("utf-8", "surrogatepass")
    for wrapped in (data, b"-----BEGIN PKCS7-----\n" + data + b"\n-----END PKCS7-----\n"):
        with contextlib.suppress(SignatureError):
            load_signature(wrapped)
        assert not _only_signature_errors(wrapped)


@_SETTINGS
@given(flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 255)), max_size=4))
def test_byte_flips_of_a_valid_signature(
    valid: bytes, policy: TrustPolicy, flips: list[tuple[int, int]]
) -> None:
    mutated = bytearray(valid)
    for position, mask in flips:
        mutated[position % len(mutated)] ^= mask
    # Flips in the embedded certificate can leave the signature valid; all else must fail cleanly.
    _only_signature_errors(bytes(mutated))
    _only_signature_errors(bytes(mutated), policy)


@_SETTINGS
@given(cut=st.integers(0, 10**6), tail=st.binary(max_size=8))
def test_splices_of_a_valid_signature(valid: bytes, cut: int, tail: bytes) -> None:
    cut %= len(valid)
    _only_signature_errors(valid[:cut] + tail + valid[cut + len(tail) :])


def test_every_truncation_is_refused(any_pki: Pki) -> None:
    signature = any_pki.issue("truncated").sign(_CONTENT)
    for length in range(len(signature)):
        assert not _only_signature_errors(signature[:length]), length
    text = base64.encodebytes(signature).rstrip()  # a cut only after the last newline is whole
    for length in range(0, len(text), 7):
        assert not _only_signature_errors(text[:length]), length


def test_trailing_garbage_is_refused(valid: bytes) -> None:
    assert not _only_signature_errors(valid + b"\x00")


@pytest.mark.parametrize(
    "data",
    [
        b"\x30\x88" + b"\xff" * 8,  # a length of 2**64 - 1
        b"\x30\x84\xff\xff\xff\xff",
        b"\x30\x80" * 5000,  # nested indefinite lengths, never closed
        b"\x30\x80" * 5000 + b"\x00\x00" * 5000,  # ... and closed: deep nesting
        b"\x30\x00",
        b"\x30\x03\x06\x01\x00",  # an OID with a bad encoding
        b"\x30\x0b\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07\x02",  # signedData, no content
        b"\x30\x0d\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07\x01\xa0\x00",  # id-data
    ],
)
def test_crafted_structures(data: bytes) -> None:
    assert not _only_signature_errors(data)
