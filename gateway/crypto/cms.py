"""Reading a CMS SignedData (RFC 5652) from untrusted bytes into plain values.

Everything that touches the hostile encoding happens here, inside one guard that turns any parser
failure into a single ``SignatureError``; the verifier then works on frozen values. This module
decides nothing about validity, and it never re-encodes what was signed: the signed attributes
are handed on as the sender's original bytes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from asn1crypto import core as asn1_core
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from gateway.crypto import der
from gateway.crypto.der import DerError, Tlv
from gateway.errors import SignatureError

_T = TypeVar("_T")
# Limits on what one signature may carry (DESIGN §11): a signer sends its certificate and chain,
# a few certificates; a document has a few signers. Everything in the certificate set counts,
# X.509 or not, and the limits are checked before any of it is parsed.
MAX_CERTIFICATES = 32
MAX_SIGNERS = 8
_SIGNED_DATA = "1.2.840.113549.1.7.2"
_CONTENT_TYPE = "1.2.840.113549.1.9.3"
_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
_SIGNING_TIME = "1.2.840.113549.1.9.5"
_RSASSA_PSS = "1.2.840.113549.1.1.10"
_MGF1 = "1.2.840.113549.1.1.8"
_SHA1 = "1.3.14.3.2.26"


@dataclass(frozen=True)
class CertificateEntry:
    """A certificate with the fields a SignerInfo is matched against, parsed once per DER."""

    certificate: x509.Certificate
    issuer_der: bytes
    issuer: Any  # asn1crypto.x509.Name, for RFC 5280 name comparison when the bytes differ
    serial: int
    key_id: bytes | None


@dataclass(frozen=True)
class SignerId:
    """issuerAndSerialNumber or subjectKeyIdentifier of one SignerInfo."""

    issuer_der: bytes | None
    serial: int | None
    key_id: bytes | None

    @property
    def description(self) -> str:
        """For error messages only: computed when needed, it costs more than the whole match."""
        if self.key_id is not None:
            return f"key identifier {self.key_id.hex()}"
        try:
            issuer = _printable(asn1_x509.Name.load(self.issuer_der).human_friendly)
        except Exception:  # a hostile name must not turn one error into another
            issuer = "(unreadable name)"
        return f"issuer {issuer}, serial {self.serial:x}"

    def matches(self, entry: CertificateEntry) -> bool:
        if self.key_id is not None:
            return entry.key_id == self.key_id
        if entry.serial != self.serial:
            return False
        if entry.issuer_der == self.issuer_der:
            return True
        # Some encoders re-encode the issuer name (another string type, other spacing); RFC 5280
        # name comparison still matches them. Hostile names must not break the comparison.
        try:
            return bool(entry.issuer == asn1_x509.Name.load(self.issuer_der))
        except Exception:
            return False


@dataclass(frozen=True)
class PssParameters:
    hash_algorithm: str  # dotted OIDs, with the RFC 4055 defaults (SHA-1, MGF1) filled in
    mgf: str
    mgf_hash_algorithm: str
    salt_length: int
    trailer_field: int


@dataclass(frozen=True)
class SignerInfo:
    sid: SignerId
    digest_algorithm: str  # dotted OID
    signature_algorithm: str  # dotted OID
    pss: PssParameters | None
    signature: bytes
    signed_attributes: bytes | None  # the SET OF Attribute DER the signature covers
    content_types: tuple[str, ...]  # dotted OIDs, from every contentType attribute value
    message_digests: tuple[bytes, ...]
    signing_times: tuple[datetime, ...]


@dataclass(frozen=True)
class SignedData:
    content_type: str  # dotted OID of encapContentInfo.eContentType
    has_content: bool
    signers: tuple[SignerInfo, ...]
    certificates: tuple[CertificateEntry, ...]


def parse_signed_data(data: bytes) -> SignedData:
    """The SignedData in a DER ContentInfo; ``SignatureError`` for anything else."""
    return _guard("the signature is not a well-formed CMS SignedData", _parse, data)


@functools.lru_cache(maxsize=512)
def certificate_entry(certificate: x509.Certificate) -> CertificateEntry:
    """The entry for a caller-supplied certificate (cached: the same certificates come again)."""
    encoded = certificate.public_bytes(serialization.Encoding.DER)
    return _guard("a supplied certificate cannot be read", _entry, encoded)


def describe(certificate: x509.Certificate) -> str:
    """How errors name a certificate: its subject and serial number in hex."""
    return f"{certificate.subject.rfc4514_string()} (serial {certificate.serial_number:x})"


def _guard(what: str, parse: Callable[[bytes], _T], data: bytes) -> _T:
    try:
        return parse(data)
    except SignatureError:
        raise
    except Exception as exc:
        # The DER reader raises DerError; asn1crypto and cryptography (certificates, times) raise
        # ValueError, TypeError, KeyError, IndexError or OverflowError depending on where the
        # bytes go wrong. The caller must only ever see one error, with a reason.
        raise SignatureError(f"{what}: {_reason(exc)}") from None


def _parse(data: bytes) -> SignedData:
    # ContentInfo ::= SEQUENCE { contentType OID, content [0] EXPLICIT ANY }
    kind, content = _exactly(2, der.read_whole(data), 0x30, "ContentInfo")
    if der.oid(kind) != _SIGNED_DATA:
        raise SignatureError(f"the signature is a CMS {der.oid(kind)}, not a SignedData")
    (signed_data,) = _exactly(1, content, 0xA0, "[0] content")
    fields = iter(_fields(signed_data, 0x30, "SignedData"))
    der.integer(_take(fields, "version"))  # not needed to verify
    der.expect(_take(fields, "digestAlgorithms"), 0x31, "digestAlgorithms")
    encap = _fields(_take(fields, "encapContentInfo"), 0x30, "encapContentInfo")
    if not encap:
        raise DerError("the encapContentInfo has no content type")
    field = _take(fields, "signerInfos")
    certificates: list[CertificateEntry] = []
    if field.tag == 0xA0:
        # Attribute and other certificate formats are skipped; only X.509 ones can sign.
        entries = _at_most(MAX_CERTIFICATES, field, "entries in its certificate set")
        certificates = [_certificate(c.encoded) for c in entries if c.tag == 0x30]
        field = _take(fields, "signerInfos")
    if field.tag == 0xA1:  # CRLs: revocation, where configured, is checked elsewhere
        field = _take(fields, "signerInfos")
    der.expect(field, 0x31, "signerInfos")
    signers = [_signer(signer) for signer in _at_most(MAX_SIGNERS, field, "SignerInfos")]
    if next(fields, None) is not None:
        raise DerError("fields after the signerInfos")
    return SignedData(
        content_type=der.oid(encap[0]),
        has_content=len(encap) > 1,
        signers=tuple(signers),
        certificates=tuple(certificates),
    )


def _signer(element: Tlv) -> SignerInfo:
    fields = iter(_fields(element, 0x30, "SignerInfo"))
    der.integer(_take(fields, "version"))
    sid = _signer_id(_take(fields, "sid"))
    digest_algorithm, _ = _algorithm(_take(fields, "digestAlgorithm"), "digestAlgorithm")
    field = _take(fields, "signatureAlgorithm")
    signed: bytes | None = None
    values: dict[str, list[Tlv]] = {_CONTENT_TYPE: [], _MESSAGE_DIGEST: [], _SIGNING_TIME: []}
    if field.tag == 0xA0:
        # The signature covers the attributes encoded as a SET, not with their [0] tag; the
        # contents are the sender's original bytes, so nothing is re-encoded here.
        contents = field.contents
        signed = b"\x31" + _length(len(contents)) + contents
        for attribute in field.children():
            kind, value_set = _exactly(2, attribute, 0x30, "Attribute")
            found = _fields(value_set, 0x31, "attribute values")
            known = values.get(der.oid(kind))
            if known is not None:
                if not found:
                    raise SignatureError(f"the signed attribute {der.oid(kind)} has no value")
                known.extend(found)
        field = _take(fields, "signatureAlgorithm")
    signature_algorithm, parameters = _algorithm(field, "signatureAlgorithm")
    signature = der.expect(_take(fields, "signature"), 0x04, "signature OCTET STRING")
    return SignerInfo(
        sid=sid,
        digest_algorithm=digest_algorithm,
        signature_algorithm=signature_algorithm,
        pss=_pss(parameters) if signature_algorithm == _RSASSA_PSS else None,
        signature=signature.contents,
        signed_attributes=signed,
        content_types=tuple(der.oid(value) for value in values[_CONTENT_TYPE]),
        message_digests=tuple(
            der.expect(value, 0x04, "messageDigest OCTET STRING").contents
            for value in values[_MESSAGE_DIGEST]
        ),
        signing_times=tuple(_time(value) for value in values[_SIGNING_TIME]),
    )


def _signer_id(element: Tlv) -> SignerId:
    if element.tag == 0x80:  # [0] IMPLICIT SubjectKeyIdentifier
        return SignerId(None, None, element.contents)
    issuer, serial = _exactly(2, element, 0x30, "issuerAndSerialNumber")
    der.expect(issuer, 0x30, "issuer Name")
    return SignerId(issuer.encoded, der.integer(serial), None)


def _pss(parameters: list[Tlv]) -> PssParameters:
    # RSASSA-PSS-params: every field is explicitly tagged [0]..[3] and has a default (RFC 4055).
    if len(parameters) != 1:
        raise SignatureError("the RSASSA-PSS signature algorithm has no parameters")
    fields: dict[int, Tlv] = {}
    for field in _fields(parameters[0], 0x30, "RSASSA-PSS-params"):
        (fields[field.tag],) = _exactly(1, field, field.tag, "RSASSA-PSS parameter")
    hash_algorithm, mgf, mgf_hash = _SHA1, _MGF1, _SHA1
    if 0xA0 in fields:
        hash_algorithm, _ = _algorithm(fields[0xA0], "hashAlgorithm")
    if 0xA1 in fields:
        mgf, mgf_parameters = _algorithm(fields[0xA1], "maskGenAlgorithm")
        if mgf_parameters:
            mgf_hash, _ = _algorithm(mgf_parameters[0], "MGF1 hash")
    return PssParameters(
        hash_algorithm=hash_algorithm,
        mgf=mgf,
        mgf_hash_algorithm=mgf_hash,
        salt_length=der.integer(fields[0xA2]) if 0xA2 in fields else 20,
        trailer_field=der.integer(fields[0xA3]) if 0xA3 in fields else 1,
    )


def _fields(element: Tlv, tag: int, what: str) -> list[Tlv]:
    return der.expect(element, tag, what).children()


def _at_most(limit: int, element: Tlv, what: str) -> list[Tlv]:
    """The children of ``element``, counted as they are read: the walk stops past ``limit``."""
    found: list[Tlv] = []
    for child in element.iter_children():
        if len(found) == limit:
            raise SignatureError(
                f"the signature carries more than {limit} {what}; at most {limit} are accepted",
                code="signature.too_large",
            )
        found.append(child)
    return found


def _exactly(count: int, element: Tlv, tag: int, what: str) -> list[Tlv]:
    fields = _fields(element, tag, what)
    if len(fields) != count:
        raise DerError(f"offset {element.start}: {what} has {len(fields)} fields, not {count}")
    return fields


def _take(fields: Iterator[Tlv], what: str) -> Tlv:
    element = next(fields, None)
    if element is None:
        raise DerError(f"the {what} field is missing")
    return element


def _algorithm(element: Tlv, what: str) -> tuple[str, list[Tlv]]:
    """AlgorithmIdentifier: the OID, and the parameters if there are any."""
    fields = _fields(element, 0x30, what)
    if not fields:
        raise DerError(f"offset {element.start}: the {what} names no algorithm")
    return der.oid(fields[0]), fields[1:]


def _certificate(encoded: bytes) -> CertificateEntry:
    return _guard("the signature carries a certificate that cannot be read", _entry, encoded)


@functools.lru_cache(maxsize=512)
def _entry(encoded: bytes) -> CertificateEntry:
    # Cached on the DER: the same few signer certificates arrive with every message, and parsing
    # a certificate twice (asn1crypto for matching, cryptography for keys) is the costly part.
    parsed = asn1_x509.Certificate.load(encoded, strict=True)
    tbs = parsed["tbs_certificate"]
    issuer = tbs["issuer"]
    key_id = parsed.key_identifier
    certificate = x509.load_der_x509_certificate(encoded)
    # cryptography parses some fields only when they are first read; read them here, inside the
    # guard, so that a malformed one cannot fail later in code that trusts the entry.
    _ = (certificate.subject, certificate.issuer, certificate.serial_number)
    _ = (certificate.not_valid_before_utc, certificate.not_valid_after_utc)
    return CertificateEntry(
        certificate=certificate,
        issuer_der=issuer.dump(),
        issuer=issuer,
        serial=int(tbs["serial_number"].native),
        key_id=bytes(key_id) if key_id is not None else None,
    )


def _time(element: Tlv) -> datetime:
    strict = _der_time(element)
    if strict is not None:
        return strict
    if element.tag == 0x17:
        value = asn1_core.UTCTime.load(element.encoded).native
    elif element.tag == 0x18:
        value = asn1_core.GeneralizedTime.load(element.encoded).native
    else:
        raise SignatureError("the signingTime attribute is not a UTCTime or GeneralizedTime")
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise SignatureError(f"the signingTime attribute is not a usable time: {value!r:.60}")
    return value.astimezone(UTC)


def _der_time(element: Tlv) -> datetime | None:
    """A signing time in the form DER prescribes (``YYMMDDHHMMSSZ``, ``YYYYMMDDHHMMSSZ``), read
    directly; None for any other form, which asn1crypto then reads (or refuses)."""
    text = element.contents
    if element.tag == 0x17 and len(text) == 13 and text[12] == 0x5A and text[:12].isdigit():
        year = int(text[:2])
        year += 1900 if year >= 50 else 2000  # RFC 5280: UTCTime years 1950-2049
        digits = text[2:12]
    elif element.tag == 0x18 and len(text) == 15 and text[14] == 0x5A and text[:14].isdigit():
        year, digits = int(text[:4]), text[4:14]
    else:
        return None
    try:
        return datetime(
            year,
            int(digits[0:2]),
            int(digits[2:4]),
            int(digits[4:6]),
            int(digits[6:8]),
            int(digits[8:10]),
            tzinfo=UTC,
        )
    except ValueError:
        return None  # a month 13 and the like: asn1crypto words the refusal


def _length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    encoded = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(encoded)]) + encoded


def _printable(text: str, limit: int = 200) -> str:
    # Names come from the sender; keep them on one line and short in errors and logs.
    cleaned = "".join(ch if ch.isprintable() else "?" for ch in text)
    return cleaned if len(cleaned) <= limit else cleaned[:limit] + "…"


def _reason(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return _printable(text, 160) or type(exc).__name__
