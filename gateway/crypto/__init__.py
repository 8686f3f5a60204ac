"""Signatures and trust (DESIGN §6): detached CMS signing and verification, chains, key files.

Import from here; the submodules are one concept each: key files (keys), signing (signer),
element boundaries of hostile DER (der), reading a SignedData (cms), verification (verifier),
chains and participants (trust), the demo PKI (demo), the officials' own signatures
(officials), and the GOST R 34.10-2012 profile through the OpenSSL GOST engine (gost/).
"""

from gateway.crypto.chains import TrustStore
from gateway.crypto.demo import (
    GOST_PROFILES,
    PROFILES,
    generate_key,
    generate_signing_key,
    issue_certificate,
    new_ca,
)
from gateway.crypto.keys import (
    AnyPrivateKey,
    PrivateKey,
    load_certificates,
    load_private_key,
    load_signing_key,
    write_certificate,
    write_private_key,
)
from gateway.crypto.signer import CmsSigner
from gateway.crypto.trust import ParticipantCertificate, TrustPolicy
from gateway.crypto.verifier import VerifiedSignature, load_signature, verify_detached

__all__ = [
    "GOST_PROFILES",
    "PROFILES",
    "AnyPrivateKey",
    "CmsSigner",
    "ParticipantCertificate",
    "PrivateKey",
    "TrustPolicy",
    "TrustStore",
    "VerifiedSignature",
    "generate_key",
    "generate_signing_key",
    "issue_certificate",
    "load_certificates",
    "load_private_key",
    "load_signature",
    "load_signing_key",
    "new_ca",
    "verify_detached",
    "write_certificate",
    "write_private_key",
]
