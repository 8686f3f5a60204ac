"""Hostile input: whatever arrives as a signature, only SignatureError may come out."""

from __future__ import annotations

import base64
import contextlib
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest
from asn1crypto import cms
from asn1crypto import parser as asn1_parser
from cryptography.hazmat.primitives import serialization
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.crypto import TrustPolicy, TrustStore, der, load_signature, verifier, verify_detached
from gateway.crypto import cms as cms_reader
from gateway.errors import SignatureError
from tests.unit.crypto.helpers import tlv

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


def _unsigned_and_unused(signature: bytes) -> list[range]:
    """The regions of a valid signature that no check depends on, so a change there may leave
    it valid: the embedded certificate set (the signer's certificate is checked by the signature
    and, through the policy, against the registered one), the version numbers, the
    digestAlgorithms set (each SignerInfo names its own), the digest algorithms' NULL parameters
    (not read), and the issuer name of the SignerInfo's sid (matched by RFC 5280 name comparison,
    which ignores case). Everything else is the signature, what it covers, or structure, and a
    change there must be refused."""

    def children(start: int, end: int) -> list[tuple[int, int, int]]:
        found = []
        while start < end:
            _, _, _, header, contents, trailer = asn1_parser.parse(signature[start:end])
            found.append((start, start + len(header), start + len(header) + len(contents)))
            start += len(header) + len(contents) + len(trailer)
        return found

    (_, body, end) = children(0, len(signature))[0]
    (_, body, end) = children(*children(body, end)[1][1:])[0]  # [0] EXPLICIT SignedData
    version, digests, _, certificates, signers = children(body, end)
    regions = [range(*version[1:]), range(*digests[1:]), range(certificates[0], certificates[2])]
    for _, body, end in children(*signers[1:]):
        version, sid, digest_algorithm, *_ = children(body, end)
        issuer = children(*sid[1:])[0]
        regions += [range(*version[1:]), range(issuer[0], issuer[2])]
        _, parameters = children(*digest_algorithm[1:])
        regions.append(range(parameters[0], parameters[2]))
    return regions


def _must_be_refused(valid: bytes, mutated: bytes) -> bool:
    """Whether ``mutated`` changes ``valid`` anywhere but in its unsigned and unused regions."""
    if len(mutated) != len(valid):
        return True
    changed = [i for i, (a, b) in enumerate(zip(valid, mutated, strict=True)) if a != b]
    tolerated = _unsigned_and_unused(valid)
    return any(not any(i in region for region in tolerated) for i in changed)


def _check_mutation(valid: bytes, mutated: bytes, policy: TrustPolicy) -> None:
    verified = _only_signature_errors(mutated), _only_signature_errors(mutated, policy)
    if mutated == valid:
        assert verified == (True, True)
    elif _must_be_refused(valid, mutated):
        assert verified == (False, False), "a changed signature verified"


def test_the_tolerated_regions_are_what_they_claim(valid: bytes) -> None:
    regions = _unsigned_and_unused(valid)
    assert len(regions) == 6
    certificates = regions[2]
    assert valid[certificates.start] == 0xA0 and len(certificates) > 300
    assert sum(len(region) for region in regions if region is not certificates) < 64
    signer = cms.ContentInfo.load(valid)["content"]["signer_infos"][0]
    for field in (signer["signature"], signer["signed_attrs"]):
        start = valid.index(field.contents)
        assert not any(start in region for region in regions)


@_SETTINGS
@given(flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 255)), max_size=4))
def test_byte_flips_of_a_valid_signature(
    valid: bytes, policy: TrustPolicy, flips: list[tuple[int, int]]
) -> None:
    mutated = bytearray(valid)
    for position, mask in flips:
        mutated[position % len(mutated)] ^= mask
    _check_mutation(valid, bytes(mutated), policy)


@_SETTINGS
@given(cut=st.integers(0, 10**6), tail=st.binary(max_size=8))
def test_splices_of_a_valid_signature(
    valid: bytes, policy: TrustPolicy, cut: int, tail: bytes
) -> None:
    cut %= len(valid)
    _check_mutation(valid, valid[:cut] + tail + valid[cut + len(tail) :], policy)


def test_every_single_byte_change_outside_the_tolerated_regions_is_refused(
    valid: bytes, policy: TrustPolicy
) -> None:
    tolerated = _unsigned_and_unused(valid)
    for position in range(len(valid)):
        if any(position in region for region in tolerated):
            continue
        for mask in (0x01, 0x20, 0x80):
            mutated = bytearray(valid)
            mutated[position] ^= mask
            assert not _only_signature_errors(bytes(mutated)), (position, mask)
            assert not _only_signature_errors(bytes(mutated), policy), (position, mask)


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


# --- limits: size, certificates, signers -------------------------------------------------------


