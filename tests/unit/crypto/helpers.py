"""Test helpers for CMS signatures: what each profile signs with, and DER surgery that builds
SignerInfos the builders will not make (chosen signed attributes, a chosen signingTime, another
content type), signed for real with the party's key. Used by the unit and the interop tests."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import TYPE_CHECKING

from asn1crypto import algos, cms
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

if TYPE_CHECKING:
    from tests.unit.crypto.conftest import Party

# The signature scheme VerifiedSignature reports for a signature made with each demo profile.
SCHEME = {
    "rsa": "rsassa_pkcs1v15",
    "rsa-pss": "rsassa_pss",
    "ecdsa": "ecdsa",
    "ecdsa-p384": "ecdsa",
}


def tlv(tag: int, body: bytes) -> bytes:
    if len(body) < 0x80:
        return bytes([tag, len(body)]) + body
    size = len(body).to_bytes((len(body).bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + body


def attribute(kind: str, *values: object) -> bytes:
    return bytes(cms.CMSAttribute({"type": kind, "values": list(values)}).dump())


def utc_time(moment: datetime) -> cms.Time:
    return cms.Time({"utc_time": moment.replace(microsecond=0)})


def standard_attributes(
    content: bytes, signing_time: datetime, *, content_type: str = "data"
) -> list[bytes]:
    """contentType, signingTime and messageDigest (SHA-256), as CmsSigner writes them."""
    return [
        attribute("content_type", content_type),
        attribute("signing_time", utc_time(signing_time)),
        attribute("message_digest", hashlib.sha256(content).digest()),
    ]


def resign(
    template: bytes,
    party: Party,
    attributes: list[bytes] | None,
    *,
    content: bytes = b"",
    sid: bytes | None = None,
    digest_algorithm: str = "sha256",
    content_type: str | None = None,
) -> bytes:
    """Rebuild the single-signer signature ``template`` (made by ``party``) with these signed
    attributes, kept in the given order however un-DER that is, and sign it for real with the
    party's key; without attributes the signature is over ``content`` itself. ``content_type``
    replaces the encapsulated content type."""
    signed = cms.ContentInfo.load(template)["content"]
    signer = signed["signer_infos"][0]
    if attributes is None:
        value = _sign(party, content, digest_algorithm)
        attrs_field = b""
    else:
        body = b"".join(attributes)
        value = _sign(party, tlv(0x31, body), digest_algorithm)
        attrs_field = tlv(0xA0, body)
    digest = algos.DigestAlgorithm({"algorithm": digest_algorithm}).dump()
    signer_info = tlv(
        0x30,
        signer["version"].dump()
        + (sid if sid is not None else signer["sid"].dump())
        + digest
        + attrs_field
        + signer["signature_algorithm"].dump()
        + tlv(0x04, value),
    )
    encap = signed["encap_content_info"].dump()
    if content_type is not None:
        encap = cms.EncapsulatedContentInfo({"content_type": content_type}).dump()
    signed_data = tlv(
        0x30,
        signed["version"].dump()
        + tlv(0x31, digest)
        + encap
        + signed["certificates"].dump()
        + tlv(0x31, signer_info),
    )
    return tlv(0x30, cms.ContentType("signed_data").dump() + tlv(0xA0, signed_data))


def signed_at(party: Party, content: bytes, moment: datetime) -> bytes:
    """A signature by ``party`` over ``content`` whose signingTime is ``moment``: what a signer
    holding the key can make at any time, whatever its clock says (backdating)."""
    return resign(party.sign(content), party, standard_attributes(content, moment))


def _sign(party: Party, data: bytes, digest_algorithm: str) -> bytes:
    algorithm = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384()}[digest_algorithm]
    key = party.key
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(algorithm))
    assert isinstance(key, rsa.RSAPrivateKey)
    if party.profile == "rsa-pss":
        # The template's PSS parameters (CmsSigner's) say SHA-256 and a 32-octet salt.
        assert digest_algorithm == "sha256"
        scheme = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
        return key.sign(data, scheme, algorithm)
    return key.sign(data, padding.PKCS1v15(), algorithm)
