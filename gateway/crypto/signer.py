"""Making detached CMS signatures (RFC 5652 SignedData, DER) with our own key.

The profile is fixed: SHA-256, signed attributes (contentType, messageDigest, signingTime), the
signer's certificate and chain embedded; RSA (2048 bits or more) PKCS#1 v1.5 or RSASSA-PSS, or
ECDSA P-256/P-384. A GOST R 34.10-2012 key signs with Streebog of its size instead, through
:mod:`gateway.crypto.gost.cms`, behind the same interface.

ECDSA and RSA PKCS#1 v1.5 signatures fill a template
(:class:`~gateway.crypto.derwrite.SignedDataTemplate`) with the layout cryptography's
``PKCS7SignatureBuilder`` writes, and only the key operation goes to cryptography. DESIGN §6
names the builder; the template is taken because the builder costs 61 µs a signature against
40 µs (a 21 KB envelope, one core), which is what keeps sealing under its 2,500/s target, and
because it lets a file be signed while it is hashed in chunks. ``openssl cms -verify`` and our
verifier check its output in the tests. RSASSA-PSS keeps the builder (its parameters are not
worth a second encoder).
A signer must never be built from a key that does not belong to its certificate, and never
names key material in an error.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Sequence
from typing import BinaryIO

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs7

from gateway.crypto.derwrite import NULL, SignedDataTemplate, oid, seq
from gateway.crypto.gost import GostPrivateKey, digest_stream
from gateway.crypto.gost.cms import GostCmsSigner
from gateway.crypto.keys import AnyPrivateKey, PrivateKey, load_certificates, load_signing_key
from gateway.crypto.verifier import MIN_RSA_BITS
from gateway.errors import GatewayError

_OPTIONS = (
    pkcs7.PKCS7Options.DetachedSignature,
    pkcs7.PKCS7Options.Binary,
    pkcs7.PKCS7Options.NoCapabilities,
)
_CURVES = (ec.SECP256R1, ec.SECP384R1)


class CmsSigner:
    """Signs content with one certificate and its private key."""

    def __init__(
        self,
        certificate: x509.Certificate,
        private_key: AnyPrivateKey,
        *,
        chain: Sequence[x509.Certificate] = (),
        rsa_pss: bool = False,
    ) -> None:
        self._gost: GostCmsSigner | None = None
        if isinstance(private_key, GostPrivateKey):
            if rsa_pss:
                raise GatewayError(
                    "RSA-PSS needs an RSA key, the key is GOST", code="keys.mismatch"
                )
            self._gost = GostCmsSigner(certificate, private_key, chain)
        else:
            _check_key(certificate, private_key, rsa_pss=rsa_pss)
        self._certificate = certificate
        self._key: AnyPrivateKey = private_key
        self._chain = tuple(chain)
        self._padding: padding.PSS | padding.PKCS1v15 | None = None
        if rsa_pss:
            # Salt as long as the digest: what RFC 4056 recommends and every verifier expects.
            self._padding = padding.PSS(
                mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH
            )
        elif isinstance(private_key, rsa.RSAPrivateKey):
            self._padding = padding.PKCS1v15()
        self._template: SignedDataTemplate | None = None
        if self._gost is None and not rsa_pss:
            self._template = _template(certificate, private_key, self._chain)

    @classmethod
    def from_files(
        cls,
        certificate: str | os.PathLike[str],
        private_key: str | os.PathLike[str],
        *,
        rsa_pss: bool = False,
    ) -> CmsSigner:
        """A signer from a certificate file (signer first, then its chain) and a key file."""
        signer_cert, *chain = load_certificates(certificate)
        try:
            return cls(signer_cert, load_signing_key(private_key), chain=chain, rsa_pss=rsa_pss)
        except GatewayError as exc:
            raise GatewayError(
                f"{os.fspath(certificate)} and {os.fspath(private_key)}: {exc.message}",
                code=exc.code,
            ) from None

    @property
    def certificate(self) -> x509.Certificate:
        return self._certificate

    @property
    def gost(self) -> bool:
        """Whether this is the GOST profile: its manifests give every file a Streebog-256
        digest besides the SHA-256 one (DESIGN §4)."""
        return self._gost is not None

    def sign_stream(self, content: BinaryIO) -> bytes:
        """:meth:`sign` for a file: under the GOST profile it is hashed in chunks, never held
        whole; cryptography's builder needs RSA and EC content in memory."""
        if self._gost is not None:
            return self._gost.sign_digest(digest_stream(content, self._gost.digest_name))
        if self._template is not None:
            hashed = hashlib.sha256()
            while chunk := content.read(1 << 20):
                hashed.update(chunk)
            return self._sign_digest(hashed.digest())
        return self.sign(content.read())

    def sign(self, content: bytes) -> bytes:
        """A detached CMS SignedData over ``content``, DER-encoded."""
        if self._gost is not None:
            return self._gost.sign(content)
        if self._template is not None:
            return self._sign_digest(hashlib.sha256(content).digest())
        assert not isinstance(self._key, GostPrivateKey)
        builder = (
            pkcs7.PKCS7SignatureBuilder()
            .set_data(content)
            .add_signer(self._certificate, self._key, hashes.SHA256(), rsa_padding=self._padding)
        )
        # Certificates are added after set_data: set_data starts a new builder without them.
        for cert in self._chain:
            builder = builder.add_certificate(cert)
        return builder.sign(serialization.Encoding.DER, _OPTIONS)


    def _sign_digest(self, content_digest: bytes) -> bytes:
        assert self._template is not None
        attributes = self._template.signed_attributes(content_digest, time.time())
        to_sign = SignedDataTemplate.to_be_signed(attributes)
        key = self._key
        if isinstance(key, ec.EllipticCurvePrivateKey):
            value = key.sign(to_sign, ec.ECDSA(hashes.SHA256()))
        else:
            assert isinstance(key, rsa.RSAPrivateKey)
            value = key.sign(to_sign, padding.PKCS1v15(), hashes.SHA256())
        return self._template.assemble(attributes, value)


