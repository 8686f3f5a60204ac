"""The real `openssl` command line and a demo PKI on disk, one per key profile."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509

from gateway.crypto import (
    CmsSigner,
    PrivateKey,
    demo,
    write_certificate,
    write_private_key,
)

OPENSSL = shutil.which("openssl")


@dataclass(frozen=True)
class Site:
    """One profile's CA and a participant, as files the openssl command line can use."""

    profile: str
    ca: x509.Certificate
    ca_key: PrivateKey
    cert: x509.Certificate
    key: PrivateKey
    ca_file: Path
    cert_file: Path
    key_file: Path

    @property
    def signer(self) -> CmsSigner:
        return CmsSigner(self.cert, self.key, rsa_pss=self.profile == "rsa-pss")


OpenSsl = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="session")
def openssl() -> OpenSsl:
    """openssl(*args) runs the command line and returns the completed process (never raises)."""
    if OPENSSL is None:
        # Locally a missing tool skips; in CI the interop proof (DESIGN §6) must not vanish.
        why = "the openssl command line is not installed"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(
                f"{why}; CI must run the interop tests: install openssl (apt-get install openssl)"
            )
        pytest.skip(why)
    executable = OPENSSL

    def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [executable, *map(str, args)], capture_output=True, text=True, timeout=30, check=False
        )

    return run


@pytest.fixture(scope="session", params=demo.X509_PROFILES)
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Site:
    profile: str = request.param
    directory = tmp_path_factory.mktemp(profile)
    ca, ca_key = demo.new_ca(f"Interop CA {profile}", profile=profile)
    cert, key = demo.issue_certificate(ca, ca_key, f"region-{profile}", "Interop", profile=profile)
    site = Site(
        profile,
        ca,
        ca_key,
        cert,
        key,
        directory / "ca.pem",
        directory / "cert.pem",
        directory / "key.pem",
    )
    write_certificate(ca, site.ca_file)
    write_certificate(cert, site.cert_file)
    write_private_key(key, site.key_file)
    return site


@pytest.fixture
def content_file(tmp_path: Path) -> Path:
    # Lone CR, CRLF and NUL bytes: `-binary` must keep openssl from canonicalising them.
    path = tmp_path / "letter.xml"
    path.write_bytes(b"<letter>\r\n\rline\n\x00" + bytes(range(256)) * 80 + b"</letter>")
    return path
