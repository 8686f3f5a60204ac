"""Detached CMS SignedData with GOST R 34.10-2012 and Streebog (RFC 4490 / RFC 9337 profile).

Signing fills a template (:class:`~gateway.crypto.derwrite.SignedDataTemplate`): everything but
the signing time, the message digest and the signature value is encoded once per signer, so one
signature costs two Streebog digests, one engine signature and some byte joins. The layout is what
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
from gateway.crypto.derwrite import NULL, SignedDataTemplate, oid, seq
from gateway.crypto.gost._lib import GostError
from gateway.crypto.gost.keys import GostPrivateKey, GostPublicKey, profile_of_key_oid
from gateway.crypto.gost.streebog import DIGESTS, digest
from gateway.errors import GatewayError, SignatureError

# Scheme -> (digest, key algorithm OID, signature-with-digest OID). openssl writes the key
# algorithm as signatureAlgorithm; RFC 9337 allows both, so both are accepted.
SCHEMES = {
    "gost2012-256": ("streebog256", "1.2.643.7.1.1.1.1", "1.2.643.7.1.1.3.2"),
    "gost2012-512": ("streebog512", "1.2.643.7.1.1.1.2", "1.2.643.7.1.1.3.3"),
}
_PROFILE_SCHEME = {"gost2012": "gost2012-256", "gost2012-512": "gost2012-512"}
DIGEST_OIDS = {oid: name for name, (oid, _) in DIGESTS.items()}
SIGNATURE_OIDS = {
    dotted: scheme
    for scheme, (_, key_oid, sig_oid) in SCHEMES.items()
    for dotted in (key_oid, sig_oid)
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
        certificates = [der, *(c.public_bytes(serialization.Encoding.DER) for c in chain)]
        self._template = SignedDataTemplate(
            sid=seq(tbs["issuer"].dump() + tbs["serial_number"].dump()),
            digest_algorithm=seq(oid(DIGESTS[digest_name][0]) + NULL),
            signature_algorithm=seq(oid(key_oid) + NULL),
            certificates=certificates,
        )

    def sign(self, content: bytes, *, signing_time: datetime | None = None) -> bytes:
        return self.sign_digest(digest(content, self.digest_name), signing_time=signing_time)

    def sign_digest(self, content_digest: bytes, *, signing_time: datetime | None = None) -> bytes:
        """The SignedData for content whose Streebog digest (of the key's size) is given."""
        when = signing_time.timestamp() if signing_time is not None else time.time()
        attributes = self._template.signed_attributes(content_digest, when)
        to_sign = SignedDataTemplate.to_be_signed(attributes)
        value = self._key.sign_digest(digest(to_sign, self.digest_name))
        return self._template.assemble(attributes, value)


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
        dotted = certificate.public_key_algorithm_oid.dotted_string
    except ValueError:
        return None
    return profile_of_key_oid(dotted)