_SHA256 = "2.16.840.1.101.3.4.2.1"
_ECDSA_WITH_SHA256 = "1.2.840.10045.4.3.2"
_RSA_ENCRYPTION = "1.2.840.113549.1.1.1"


def _template(
    certificate: x509.Certificate, key: AnyPrivateKey, chain: Sequence[x509.Certificate]
) -> SignedDataTemplate:
    """The signer's SignedData template, as cryptography's builder lays it out: digest
    algorithm with NULL parameters; ecdsa-with-SHA256 (no parameters) or rsaEncryption (NULL)."""
    der = certificate.public_bytes(serialization.Encoding.DER)
    tbs = asn1_x509.Certificate.load(der)["tbs_certificate"]
    if isinstance(key, ec.EllipticCurvePrivateKey):
        algorithm = seq(oid(_ECDSA_WITH_SHA256))
    else:
        algorithm = seq(oid(_RSA_ENCRYPTION) + NULL)
    return SignedDataTemplate(
        sid=seq(tbs["issuer"].dump() + tbs["serial_number"].dump()),
        digest_algorithm=seq(oid(_SHA256) + NULL),
        signature_algorithm=algorithm,
        certificates=[der, *(c.public_bytes(serialization.Encoding.DER) for c in chain)],
    )


def _check_key(certificate: x509.Certificate, key: PrivateKey, *, rsa_pss: bool) -> None:
    subject = certificate.subject.rfc4514_string()
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise GatewayError(
            f"a {type(key).__name__} cannot sign; only RSA and EC keys are supported",
            code="keys.unsupported",
        )
    if isinstance(key, ec.EllipticCurvePrivateKey) and not isinstance(key.curve, _CURVES):
        raise GatewayError(
            f"the EC curve {key.curve.name} is not supported; use P-256 or P-384",
            code="keys.unsupported",
        )
    if isinstance(key, rsa.RSAPrivateKey) and key.key_size < MIN_RSA_BITS:
        # Every gateway's verifier refuses signatures by such a key; say so before signing.
        raise GatewayError(
            f"the RSA key has {key.key_size} bits; at least {MIN_RSA_BITS} are required",
            code="keys.too_weak",
        )
    if rsa_pss and not isinstance(key, rsa.RSAPrivateKey):
        raise GatewayError("RSA-PSS needs an RSA key, the key is EC", code="keys.mismatch")
    try:
        matches = certificate.public_key() == key.public_key()
    except (ValueError, UnsupportedAlgorithm):  # an unreadable certificate key cannot match
        matches = False
    if not matches:
        raise GatewayError(
            f"the private key does not belong to the certificate {subject} "
            f"(serial {certificate.serial_number:x})",
            code="keys.mismatch",
        )
