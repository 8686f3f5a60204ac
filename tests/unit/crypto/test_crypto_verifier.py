"""gateway.crypto.verifier: what a detached signature must be to verify, and why it fails."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7

from gateway.crypto import load_signature, verify_detached
from gateway.errors import SignatureError
from tests.unit.crypto.helpers import SCHEME, attribute, resign, standard_attributes, utc_time

if TYPE_CHECKING:
    from conftest import Party, Pki


def _attributes(content: bytes) -> list[bytes]:
    return standard_attributes(content, datetime.now(UTC))


def _reason(signature: bytes, content: bytes, **kwargs: object) -> str:
    with pytest.raises(SignatureError) as error:
        verify_detached(signature, content, **kwargs)  # type: ignore[arg-type]
    assert error.value.code == "signature.invalid"
    return error.value.message


# --- the good path ---------------------------------------------------------------------------


def test_round_trip_for_every_profile(any_pki: Pki, content: bytes) -> None:
    party = any_pki.issue("roundtrip")
    (verified,) = verify_detached(party.sign(content), content)
    assert verified.certificate == party.cert
    assert verified.certificates == (party.cert,)
    assert verified.digest_algorithm == "sha256"
    assert verified.signature_algorithm == SCHEME[party.profile]
    assert verified.signing_time is not None
    assert verified.signing_time.tzinfo is not None
    assert abs(verified.signing_time - datetime.now(UTC)) < timedelta(minutes=1)


def test_file_content_is_hashed_in_chunks(alice: Party) -> None:
    content = bytes(range(256)) * (5 * 4096 + 7)  # a little over 5 MiB
    signature = alice.sign(content)
    requested: list[int] = []

    class Recorder(io.BytesIO):
        def read(self, size: int | None = -1, /) -> bytes:
            requested.append(-1 if size is None else size)
            return super().read(size)

    (verified,) = verify_detached(signature, Recorder(content))
    assert verified.certificate == alice.cert
    assert requested and all(0 < size <= 1 << 20 for size in requested)
    assert len(requested) >= 6

    tampered = bytearray(content)
    tampered[3 << 20] ^= 1
    assert "content was changed" in _reason(signature, io.BytesIO(bytes(tampered)))  # type: ignore[arg-type]


def test_signer_found_by_key_identifier(alice: Party, content: bytes) -> None:
    ski = alice.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    by_key_id = cms.SignerIdentifier({"subject_key_identifier": ski}).dump()
    signature = resign(alice.sign(content), alice, _attributes(content), sid=by_key_id)
    assert cms.ContentInfo.load(signature)["content"]["signer_infos"][0]["sid"].name == (
        "subject_key_identifier"
    )
    (verified,) = verify_detached(signature, content)
    assert verified.certificate == alice.cert


def test_signed_attributes_are_verified_as_sent_not_re_encoded(
    alice: Party, content: bytes
) -> None:
    # A SET OF must be sorted in DER; a sender that did not sort signed these exact bytes, and a
    # verifier that re-encodes (sorts) them would compute another hash and reject the signature.
    unsorted = sorted(_attributes(content), reverse=True)
    assert unsorted != sorted(unsorted)
    signature = resign(alice.sign(content), alice, unsorted)
    (verified,) = verify_detached(signature, content)
    assert verified.certificate == alice.cert


def test_signature_without_signed_attributes(
    alice: Party, content: bytes, sign_with: Callable[..., bytes]
) -> None:
    signature = sign_with(
        alice, content, pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.NoAttributes
    )
    (verified,) = verify_detached(signature, content)
    assert verified.signing_time is None
    assert "does not match" in _reason(signature, content + b"!")


def test_signature_without_certificates_needs_them_supplied(
    alice: Party, bob: Party, content: bytes, sign_with: Callable[..., bytes]
) -> None:
    signature = sign_with(
        alice, content, pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.NoCerts
    )
    reason = _reason(signature, content)
    assert "neither in the signature nor among the known certificates" in reason
    assert f"serial {alice.cert.serial_number:x}" in reason
    assert _reason(signature, content, certificates=[bob.cert]) == reason
    (verified,) = verify_detached(signature, content, certificates=[bob.cert, alice.cert])
    assert verified.certificate == alice.cert
    assert verified.certificates == ()


def test_every_signer_is_verified(alice: Party, bob: Party, content: bytes) -> None:
    builder = pkcs7.PKCS7SignatureBuilder().set_data(content)
    builder = builder.add_signer(alice.cert, alice.key, hashes.SHA256())
    builder = builder.add_signer(bob.cert, bob.key, hashes.SHA384())
    options = [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary]
    signature = builder.sign(serialization.Encoding.DER, options)
    verified = verify_detached(signature, content)
    assert [v.certificate for v in verified] == [alice.cert, bob.cert]
    assert [v.digest_algorithm for v in verified] == ["sha256", "sha384"]

    # Break only bob's signature value: the first signer alone must not carry the day.
    info = cms.ContentInfo.load(signature)
    value = info["content"]["signer_infos"][1]["signature"].native
    assert signature.count(value) == 1
    broken = signature.replace(value, value[:-1] + bytes([value[-1] ^ 1]))
    assert "does not match" in _reason(broken, content)


# --- load_signature --------------------------------------------------------------------------


def test_load_signature_accepts_der_pem_and_base64(alice: Party, content: bytes) -> None:
    der = alice.sign(content)
    b64 = base64.encodebytes(der)
    assert load_signature(der) == der
    assert load_signature(b"-----BEGIN PKCS7-----\n" + b64 + b"-----END PKCS7-----\n") == der
    assert load_signature(b"-----BEGIN CMS-----\r\n" + b64 + b"-----END CMS-----") == der
    assert load_signature(b64) == der
    assert load_signature(b"\xef\xbb\xbf  " + base64.b64encode(der) + b"\r\n") == der
    (verified,) = verify_detached(b64, content)  # verify_detached takes any of them
    assert verified.certificate == alice.cert


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b" \r\n", "empty"),
        (b"not a signature at all", "neither DER nor PEM nor base64"),
        (b"QUJD", "does not decode to a DER structure"),
        (b"-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n", "CERTIFICATE"),
        (b"-----BEGIN PKCS7-----\nMAA=\n", "without a matching END"),
        (b"-----BEGIN PKCS7-----\nMA*=\n-----END PKCS7-----", "neither DER nor PEM"),
    ],
)
def test_load_signature_refuses_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(SignatureError) as error:
        load_signature(data)
    assert reason in error.value.message


# --- tampering and refusals ------------------------------------------------------------------


def test_changed_content_is_detected(alice: Party, content: bytes) -> None:
    signature = alice.sign(content)
    changed = bytearray(content)
    changed[100] ^= 0x01
    assert "content was changed" in _reason(signature, bytes(changed))


def test_changed_signature_value_is_detected(any_pki: Pki, content: bytes) -> None:
    party = any_pki.issue("flip")
    signature = party.sign(content)
    value = cms.ContentInfo.load(signature)["content"]["signer_infos"][0]["signature"].native
    offset = signature.index(value) + len(value) // 2
    flipped = bytearray(signature)
    flipped[offset] ^= 0x01
    assert "does not match" in _reason(bytes(flipped), content)


def test_changed_signed_attribute_is_detected(alice: Party, content: bytes) -> None:
    signature = alice.sign(content)
    signer = cms.ContentInfo.load(signature)["content"]["signer_infos"][0]
    when = next(a for a in signer["signed_attrs"] if a["type"].native == "signing_time")
    encoded = when["values"][0].dump()
    assert signature.count(encoded) == 1
    later = bytearray(encoded)
    later[-2] ^= 0x01  # the last digit of the seconds: still a valid time, a different one
    assert "does not match" in _reason(signature.replace(encoded, bytes(later)), content)


def test_swapped_certificate_is_detected(alice: Party, bob: Party, content: bytes) -> None:
    # Replace alice's certificate by bob's and point the SignerInfo at it: the SignerInfo is
    # outside what is signed, so only the signature check can notice.
    signature = alice.sign(content)
    info = cms.ContentInfo.load(signature)
    info["content"]["certificates"] = [asn1_x509.Certificate.load(_der(bob))]
    info["content"]["signer_infos"][0]["sid"] = cms.SignerIdentifier(
        {
            "issuer_and_serial_number": {
                "issuer": asn1_x509.Name.load(bob.cert.issuer.public_bytes()),
                "serial_number": bob.cert.serial_number,
            }
        }
    )
    assert "does not match" in _reason(info.dump(force=True), content)


def test_attached_signature_is_refused(alice: Party, content: bytes) -> None:
    signature = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(content)
        .add_signer(alice.cert, alice.key, hashes.SHA256())
        .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary])
    )
    assert "attached" in _reason(signature, content)


def test_signature_without_signers_is_refused(alice: Party, content: bytes) -> None:
    info = cms.ContentInfo.load(alice.sign(content))
    info["content"]["signer_infos"] = []
    assert "no SignerInfo" in _reason(info.dump(force=True), content)


@pytest.mark.parametrize("weak", ["sha1", "md5"])
def test_weak_digest_is_refused_by_name(alice: Party, content: bytes, weak: str) -> None:
    info = cms.ContentInfo.load(alice.sign(content))
    info["content"]["signer_infos"][0]["digest_algorithm"] = {"algorithm": weak}
    reason = _reason(info.dump(force=True), content)
    assert weak in reason and "too weak" in reason


def test_signature_algorithm_must_agree_with_the_digest(alice: Party, content: bytes) -> None:
    info = cms.ContentInfo.load(alice.sign(content))
    info["content"]["signer_infos"][0]["signature_algorithm"] = {"algorithm": "sha384_ecdsa"}
    assert "contradicts" in _reason(info.dump(force=True), content)


def test_unknown_signature_algorithm_is_named(alice: Party, content: bytes) -> None:
    info = cms.ContentInfo.load(alice.sign(content))
    info["content"]["signer_infos"][0]["signature_algorithm"] = {"algorithm": "1.2.3.4.5"}
    assert "1.2.3.4.5" in _reason(info.dump(force=True), content)


def test_rsa_signature_with_an_ec_certificate_is_refused(alice: Party, content: bytes) -> None:
    info = cms.ContentInfo.load(alice.sign(content))
    info["content"]["signer_infos"][0]["signature_algorithm"] = {"algorithm": "sha256_rsa"}
    assert "has no RSA key" in _reason(info.dump(force=True), content)


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (
            lambda attrs, c: [*attrs, attribute("message_digest", b"\x00" * 32)],
            "exactly one messageDigest",
        ),
        (
            lambda attrs, c: [attrs[0], *attrs[1:], attribute("content_type", "data")],
            "exactly one contentType",
        ),
        (lambda attrs, c: attrs[1:], "exactly one contentType"),
        (lambda attrs, c: attrs[:2], "exactly one messageDigest"),
        (
            lambda attrs, c: [attribute("content_type", "signed_data"), *attrs[1:]],
            "differs from the content type",
        ),
        (
            lambda attrs, c: [*attrs, attribute("signing_time", utc_time(datetime.now(UTC)))],
            "more than one signingTime",
        ),
    ],
)
def test_signed_attribute_rules(
    alice: Party,
    content: bytes,
    mutate: Callable[[list[bytes], bytes], list[bytes]],
    reason: str,
) -> None:
    template = alice.sign(content)
    # The helper itself is sound: the unmutated attributes verify.
    verify_detached(resign(template, alice, _attributes(content)), content)
    signature = resign(template, alice, mutate(_attributes(content), content))
    assert reason in _reason(signature, content)


def test_signature_over_the_content_itself(alice: Party, content: bytes) -> None:
    # No signed attributes: the signature covers the content bytes, which the helper signs.
    signature = resign(alice.sign(content), alice, None, content=content)
    (verified,) = verify_detached(signature, content)
    assert verified.signing_time is None
    assert "does not match" in _reason(signature, content[:-1])


def _der(party: Party) -> bytes:
    return party.cert.public_bytes(serialization.Encoding.DER)


def test_ber_indefinite_lengths_outside_the_signed_attributes(alice: Party, content: bytes) -> None:
    # Streaming CMS producers write the outer structures with indefinite lengths (BER).
    der = alice.sign(content)
    info = cms.ContentInfo.load(der)
    ber = (
        b"\x30\x80"
        + info["content_type"].dump()
        + b"\xa0\x80\x30\x80"
        + info["content"].contents
        + b"\x00\x00" * 3
    )
    (verified,) = verify_detached(ber, content)
    assert verified.certificate == alice.cert

    value = info["content"]["signer_infos"][0]["signature"].native
    assert ber.count(value) == 1
    broken = ber.replace(value, value[:-1] + bytes([value[-1] ^ 1]))
    assert "does not match" in _reason(broken, content)
    assert "well-formed" in _reason(ber[:-2], content)  # an end-of-contents marker missing


# --- what openssl cms would refuse too: content types, weak keys ------------------------------


@pytest.mark.parametrize("with_attributes", [True, False])
def test_only_plain_data_is_accepted_as_the_content_type(
    alice: Party, content: bytes, with_attributes: bool
) -> None:
    # A SignedData over a time-stamp token (or a receipt, ...) signs that structure; presented
    # with a file it is not a signature of the file, even if the digests were made to match.
    tst_info = "1.2.840.113549.1.9.16.1.4"
    template = alice.sign(content)
    attributes = standard_attributes(content, datetime.now(UTC), content_type=tst_info)
    signature = resign(
        template,
        alice,
        attributes if with_attributes else None,
        content=content,
        content_type=tst_info,
    )
    reason = _reason(signature, content)
    assert tst_info in reason and "not over plain data" in reason
    # The control: the same construction over id-data verifies.
    plain = resign(
        template,
        alice,
        standard_attributes(content, datetime.now(UTC)) if with_attributes else None,
        content=content,
    )
    (verified,) = verify_detached(plain, content)
    assert verified.certificate == alice.cert


def test_rsa_key_below_2048_bits_is_refused(
    pki: Pki, content: bytes, sign_with: Callable[..., bytes]
) -> None:
    weak = pki.issue("weak", key=rsa.generate_private_key(public_exponent=65537, key_size=1024))
    signature = sign_with(weak, content, pkcs7.PKCS7Options.DetachedSignature)
    reason = _reason(signature, content)
    assert "RSA key of 1024 bits" in reason and "2048" in reason
    assert f"serial {weak.cert.serial_number:x}" in reason


@pytest.mark.parametrize(
    ("curve", "accepted"),
    [(ec.SECP521R1(), True), (ec.SECP256K1(), False), (ec.BrainpoolP256R1(), False)],
)
def test_ec_curves_other_than_the_nist_ones_are_refused(
    pki: Pki,
    content: bytes,
    sign_with: Callable[..., bytes],
    curve: ec.EllipticCurve,
    accepted: bool,
) -> None:
    party = pki.issue(f"on-{curve.name}", key=ec.generate_private_key(curve))
    signature = sign_with(party, content, pkcs7.PKCS7Options.DetachedSignature)
    if accepted:
        (verified,) = verify_detached(signature, content)
        assert verified.certificate == party.cert
    else:
        reason = _reason(signature, content)
        assert f"curve {curve.name}, which is not accepted" in reason
        assert "P-256, P-384, P-521" in reason
