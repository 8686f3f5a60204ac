"""gateway.crypto.signer: the shape of what CmsSigner produces, checked with asn1crypto."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from asn1crypto import cms
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from gateway.crypto import CmsSigner, demo, write_certificate, write_private_key
from gateway.errors import GatewayError

if TYPE_CHECKING:
    from conftest import Party, Pki

_EXPECTED_ALGORITHM = {
    "rsa": {"rsassa_pkcs1v15", "sha256_rsa"},
    "rsa-pss": {"rsassa_pss"},
    "ecdsa": {"sha256_ecdsa"},
    "ecdsa-p384": {"sha256_ecdsa"},
}


def test_signature_follows_the_profile(any_pki: Pki, content: bytes) -> None:
    party = any_pki.issue("signer")
    der = party.sign(content)
    info = cms.ContentInfo.load(der)
    assert info["content_type"].native == "signed_data"
    signed = info["content"]
    assert signed["encap_content_info"]["content_type"].native == "data"
    assert signed["encap_content_info"]["content"].native is None  # detached

    (signer,) = signed["signer_infos"]
    assert signer["digest_algorithm"]["algorithm"].native == "sha256"
    algorithm = signer["signature_algorithm"]
    assert algorithm["algorithm"].native in _EXPECTED_ALGORITHM[party.profile]
    if party.profile == "rsa-pss":
        params = algorithm["parameters"]
        assert params["hash_algorithm"]["algorithm"].native == "sha256"
        assert params["mask_gen_algorithm"]["parameters"]["algorithm"].native == "sha256"
        assert params["salt_length"].native == 32

    attrs = {attr["type"].native: attr["values"].native for attr in signer["signed_attrs"]}
    assert set(attrs) == {"content_type", "message_digest", "signing_time"}  # no capabilities
    assert attrs["content_type"] == ["data"]
    assert attrs["message_digest"] == [_sha256(content)]
    assert abs(attrs["signing_time"][0] - datetime.now(UTC)) < timedelta(minutes=1)

    carried = [c.chosen.dump() for c in signed["certificates"]]
    assert carried == [party.cert.public_bytes(serialization.Encoding.DER)]


def test_chain_is_embedded_and_from_files_splits_it(tmp_path: Path, pki: Pki) -> None:
    party = pki.issue("chained")
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(
        party.cert.public_bytes(serialization.Encoding.PEM)
        + pki.ca.cert.public_bytes(serialization.Encoding.PEM)
    )
    write_private_key(party.key, key_file)

    signer = CmsSigner.from_files(cert_file, key_file)
    assert signer.certificate == party.cert
    signed = cms.ContentInfo.load(signer.sign(b"x"))["content"]
    carried = {c.chosen.dump() for c in signed["certificates"]}
    expected = {c.public_bytes(serialization.Encoding.DER) for c in (party.cert, pki.ca.cert)}
    assert carried == expected


def test_rsa_pss_needs_an_rsa_key(alice: Party) -> None:
    with pytest.raises(GatewayError) as error:
        CmsSigner(alice.cert, alice.key, rsa_pss=True)
    assert error.value.code == "keys.mismatch"


def test_unsupported_keys_are_refused_up_front(tmp_path: Path, pki: Pki) -> None:
    p521 = ec.generate_private_key(ec.SECP521R1())
    party = pki.issue("p521", key=p521)
    with pytest.raises(GatewayError) as error:
        CmsSigner(party.cert, p521)
    assert error.value.code == "keys.unsupported"
    assert "secp521r1" in error.value.message

    with pytest.raises(GatewayError) as error:
        CmsSigner(party.cert, ed25519.Ed25519PrivateKey.generate())  # type: ignore[arg-type]
    assert error.value.code == "keys.unsupported"


def test_rsa_keys_below_2048_bits_are_refused(pki: Pki) -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    party = pki.issue("weak", key=weak)
    with pytest.raises(GatewayError) as error:
        CmsSigner(party.cert, weak)
    assert error.value.code == "keys.too_weak"
    assert "1024 bits" in error.value.message and "2048" in error.value.message


def test_unknown_profile_suggests_the_close_one() -> None:
    with pytest.raises(GatewayError) as error:
        demo.generate_key("ecdsa-384")
    assert error.value.code == "keys.unknown_profile"
    assert "did you mean 'ecdsa-p384'" in error.value.message


def test_demo_certificates_have_the_documented_extensions(pki: Pki, alice: Party) -> None:
    ca = pki.ca.cert
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).critical
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    usage = ca.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.key_cert_sign and usage.value.crl_sign

    leaf = alice.cert
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    usage = leaf.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and usage.value.content_commitment
    assert not usage.value.key_cert_sign
    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    assert leaf.subject.rfc4514_string() == "O=Org of alice,CN=alice"
    leaf.verify_directly_issued_by(ca)


def test_written_certificate_reads_back(tmp_path: Path, alice: Party) -> None:
    path = tmp_path / "c.pem"
    write_certificate(alice.cert, path)
    assert path.read_bytes() == alice.cert.public_bytes(serialization.Encoding.PEM)


def _sha256(data: bytes) -> bytes:
    digest = hashes.Hash(hashes.SHA256())
    digest.update(data)
    return digest.finalize()