def _with_certificate_set(valid: bytes, entries: bytes) -> bytes:
    """``valid`` with its certificate set replaced by ``entries`` (any elements)."""
    signed = cms.ContentInfo.load(valid)["content"]
    body = (
        signed["version"].dump()
        + signed["digest_algorithms"].dump()
        + signed["encap_content_info"].dump()
        + tlv(0xA0, entries)
        + signed["signer_infos"].dump()
    )
    return tlv(0x30, cms.ContentType("signed_data").dump() + tlv(0xA0, tlv(0x30, body)))


def _refusal(call: Callable[[], object]) -> tuple[SignatureError, float]:
    started = time.perf_counter()
    with pytest.raises(SignatureError) as error:
        call()
    return error.value, time.perf_counter() - started


def test_640k_tiny_elements_in_the_certificate_set_are_refused_quickly(
    valid: bytes, alice: Party, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 1.28 MB: the parser used to copy the rest of the buffer for every element (11 s).
    hostile = _with_certificate_set(valid, b"\x05\x00" * 640_000)
    assert len(hostile) > 1_280_000
    error, seconds = _refusal(lambda: verify_detached(hostile, _CONTENT))
    assert seconds < 1.0
    assert error.code == "signature.too_large"
    assert f"{len(hostile)} bytes" in error.message and "at most 262144 bytes" in error.message
    error, seconds = _refusal(lambda: load_signature(hostile))
    assert error.code == "signature.too_large" and seconds < 1.0

    # Past the size check (as if it were larger), the count of entries stops the walk early.
    error, seconds = _refusal(lambda: cms_reader.parse_signed_data(hostile))
    assert seconds < 1.0
    assert error.code == "signature.too_large"
    assert "more than 32 entries in its certificate set" in error.message

    # Under the size limit, the same shape is refused by the count, not after walking it all.
    walked: list[int] = []
    original = der.Tlv.iter_children

    def counting(element: der.Tlv) -> Iterator[der.Tlv]:
        for child in original(element):
            walked.append(1)
            yield child

    monkeypatch.setattr(der.Tlv, "iter_children", counting)
    smaller = _with_certificate_set(valid, b"\x05\x00" * 100_000)
    assert len(smaller) < 256 * 1024
    error, seconds = _refusal(lambda: verify_detached(smaller, _CONTENT, certificates=[alice.cert]))
    assert seconds < 1.0 and "more than 32 entries" in error.message
    assert len(walked) < 100


def test_the_size_limit_is_checked_before_parsing(
    valid: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    limit = 256 * 1024

    def never(data: bytes) -> None:
        raise AssertionError("parsed")

    monkeypatch.setattr(verifier, "parse_signed_data", never)
    big = b"\x30\x83" + (limit - 5).to_bytes(3, "big") + b"\x00" * (limit - 4)
    assert len(big) == limit + 1
    for data in (big, b"\x30" * (10 * limit)):
        error, _ = _refusal(lambda data=data: verify_detached(data, _CONTENT))  # type: ignore[misc]
        assert error.code == "signature.too_large"
    assert load_signature(big[:limit]) == big[:limit]  # at the limit: not refused for its size

    # As text: refused before decoding when far too long, after decoding when the DER is.
    pem = b"-----BEGIN CMS-----\n" + base64.encodebytes(big) + b"-----END CMS-----\n"
    for text in (pem, base64.b64encode(big), b"A" * (2 * limit + 1)):
        error, _ = _refusal(lambda text=text: load_signature(text))  # type: ignore[misc]
        assert error.code == "signature.too_large", error
    monkeypatch.undo()
    assert verify_detached(base64.encodebytes(valid), _CONTENT)


def test_at_most_32_certificates(valid: bytes, alice: Party) -> None:
    certificate = alice.cert.public_bytes(serialization.Encoding.DER)
    (verified,) = verify_detached(_with_certificate_set(valid, certificate * 32), _CONTENT)
    assert verified.certificate == alice.cert and len(verified.certificates) == 32
    error, _ = _refusal(
        lambda: verify_detached(_with_certificate_set(valid, certificate * 33), _CONTENT)
    )
    assert error.code == "signature.too_large"
    assert "more than 32 entries in its certificate set; at most 32" in error.message
    # Entries that are no X.509 certificate (attribute certificates, junk) count too.
    error, _ = _refusal(
        lambda: verify_detached(
            _with_certificate_set(valid, certificate + b"\x05\x00" * 32), _CONTENT
        )
    )
    assert "more than 32 entries" in error.message


def test_at_most_8_signers(valid: bytes, alice: Party) -> None:
    info = cms.ContentInfo.load(valid)
    signer = info["content"]["signer_infos"][0]
    info["content"]["signer_infos"] = [signer] * 8
    verified = verify_detached(info.dump(force=True), _CONTENT)
    assert [v.certificate for v in verified] == [alice.cert] * 8
    info["content"]["signer_infos"] = [signer] * 9
    error, _ = _refusal(lambda: verify_detached(info.dump(force=True), _CONTENT))
    assert error.code == "signature.too_large"
    assert "more than 8 SignerInfos; at most 8" in error.message
