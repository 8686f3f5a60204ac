"""Verifying detached CMS signatures: is this the signature of that content by that certificate?

Our own verifier over asn1crypto and cryptography (cryptography has no public CMS verification).
It answers only the cryptographic question; whether the certificate is trusted and whose it is
belongs to :mod:`gateway.crypto.trust`. Whatever the input, the only exception that leaves this
module is ``SignatureError`` with a reason a person can act on; content given as a file is read
in chunks and never whole.

It accepts a signature of at most 256 KiB carrying at most 32 certificates and 8 signers (the
limits are checked before anything is parsed), over plain data (id-data) only, with SHA-2, by an
RSA key of at least 2048 bits or an EC key on P-256, P-384 or P-521; or with Streebog by a GOST
R 34.10-2012 key of the same size, checked by the GOST engine (:mod:`gateway.crypto.gost.cms`;
without the engine such a signature is refused with code ``gost.unavailable``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO, Protocol

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from gateway.crypto.cms import SignerInfo, certificate_entry, describe, parse_signed_data
from gateway.crypto.gost import Streebog, streebog
from gateway.crypto.gost import cms as gost_cms
from gateway.errors import SignatureError

_CHUNK = 1 << 20
# A signature is a few KiB (a SignerInfo or two and their chains); anything this big is refused
# before it is parsed. Text (PEM, base64) may be up to twice as long as the DER it holds.
MAX_SIGNATURE_SIZE = 256 * 1024
MIN_RSA_BITS = 2048
_CURVES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
_ID_DATA = "1.2.840.113549.1.7.1"
# Digest OID -> (name, hash); the only ones accepted.
_DIGESTS: dict[str, tuple[str, type[hashes.SHA256 | hashes.SHA384 | hashes.SHA512]]] = {
    "2.16.840.1.101.3.4.2.1": ("sha256", hashes.SHA256),
    "2.16.840.1.101.3.4.2.2": ("sha384", hashes.SHA384),
    "2.16.840.1.101.3.4.2.3": ("sha512", hashes.SHA512),
}
# Digests that are known but refused, named in the reason.
_REFUSED_DIGESTS = {
    "1.2.840.113549.2.2": "md2 is too weak",
    "1.2.840.113549.2.5": "md5 is too weak",
    "1.3.14.3.2.26": "sha1 is too weak",
    "2.16.840.1.101.3.4.2.4": "sha224 is not accepted",
    "1.2.643.2.2.9": "GOST R 34.11-94 is withdrawn (use GOST R 34.11-2012)",
}
# Signature algorithm OID -> (scheme, the digest it names, if it names one).
_SIGNATURE_ALGORITHMS: dict[str, tuple[str, str | None]] = {
    "1.2.840.113549.1.1.1": ("rsassa_pkcs1v15", None),  # rsaEncryption, what OpenSSL writes
    "1.2.840.113549.1.1.11": ("rsassa_pkcs1v15", "sha256"),
    "1.2.840.113549.1.1.12": ("rsassa_pkcs1v15", "sha384"),
    "1.2.840.113549.1.1.13": ("rsassa_pkcs1v15", "sha512"),
    "1.2.840.113549.1.1.10": ("rsassa_pss", None),
    "1.2.840.10045.4.3.2": ("ecdsa", "sha256"),
    "1.2.840.10045.4.3.3": ("ecdsa", "sha384"),
    "1.2.840.10045.4.3.4": ("ecdsa", "sha512"),
    "1.2.840.10045.2.1": ("ecdsa", None),  # id-ecPublicKey, written by some older signers
}
_MGF1 = "1.2.840.113549.1.1.8"
_PEM = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.DOTALL)
_PEM_LABELS = frozenset({b"PKCS7", b"CMS"})


@dataclass(frozen=True)
class VerifiedSignature:
    """One SignerInfo whose signature matches the content; nothing is said yet about trust."""

    certificate: x509.Certificate
    signing_time: datetime | None  # the signingTime attribute, UTC
    digest_algorithm: str  # "sha256", "sha384", "sha512", "streebog256", "streebog512"
    signature_algorithm: str  # "rsassa_pkcs1v15", "rsassa_pss", "ecdsa", "gost2012-256", ...
    certificates: tuple[x509.Certificate, ...]  # every certificate the SignedData carries


def load_signature(data: bytes) -> bytes:
    """The DER of a signature given as DER, PEM (PKCS7 or CMS) or bare base64 text."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise SignatureError(f"a signature is bytes, not {type(data).__name__}")
    if data[:1] == b"\x30":
        if len(data) > MAX_SIGNATURE_SIZE:
            raise _too_large(f"the signature is {len(data)} bytes")
        return bytes(data)
    if len(data) > 2 * MAX_SIGNATURE_SIZE:  # checked again once decoded
        raise _too_large(f"the signature text is {len(data)} bytes")
    data = bytes(data)
    text = data.removeprefix(b"\xef\xbb\xbf").strip()
    if not text:
        raise SignatureError("the signature is empty")
    if text.startswith(b"-----BEGIN "):
        match = _PEM.search(text)
        if match is None:
            raise SignatureError("the signature is PEM text without a matching END line")
        if match[1] not in _PEM_LABELS:
            label = match[1].decode("ascii")
            raise SignatureError(f"the PEM block is a {label}, not a PKCS7 or CMS signature")
        text = match[2]
    try:
        der = base64.b64decode(b"".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("the signature is neither DER nor PEM nor base64 text") from None
    if der[:1] != b"\x30":
        raise SignatureError("the signature text does not decode to a DER structure")
    if len(der) > MAX_SIGNATURE_SIZE:
        raise _too_large(f"the signature text holds {len(der)} bytes of DER")
    return der


def key_problem(key: PublicKeyTypes) -> str | None:
    """Why ``key`` is too weak to be trusted with a signature, or None if it is not."""
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        return f"has an RSA key of {key.key_size} bits, fewer than the {MIN_RSA_BITS} required"
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name not in _CURVES:
        return (
            f"has an EC key on the curve {key.curve.name}, which is not accepted "
            f"(only {', '.join(_CURVES.values())})"
        )
    return None


def verify_detached(
    signature: bytes,
    content: bytes | BinaryIO,
    *,
    certificates: Sequence[x509.Certificate] = (),
) -> list[VerifiedSignature]:
    """Verify every SignerInfo of a detached signature over ``content``.

    ``signature`` may be DER, PEM or base64 (see :func:`load_signature`). Signer certificates
    are looked up among those in the signature and ``certificates`` (for signatures made
    without embedded certificates). Returns one entry per SignerInfo, in order.
    """
    signed = parse_signed_data(load_signature(signature))
    if signed.has_content:
        raise SignatureError(
            "the signature carries the signed content inside it (attached); "
            "a detached signature is expected"
        )
    if signed.content_type != _ID_DATA:
        # Whatever else a SignedData can wrap (receipts, time-stamp tokens, ...) is a statement
        # about that structure, not a signature of the file it is presented with.
        raise SignatureError(
            f"the signature is over content of type {signed.content_type}, not over plain "
            f"data ({_ID_DATA}), so it is not a signature of a file"
        )
    if not signed.signers:
        raise SignatureError("the signature has no SignerInfo, so nobody signed it")
    schemes = [_scheme(signer) for signer in signed.signers]
    digests = _digest(content, {signer.digest_algorithm for signer in signed.signers})
    candidates = tuple(certificate_entry(cert) for cert in certificates) + signed.certificates
    carried = tuple(entry.certificate for entry in signed.certificates)
    results = []
    for signer, (scheme, pad) in zip(signed.signers, schemes, strict=True):
        # The caller's certificates come first: they are the registered ones, and a forged
        # certificate with the same issuer and serial in the signature must not shadow them.
        entry = next((entry for entry in candidates if signer.sid.matches(entry)), None)
        if entry is None:
            raise SignatureError(
                f"the signer's certificate ({signer.sid.description}) is neither in the "
                "signature nor among the known certificates"
            )
        digest = digests[signer.digest_algorithm]
        signing_time = _check_attributes(signer, signed.content_type, digest)
        if scheme in gost_cms.SCHEMES:
            digest_name = gost_cms.SCHEMES[scheme][0]
            # Without signed attributes (`-noattr`) the signature is over the content digest.
            covered_digest = (
                digest
                if signer.signed_attributes is None
                else streebog.digest(signer.signed_attributes, digest_name)
            )
            gost_cms.check_value(entry.certificate, scheme, signer.signature, covered_digest)
            results.append(
                VerifiedSignature(entry.certificate, signing_time, digest_name, scheme, carried)
            )
            continue
        digest_name, hash_class = _DIGESTS[signer.digest_algorithm]
        hash_algorithm = hash_class()
        algorithm: hashes.HashAlgorithm | Prehashed = hash_algorithm
        covered = signer.signed_attributes
        if covered is None:
            # `openssl cms -noattr`: the signature is over the content digest itself.
            covered, algorithm = digest, Prehashed(hash_algorithm)
        _check_value(entry.certificate, scheme, pad, signer.signature, covered, algorithm)
        results.append(
            VerifiedSignature(
                certificate=entry.certificate,
                signing_time=signing_time,
                digest_algorithm=digest_name,
                signature_algorithm=scheme,
                certificates=carried,
            )
        )
    return results


def _scheme(signer: SignerInfo) -> tuple[str, padding.AsymmetricPadding | None]:
    """The verification scheme of a SignerInfo, once its algorithms are known to be acceptable."""
    if signer.digest_algorithm in _REFUSED_DIGESTS:
        raise SignatureError(f"the digest algorithm {_REFUSED_DIGESTS[signer.digest_algorithm]}")
    gost_scheme = gost_cms.SIGNATURE_OIDS.get(signer.signature_algorithm)
    gost_digest = gost_cms.DIGEST_OIDS.get(signer.digest_algorithm)
    if gost_scheme is not None or gost_digest is not None:
        if gost_scheme is None or gost_cms.SCHEMES[gost_scheme][0] != gost_digest:
            raise SignatureError(
                f"the signature algorithm {signer.signature_algorithm} does not go with the "
                f"digest algorithm {signer.digest_algorithm} (GOST R 34.10-2012 signs with "
                "Streebog of its own size)"
            )
        return gost_scheme, None
    if signer.digest_algorithm not in _DIGESTS:
        raise SignatureError(
            f"the digest algorithm {signer.digest_algorithm} is not accepted "
            "(only SHA-256, SHA-384, SHA-512, and Streebog with GOST keys)"
        )
    digest = _DIGESTS[signer.digest_algorithm][0]
    known = _SIGNATURE_ALGORITHMS.get(signer.signature_algorithm)
    if known is None:
        raise SignatureError(
            f"the signature algorithm {signer.signature_algorithm} is not accepted "
            "(RSA PKCS#1 v1.5, RSASSA-PSS or ECDSA with SHA-2)"
        )
    scheme, named_digest = known
    if named_digest is not None and named_digest != digest:
        raise SignatureError(
            f"the signature algorithm {signer.signature_algorithm} ({scheme} with "
            f"{named_digest}) contradicts the digest algorithm {digest}"
        )
    if scheme == "rsassa_pkcs1v15":
        return scheme, padding.PKCS1v15()
    if scheme == "ecdsa":
        return scheme, None
    pss = signer.pss
    if pss is None:  # the parser always fills it for RSASSA-PSS
        raise SignatureError("the RSASSA-PSS signature has no parameters")
    if pss.hash_algorithm != signer.digest_algorithm:
        raise SignatureError(
            f"the RSASSA-PSS hash {pss.hash_algorithm} differs from the digest algorithm {digest}"
        )
    if pss.mgf != _MGF1 or pss.mgf_hash_algorithm not in _DIGESTS:
        raise SignatureError(
            f"the RSASSA-PSS mask generation {pss.mgf} with {pss.mgf_hash_algorithm} "
            "is not accepted (MGF1 with SHA-2)"
        )
    if pss.trailer_field != 1 or not 0 <= pss.salt_length <= 1024:
        raise SignatureError("the RSASSA-PSS parameters (salt length, trailer) are not usable")
    mgf = padding.MGF1(_DIGESTS[pss.mgf_hash_algorithm][1]())
    return scheme, padding.PSS(mgf=mgf, salt_length=pss.salt_length)


def _digest(content: bytes | BinaryIO, algorithms: set[str]) -> dict[str, bytes]:
    if isinstance(content, bytes | bytearray | memoryview):
        # One call per algorithm: an envelope is verified per message, and a Streebog context
        # made and freed through ctypes costs more than hashing a few KiB.
        data = bytes(content)
        return {oid: _one_shot(oid, data) for oid in algorithms}
    hashers = {oid: _hasher(oid) for oid in algorithms}
    # One pass over the stream for every digest algorithm the signers use.
    while chunk := content.read(_CHUNK):
        for hasher in hashers.values():
            hasher.update(chunk)
    return {name: hasher.digest() for name, hasher in hashers.items()}


class _Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...
    def digest(self) -> bytes: ...


def _one_shot(oid: str, data: bytes) -> bytes:
    gost = gost_cms.DIGEST_OIDS.get(oid)
    if gost is not None:
        return streebog.digest(data, gost)
    return hashlib.new(_DIGESTS[oid][0], data).digest()


def _hasher(oid: str) -> _Hasher:
    gost = gost_cms.DIGEST_OIDS.get(oid)
    return Streebog(gost) if gost is not None else hashlib.new(_DIGESTS[oid][0])


def _check_attributes(signer: SignerInfo, content_type: str, digest: bytes) -> datetime | None:
    if signer.signed_attributes is None:
        return None  # plain data (the only content type accepted): nothing else to bind
    if len(signer.content_types) != 1:
        raise SignatureError(
            "the signed attributes must hold exactly one contentType value, "
            f"they hold {len(signer.content_types)}"
        )
    if signer.content_types[0] != content_type:
        raise SignatureError(
            f"the signed contentType {signer.content_types[0]} differs from the content "
            f"type {content_type}"
        )
    if len(signer.message_digests) != 1:
        raise SignatureError(
            "the signed attributes must hold exactly one messageDigest value, "
            f"they hold {len(signer.message_digests)}"
        )
    if not hmac.compare_digest(signer.message_digests[0], digest):
        raise SignatureError(
            "the content was changed after it was signed: its digest does not match the "
            "signature's messageDigest"
        )
    if len(signer.signing_times) > 1:
        raise SignatureError("the signed attributes hold more than one signingTime")
    return signer.signing_times[0] if signer.signing_times else None


def _check_value(
    certificate: x509.Certificate,
    scheme: str,
    pad: padding.AsymmetricPadding | None,
    value: bytes,
    data: bytes,
    algorithm: hashes.HashAlgorithm | Prehashed,
) -> None:
    try:
        key = certificate.public_key()
    except (ValueError, UnsupportedAlgorithm):
        raise SignatureError(
            f"the public key of certificate {describe(certificate)} cannot be used"
        ) from None
    weak = key_problem(key)
    if weak is not None:
        raise SignatureError(f"certificate {describe(certificate)} {weak}")
    try:
        if scheme == "ecdsa":
            if not isinstance(key, ec.EllipticCurvePublicKey):
                raise SignatureError(
                    f"an ECDSA signature, but certificate {describe(certificate)} has no EC key"
                )
            key.verify(value, data, ec.ECDSA(algorithm))
        else:
            if not isinstance(key, rsa.RSAPublicKey) or pad is None:
                raise SignatureError(
                    f"an RSA signature, but certificate {describe(certificate)} has no RSA key"
                )
            key.verify(value, data, pad, algorithm)
    except InvalidSignature:
        raise SignatureError(
            f"the signature does not match: it was not made by certificate "
            f"{describe(certificate)} over this content"
        ) from None
    except (ValueError, TypeError, OverflowError) as exc:
        raise SignatureError(
            f"the signature cannot be checked with certificate {describe(certificate)}: {exc}"
        ) from None


def _too_large(what: str) -> SignatureError:
    return SignatureError(
        f"{what}; a signature of at most {MAX_SIGNATURE_SIZE} bytes "
        f"({MAX_SIGNATURE_SIZE // 1024} KiB of DER) is accepted",
        code="signature.too_large",
    )
