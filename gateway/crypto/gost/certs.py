"""X.509 certificates that involve a GOST key: issuing them, and checking their signatures.

cryptography's CertificateBuilder takes only keys it knows, so a certificate for a GOST key, or
issued by one, is encoded here with asn1crypto and signed by whichever key issues it (a GOST key
through the engine, an RSA or EC key through cryptography). The result is loaded back as a
``cryptography.x509.Certificate``, which reads every field of a GOST certificate but its key.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from asn1crypto import core as asn1_core
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from gateway.crypto import der
from gateway.crypto.gost.cms import (
    CERTIFICATE_SIGNATURE_OIDS,
    SCHEMES,
    public_key,
    scheme_of,
)
from gateway.crypto.gost.keys import GostPrivateKey
from gateway.crypto.gost.streebog import digest
from gateway.errors import GatewayError, SignatureError

_ECDSA_SHA256 = "1.2.840.10045.4.3.2"
_RSA_SHA256 = "1.2.840.113549.1.1.11"


def build(
    *,
    subject: x509.Name,
    issuer: x509.Name,
    spki: bytes,
    serial: int,
    not_before: datetime,
    not_after: datetime,
    ca: bool,
    issuer_key: GostPrivateKey | rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
    authority_key_id: bytes | None,
) -> x509.Certificate:
    """A v3 certificate in the demo profile (see :mod:`gateway.crypto.demo`)."""
    key_id = key_identifier(spki)
    usage = {"key_cert_sign", "crl_sign"} if ca else {"digital_signature", "non_repudiation"}
    extensions = [
        {"extn_id": "basic_constraints", "critical": True, "extn_value": {"ca": ca}},
        {"extn_id": "key_usage", "critical": True, "extn_value": usage},
        {"extn_id": "key_identifier", "critical": False, "extn_value": key_id},
    ]
    if authority_key_id is not None:
        extensions.append(
            {
                "extn_id": "authority_key_identifier",
                "critical": False,
                "extn_value": {"key_identifier": authority_key_id},
            }
        )
    algorithm = _signature_algorithm(issuer_key)
    tbs = asn1_x509.TbsCertificate(
        {
            "version": "v3",
            "serial_number": serial,
            "signature": algorithm,
            "issuer": asn1_x509.Name.load(issuer.public_bytes()),
            "validity": {"not_before": _time(not_before), "not_after": _time(not_after)},
            "subject": asn1_x509.Name.load(subject.public_bytes()),
            "subject_public_key_info": asn1_keys.PublicKeyInfo.load(spki),
            "extensions": extensions,
        }
    )
    signed = tbs.dump()
    value = _sign(issuer_key, signed)
    encoded = (
        signed
        + asn1_x509.SignedDigestAlgorithm(algorithm).dump()
        + b"\x03"
        + _length(len(value) + 1)
        + b"\x00"
        + value  # BIT STRING, no unused bits
    )
    return x509.load_der_x509_certificate(b"\x30" + _length(len(encoded)) + encoded)


def spki_of(key: GostPrivateKey | rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    if isinstance(key, GostPrivateKey):
        return key.subject_public_key_info()
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def key_identifier(spki: bytes) -> bytes:
    """RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits (an identifier, not a
    security function)."""
    _, bits = der.read_whole(spki).children()
    return hashlib.sha1(
        der.expect(bits, 0x03, "BIT STRING").contents[1:], usedforsecurity=False
    ).digest()


def check_issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> str | None:
    """Why ``cert``'s GOST signature does not verify with ``issuer``'s key, or None if it does."""
    scheme = CERTIFICATE_SIGNATURE_OIDS.get(cert.signature_algorithm_oid.dotted_string)
    if scheme is None:
        return "is not signed with GOST R 34.10-2012"
    try:
        key = public_key(issuer)
    except SignatureError:
        return "has a GOST signature, but its issuer has no GOST R 34.10-2012 key"
    if scheme_of(key.profile) != scheme:
        return f"has a {scheme} signature, but its issuer has a {key.profile} key"
    hashed = digest(cert.tbs_certificate_bytes, SCHEMES[scheme][0])
    if not key.verify_digest(cert.signature, hashed):
        return "has a GOST signature that does not verify with its issuer's key"
    return None


def _signature_algorithm(
    key: GostPrivateKey | rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
) -> dict[str, object]:
    if isinstance(key, GostPrivateKey):
        return {"algorithm": SCHEMES[scheme_of(key.profile)][2]}
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return {"algorithm": _ECDSA_SHA256}
    return {"algorithm": _RSA_SHA256, "parameters": asn1_core.Null()}


def _sign(
    key: GostPrivateKey | rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, data: bytes
) -> bytes:
    if isinstance(key, GostPrivateKey):
        return key.sign(data)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(hashes.SHA256()))
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    raise GatewayError(f"a {type(key).__name__} cannot issue certificates", code="keys.unsupported")


def _time(moment: datetime) -> asn1_x509.Time:
    if moment.year < 2050:
        return asn1_x509.Time({"utc_time": moment})
    return asn1_x509.Time({"general_time": moment})


def _length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    encoded = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(encoded)]) + encoded
