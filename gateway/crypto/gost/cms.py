"""Detached CMS SignedData with GOST R 34.10-2012 and Streebog (RFC 4490 / RFC 9337 profile).

Signing fills a template: everything but the signing time, the message digest and the signature
value is encoded once per signer, and those three have fixed lengths, so one signature costs
two Streebog digests, one engine signature and some byte joins. The layout is what
``openssl cms -sign -binary -nosmimecap`` writes with the GOST engine (digest and signature
algorithm identifiers with NULL parameters, the key algorithm OID as signatureAlgorithm), so both
verify each other's signatures. Verification of a parsed SignerInfo's value is here too; reading
the hostile DER stays in :mod:`gateway.crypto.cms`.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from datetime import datetime

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from gateway.crypto.cms import describe
from gateway.crypto.gost._lib import GostError
from gateway.crypto.gost.keys import GostPrivateKey, GostPublicKey, profile_of_key_oid
from gateway.crypto.gost.streebog import DIGESTS, digest
from gateway.errors import GatewayError, SignatureError

_ID_DATA = "1.2.840.113549.1.7.1"
_SIGNED_DATA = "1.2.840.113549.1.7.2"
_CONTENT_TYPE = "1.2.840.113549.1.9.3"
_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
_SIGNING_TIME = "1.2.840.113549.1.9.5"
# Scheme -> (digest, key algorithm OID, signature-with-digest OID). openssl writes the key
# algorithm as signatureAlgorithm; RFC 9337 allows both, so both are accepted.
SCHEMES = {
    "gost2012-256": ("streebog256", "1.2.643.7.1.1.1.1", "1.2.643.7.1.1.3.2"),
    "gost2012-512": ("streebog512", "1.2.643.7.1.1.1.2", "1.2.643.7.1.1.3.3"),
}
_PROFILE_SCHEME = {"gost2012": "gost2012-256", "gost2012-512": "gost2012-512"}
DIGEST_OIDS = {oid: name for name, (oid, _) in DIGESTS.items()}
SIGNATURE_OIDS = {
    oid: scheme for scheme, (_, key_oid, sig_oid) in SCHEMES.items() for oid in (key_oid, sig_oid)
}
CERTIFICATE_SIGNATURE_OIDS = {sig_oid: scheme for scheme, (_, _, sig_oid) in SCHEMES.items()}


def scheme_of(profile: str) -> str:
    return _PROFILE_SCHEME[profile]


class GostCmsSigner:
    """Detached CMS signatures by one GOST certificate and its key (thread-safe)."""

    def __init__(
        self,
        certificate: x509.Certificate,
        key: GostPrivateKey,
        chain: Sequence[x509.Certificate] = (),
    ) -> None:
        spki = subject_public_key_info(certificate)
        if spki != key.subject_public_key_info():
            raise GatewayError(
                f"the private key does not belong to the certificate {describe(certificate)}",
                code="keys.mismatch",
            )
        self._key = key
        self.scheme = _PROFILE_SCHEME[key.profile]
        digest_name, key_oid, _ = SCHEMES[self.scheme]
        self.digest_name = digest_name
        der = certificate.public_bytes(serialization.Encoding.DER)
        tbs = asn1_x509.Certificate.load(der)["tbs_certificate"]
        digest_algorithm = _seq(_oid(DIGESTS[digest_name][0]) + _NULL)
        sid = _seq(tbs["issuer"].dump() + tbs["serial_number"].dump())
        certificates = der + b"".join(c.public_bytes(serialization.Encoding.DER) for c in chain)
        self._content_type = _seq(_oid(_CONTENT_TYPE) + _tlv(0x31, _oid(_ID_DATA)))
        self._time_head = _oid(_SIGNING_TIME)
        self._digest_head = _oid(_MESSAGE_DIGEST)
        self._info_head = _int1 + sid + digest_algorithm
        self._info_tail_algorithm = _seq(_oid(key_oid) + _NULL)
        self._data_head = (
            _int1 + _tlv(0x31, digest_algorithm) + _seq(_oid(_ID_DATA)) + _tlv(0xA0, certificates)
        )
        self._content_info_head = _oid(_SIGNED_DATA)

    def sign(self, content: bytes, *, signing_time: datetime | None = None) -> bytes:
        return self.sign_digest(digest(content, self.digest_name), signing_time=signing_time)

    def sign_digest(self, content_digest: bytes, *, signing_time: datetime | None = None) -> bytes:
        """The SignedData for content whose Streebog digest (of the key's size) is given."""
        when = signing_time.timestamp() if signing_time is not None else time.time()
        attributes = sorted(
            (
                self._content_type,
                _seq(self._time_head + _tlv(0x31, _time(when))),
                _seq(self._digest_head + _tlv(0x31, _tlv(0x04, content_digest))),
            )
        )  # DER orders a SET OF by the encodings
        body = b"".join(attributes)
        # The signature covers the attributes as a SET (tag 0x31), they travel as [0] (0xA0).
        value = self._key.sign_digest(digest(_tlv(0x31, body), self.digest_name))
        info = _seq(
            self._info_head + _tlv(0xA0, body) + self._info_tail_algorithm + _tlv(0x04, value)
        )
        signed_data = _seq(self._data_head + _tlv(0x31, info))
        return _seq(self._content_info_head + _tlv(0xA0, signed_data))


def check_value(
    certificate: x509.Certificate, scheme: str, signature: bytes, hashed: bytes
) -> None:
    """``SignatureError`` unless ``signature`` is ``certificate``'s GOST signature of the digest."""
    key = public_key(certificate)
    if _PROFILE_SCHEME[key.profile] != scheme:
        raise SignatureError(
            f"a {scheme} signature, but certificate {describe(certificate)} has a {key.profile} key"
        )
    if not key.verify_digest(signature, hashed):
        raise SignatureError(
            f"the signature does not match: it was not made by certificate "
            f"{describe(certificate)} over this content"
        )


@functools.lru_cache(maxsize=512)
def public_key(certificate: x509.Certificate) -> GostPublicKey:
    """The GOST key of a certificate (cached with its prepared verifying context)."""
    spki = subject_public_key_info(certificate)
    try:
        return GostPublicKey.from_spki(spki)
    except GostError:  # not GostUnavailableError: that one must reach the caller as it is
        raise SignatureError(
            f"the public key of certificate {describe(certificate)} is not a usable "
            "GOST R 34.10-2012 key"
        ) from None


@functools.lru_cache(maxsize=512)
def subject_public_key_info(certificate: x509.Certificate) -> bytes:
    """The DER SubjectPublicKeyInfo, which cryptography cannot give for a GOST key."""
    der = certificate.public_bytes(serialization.Encoding.DER)
    return bytes(
        asn1_x509.Certificate.load(der)["tbs_certificate"]["subject_public_key_info"].dump()
    )


def key_profile(certificate: x509.Certificate) -> str | None:
    """ "gost2012" / "gost2012-512" when the certificate holds a GOST 2012 key, else None."""
    try:
        oid = certificate.public_key_algorithm_oid.dotted_string
    except ValueError:
        return None
    return profile_of_key_oid(oid)


_NULL = b"\x05\x00"
_int1 = b"\x02\x01\x01"


def _time(when: float) -> bytes:
    moment = time.gmtime(when)
    if 1950 <= moment.tm_year < 2050:  # RFC 5652 §11.3: UTCTime in these years
        return _tlv(0x17, time.strftime("%y%m%d%H%M%SZ", moment).encode("ascii"))
    return _tlv(0x18, time.strftime("%Y%m%d%H%M%SZ", moment).encode("ascii"))


def _seq(body: bytes) -> bytes:
    return _tlv(0x30, body)


def _tlv(tag: int, body: bytes) -> bytes:
    size = len(body)
    if size < 0x80:
        return bytes((tag, size)) + body
    encoded = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(encoded))) + encoded + body


@functools.lru_cache(maxsize=64)
def _oid(dotted: str) -> bytes:
    arcs = [int(arc) for arc in dotted.split(".")]
    body = bytearray()
    for arc in [40 * arcs[0] + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body += bytes(reversed(chunk))
    return _tlv(0x06, bytes(body))
