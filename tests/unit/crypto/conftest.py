"""A demo PKI per key profile, built once per session; every party has a key of its own."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from gateway.crypto import CmsSigner, PrivateKey, demo


@dataclass(frozen=True)
class Party:
    """A certificate, its key and the profile it was made for."""

    cert: x509.Certificate
    key: PrivateKey
    profile: str

    @property
    def signer(self) -> CmsSigner:
        return CmsSigner(self.cert, self.key, rsa_pss=self.profile == "rsa-pss")

    def sign(self, content: bytes) -> bytes:
        return self.signer.sign(content)


class KeyRegistry:
    """Every key a test PKI has issued, so that no two parties ever share a private key.

    Keys are generated fresh for each party (an RSA key costs ~65 ms; the session makes about
    ten); a test that gives a key on purpose (``issue(..., key=...)``) is not checked.
    """

    def __init__(self) -> None:
        self._seen: set[bytes] = set()

    def record(self, party: Party) -> Party:
        public = party.cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        assert public not in self._seen, f"{party.cert.subject} reuses another party's key"
        self._seen.add(public)
        return party


@dataclass(frozen=True)
class Pki:
    ca: Party
    issue: Callable[..., Party]  # issue(participant_id, **issue_certificate keywords) -> Party


@pytest.fixture(scope="session")
def key_registry() -> KeyRegistry:
    return KeyRegistry()


@pytest.fixture(scope="session")
def now() -> datetime:
    return datetime.now(UTC)


def _pki(registry: KeyRegistry, profile: str, name: str, now: datetime) -> Pki:
    ca_cert, ca_key = demo.new_ca(name, profile=profile, not_before=now - timedelta(days=800))
    ca = registry.record(Party(ca_cert, ca_key, profile))

    def issue(participant_id: str, **kwargs: object) -> Party:
        chosen = "key" in kwargs
        cert, key = demo.issue_certificate(
            ca_cert,
            ca_key,
            participant_id,
            f"Org of {participant_id}",
            profile=profile,
            **kwargs,  # type: ignore[arg-type]
        )
        party = Party(cert, key, profile)
        return party if chosen else registry.record(party)

    return Pki(ca, issue)


@pytest.fixture(scope="session", params=demo.X509_PROFILES)
def any_pki(request: pytest.FixtureRequest, key_registry: KeyRegistry, now: datetime) -> Pki:
    """One PKI per profile: tests using it run once for each."""
    return _pki(key_registry, request.param, f"Demo CA {request.param}", now)


@pytest.fixture(scope="session")
def pki(key_registry: KeyRegistry, now: datetime) -> Pki:
    """The ECDSA P-256 PKI most tests use (fast)."""
    return _pki(key_registry, "ecdsa", "Demo CA", now)


@pytest.fixture(scope="session")
def other_pki(key_registry: KeyRegistry, now: datetime) -> Pki:
    """An unrelated CA, not a trust anchor of anybody."""
    return _pki(key_registry, "ecdsa", "Other CA", now)


@pytest.fixture(scope="session")
def alice(pki: Pki) -> Party:
    return pki.issue("alice")


@pytest.fixture(scope="session")
def bob(pki: Pki) -> Party:
    return pki.issue("bob")


@pytest.fixture
def content() -> bytes:
    # CR and LF bytes in the content: a signer that canonicalises line ends would break them.
    return b"<letter>\r\n\x00\xff" + bytes(range(256)) * 80


def build_signature(party: Party, content: bytes, *options: pkcs7.PKCS7Options) -> bytes:
    """A signature with other builder options than CmsSigner's (no attributes, no certs, ...)."""
    builder = pkcs7.PKCS7SignatureBuilder().set_data(content)
    builder = builder.add_signer(party.cert, party.key, hashes.SHA256())
    return builder.sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary, *options])


@pytest.fixture(scope="session")
def sign_with() -> Callable[..., bytes]:
    """build_signature(party, content, *options) for tests that need a non-standard signature."""
    return build_signature
