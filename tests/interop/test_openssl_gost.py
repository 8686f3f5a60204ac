"""Interop of the GOST profile with `openssl cms -engine gost`, both ways, 256 and 512 bits.

Ours → theirs: the gateway's demo CA, key and signature on disk; `openssl cms -verify -CAfile`.
Theirs → ours: keys, a CA and signatures made entirely by the openssl command line with the
GOST engine; the gateway verifies them against that CA. Tampering is refused on both sides.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from gateway.crypto import (
    CmsSigner,
    TrustPolicy,
    TrustStore,
    demo,
    load_certificates,
    load_signing_key,
    verify_detached,
    write_certificate,
    write_private_key,
)
from gateway.crypto.gost import GostPrivateKey
from gateway.errors import SignatureError
from tests.gost_engine import require_gost

if TYPE_CHECKING:
    from conftest import OpenSsl

ALGORITHMS = {"gost2012": ("gost2012_256", "A"), "gost2012-512": ("gost2012_512", "A")}
DIGESTS = {"gost2012": "streebog256", "gost2012-512": "streebog512"}


@pytest.fixture(autouse=True)
def _engine(openssl: OpenSsl) -> None:
    require_gost()
    probe = openssl("engine", "gost", "-t")
    if probe.returncode != 0 or "available" not in probe.stdout:
        require_gost()  # the library loads but the command line has no engine: same rule
        pytest.fail(f"`openssl engine gost` fails: {probe.stdout} {probe.stderr}")


@pytest.fixture(params=demo.GOST_PROFILES)
def profile(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def content(tmp_path: Path) -> Path:
    path = tmp_path / "письмо.xml"
    path.write_bytes("<Письмо>\r\n\r".encode() + b"\x00" + bytes(range(256)) * 64)
    return path


def _verify_there(openssl: OpenSsl, ca: Path, signature: Path, content: Path) -> str:
    result = openssl(
        "cms", "-engine", "gost", "-verify", "-binary", "-inform", "DER", "-in", signature,
        "-content", content, "-CAfile", ca, "-out", "/dev/null",
    )  # fmt: skip
    return f"rc={result.returncode} {result.stdout} {result.stderr}"


def test_ours_verify_with_openssl(
    openssl: OpenSsl, profile: str, content: Path, tmp_path: Path
) -> None:
    ca, ca_key = demo.new_ca(f"Gateway GOST CA {profile}", profile=profile)
    cert, key = demo.issue_certificate(ca, ca_key, "ru-61", "Ростов", profile=profile)
    write_certificate(ca, ca_file := tmp_path / "ca.pem")
    signature = tmp_path / "sig.p7s"
    signature.write_bytes(CmsSigner(cert, key, chain=[ca]).sign(content.read_bytes()))
    outcome = _verify_there(openssl, ca_file, signature, content)
    assert "Verification successful" in outcome, outcome
    # openssl reads our key file and certificate too, and their chain.
    write_private_key(key, key_file := tmp_path / "key.pem")
    write_certificate(cert, cert_file := tmp_path / "cert.pem")
    assert openssl("pkey", "-engine", "gost", "-in", key_file, "-noout").returncode == 0
    chain = openssl("verify", "-engine", "gost", "-CAfile", ca_file, cert_file)
    assert chain.returncode == 0, chain.stdout + chain.stderr
    content.write_bytes(content.read_bytes() + b" ")
    assert "Verification successful" not in _verify_there(openssl, ca_file, signature, content)


@pytest.fixture
def openssl_pki(openssl: OpenSsl, profile: str, tmp_path: Path) -> tuple[Path, Path, Path]:
    """(ca.pem, signer.pem, signer.key) made by the openssl command line alone."""
    algorithm, paramset = ALGORITHMS[profile]
    ca, ca_key = tmp_path / "their-ca.pem", tmp_path / "their-ca.key"
    cert, key, csr = tmp_path / "them.pem", tmp_path / "them.key", tmp_path / "them.csr"
    ext = tmp_path / "leaf.ext"
    ext.write_text(
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,nonRepudiation\n"
    )
    steps = [
        ("req", "-engine", "gost", "-x509", "-newkey", algorithm, "-pkeyopt", f"paramset:{paramset}",
         "-nodes", "-keyout", ca_key, "-out", ca, "-subj", "/CN=Их удостоверяющий центр",
         "-utf8", "-days", "30", "-addext", "keyUsage=critical,keyCertSign,cRLSign"),
        ("req", "-engine", "gost", "-new", "-newkey", algorithm, "-pkeyopt", f"paramset:{paramset}",
         "-nodes", "-keyout", key, "-out", csr, "-subj", "/O=Правительство Республики Саха/CN=ru-14",
         "-utf8"),
        ("x509", "-engine", "gost", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key,
         "-CAcreateserial", "-days", "20", "-extfile", ext, "-out", cert),
    ]  # fmt: skip
    for step in steps:
        result = openssl(*step)
        assert result.returncode == 0, f"{step}: {result.stderr}"
    return ca, cert, key


@pytest.mark.parametrize(
    "variant", [[], ["-noattr"], ["-nocerts"], ["-keyid"], ["-outform", "PEM"]]
)
def test_theirs_verify_here(
    openssl: OpenSsl,
    openssl_pki: tuple[Path, Path, Path],
    profile: str,
    content: Path,
    tmp_path: Path,
    variant: list[str],
) -> None:
    ca_file, cert_file, key_file = openssl_pki
    signature = tmp_path / "their.p7s"
    outform = [] if "-outform" in variant else ["-outform", "DER"]
    result = openssl(
        "cms", "-engine", "gost", "-sign", "-binary", "-in", content, "-signer", cert_file,
        "-inkey", key_file, *outform, *variant, "-out", signature,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (ca,) = load_certificates(ca_file)
    (cert,) = load_certificates(cert_file)
    policy = TrustPolicy(TrustStore([ca]), {"ru-14": [cert]})
    with content.open("rb") as stream:
        verified = policy.verify_from("ru-14", stream, signature.read_bytes())
    assert verified.certificate == cert
    assert verified.digest_algorithm == DIGESTS[profile]
    assert (verified.signing_time is None) == ("-noattr" in variant)
    changed = content.read_bytes()[:-1] + b"?"
    with pytest.raises(SignatureError):
        verify_detached(signature.read_bytes(), changed, certificates=[cert])


def test_their_key_file_signs_here(
    openssl: OpenSsl, openssl_pki: tuple[Path, Path, Path], content: Path, tmp_path: Path
) -> None:
    ca_file, cert_file, key_file = openssl_pki
    assert isinstance(load_signing_key(key_file), GostPrivateKey)
    signature = tmp_path / "ours.p7s"
    signature.write_bytes(CmsSigner.from_files(cert_file, key_file).sign(content.read_bytes()))
    outcome = _verify_there(openssl, ca_file, signature, content)
    assert "Verification successful" in outcome, outcome


def test_a_tampered_signature_of_theirs_is_refused_here(
    openssl: OpenSsl, openssl_pki: tuple[Path, Path, Path], content: Path, tmp_path: Path
) -> None:
    _, cert_file, key_file = openssl_pki
    signature = tmp_path / "their.p7s"
    result = openssl(
        "cms", "-engine", "gost", "-sign", "-binary", "-in", content, "-signer", cert_file,
        "-inkey", key_file, "-outform", "DER", "-out", signature,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = bytearray(signature.read_bytes())
    data[-3] ^= 0x40  # inside the signature value, the last field
    with pytest.raises(SignatureError, match="does not match"):
        verify_detached(bytes(data), content.read_bytes())
