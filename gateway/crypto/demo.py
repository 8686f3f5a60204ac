"""A demo PKI: a CA and participant certificates for `gateway keys new` and for tests.

The certificates follow the profile the verifier and ``openssl cms`` expect of real ones (CA
flags, key usages, key identifiers), so what works with the demo PKI works with a real one.
Nothing here is meant to protect real correspondence: keys are generated unencrypted and kept
wherever the caller puts them. The GOST profiles ("gost2012": 256-bit keys and Streebog-256,
"gost2012-512") need the GOST engine; their certificates are encoded by
:mod:`gateway.crypto.gost.certs`, also when only one of the two keys (CA, subject) is GOST.
"""

from __future__ import annotations

import difflib
from datetime import UTC, datetime, timedelta
from typing import Literal, overload

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from gateway.crypto.gost import GostPrivateKey
from gateway.crypto.gost import certs as gost_certs
from gateway.crypto.keys import AnyPrivateKey, PrivateKey
from gateway.errors import GatewayError

X509_PROFILES = ("rsa", "rsa-pss", "ecdsa", "ecdsa-p384")  # keys cryptography makes
GOST_PROFILES = ("gost2012", "gost2012-512")
PROFILES = X509_PROFILES + GOST_PROFILES
_X509Profile = Literal["rsa", "rsa-pss", "ecdsa", "ecdsa-p384"]

# Certificates start a little in the past so that a peer whose clock runs behind ours accepts
# a certificate issued a moment ago.
_BACKDATE = timedelta(minutes=5)


def generate_key(profile: str) -> PrivateKey:
    """A new key for ``profile``: RSA-2048 for "rsa" and "rsa-pss", P-256 or P-384 for ECDSA.

    GOST keys come from :func:`generate_signing_key`."""
    _check_profile(profile)
    if profile in GOST_PROFILES:
        raise GatewayError(
            f"generate_key makes RSA and EC keys; use generate_signing_key for {profile!r}",
            code="keys.unsupported",
        )
    if profile in ("rsa", "rsa-pss"):
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    curve = ec.SECP384R1() if profile == "ecdsa-p384" else ec.SECP256R1()
    return ec.generate_private_key(curve)


def generate_signing_key(profile: str) -> AnyPrivateKey:
    """A new key for any profile, GOST ones included (256-bit or 512-bit GOST R 34.10-2012)."""
    _check_profile(profile)
    if profile in GOST_PROFILES:
        return GostPrivateKey.generate(profile)
    return generate_key(profile)


@overload
def new_ca(
    common_name: str = ...,
    *,
    profile: _X509Profile = ...,
    not_before: datetime | None = ...,
    days: int = ...,
) -> tuple[x509.Certificate, PrivateKey]: ...


@overload
def new_ca(
    common_name: str = ...,
    *,
    profile: str,
    not_before: datetime | None = ...,
    days: int = ...,
) -> tuple[x509.Certificate, AnyPrivateKey]: ...


def new_ca(
    common_name: str = "Interregional Gateway Demo CA",
    *,
    profile: str = "ecdsa",
    not_before: datetime | None = None,
    days: int = 3650,
) -> tuple[x509.Certificate, AnyPrivateKey]:
    """A self-signed CA certificate and its key."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    start = not_before or datetime.now(UTC) - _BACKDATE
    if profile in GOST_PROFILES:
        gost_key = GostPrivateKey.generate(profile)
        cert = gost_certs.build(
            subject=name,
            issuer=name,
            spki=gost_key.subject_public_key_info(),
            serial=x509.random_serial_number(),
            not_before=start,
            not_after=start + timedelta(days=days),
            ca=True,
            issuer_key=gost_key,
            authority_key_id=None,
        )
        return cert, gost_key
    key = generate_key(profile)
    public = key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
    )
    return _sign(builder, key, pss=profile == "rsa-pss"), key


def issue_certificate(
    ca_cert: x509.Certificate,
    ca_key: AnyPrivateKey,
    participant_id: str,
    organization: str,
    *,
    profile: str = "ecdsa",
    not_before: datetime | None = None,
    days: int = 730,
    key: AnyPrivateKey | None = None,
) -> tuple[x509.Certificate, AnyPrivateKey]:
    """An end-entity signing certificate for ``participant_id`` issued by the CA, and its key.

    ``profile`` chooses the new key (unless ``key`` is given); the certificate is signed the way
    the CA's own key signs (PSS only for an RSA key of a CA whose own certificate uses PSS).
    """
    _check_profile(profile)
    subject_key = key if key is not None else generate_signing_key(profile)
    start = not_before or datetime.now(UTC) - _BACKDATE
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, participant_id),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
        ]
    )
    if isinstance(subject_key, GostPrivateKey) or isinstance(ca_key, GostPrivateKey):
        cert = gost_certs.build(
            subject=subject,
            issuer=ca_cert.subject,
            spki=gost_certs.spki_of(subject_key),
            serial=x509.random_serial_number(),
            not_before=start,
            not_after=start + timedelta(days=days),
            ca=False,
            issuer_key=ca_key,
            authority_key_id=_authority_key_id(ca_cert, ca_key).key_identifier,
        )
        return cert, subject_key
    public = subject_key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(digital_signature=True, content_commitment=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(_authority_key_id(ca_cert, ca_key), critical=False)
    )
    pss = ca_cert.signature_algorithm_oid == x509.SignatureAlgorithmOID.RSASSA_PSS
    return _sign(builder, ca_key, pss=pss), subject_key


def _sign(builder: x509.CertificateBuilder, key: PrivateKey, *, pss: bool) -> x509.Certificate:
    if pss:
        scheme = padding.PSS(
            mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH
        )
        return builder.sign(key, hashes.SHA256(), rsa_padding=scheme)
    return builder.sign(key, hashes.SHA256())


def _authority_key_id(
    ca_cert: x509.Certificate, ca_key: AnyPrivateKey
) -> x509.AuthorityKeyIdentifier:
    # The CA's own SKI when it has one: a real CA may derive it other than by RFC 5280 method 1.
    try:
        ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:
        if isinstance(ca_key, GostPrivateKey):
            identifier = gost_certs.key_identifier(ca_key.subject_public_key_info())
            return x509.AuthorityKeyIdentifier(identifier, None, None)
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _usage(
    *,
    digital_signature: bool = False,
    content_commitment: bool = False,
    key_cert_sign: bool = False,
    crl_sign: bool = False,
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=content_commitment,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _check_profile(profile: str) -> None:
    if profile not in PROFILES:
        close = difflib.get_close_matches(profile, PROFILES, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise GatewayError(
            f"unknown key profile {profile!r} (known: {', '.join(PROFILES)}){hint}",
            code="keys.unknown_profile",
        )
