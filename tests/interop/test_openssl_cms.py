"""Interop with the `openssl cms` command line, both directions, for every key profile.

openssl verifies with its default purpose (S/MIME signing): the demo certificates carry no
extended key usage and the key usages digitalSignature + nonRepudiation, which that purpose
accepts, so `-purpose any` is not needed and not used.
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from asn1crypto import cms
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gateway.crypto import (
    CmsSigner,
    TrustPolicy,
    TrustStore,
    demo,
    load_signature,
    verify_detached,
)
from gateway.errors import SignatureError
from tests.unit.crypto.helpers import SCHEME

if TYPE_CHECKING:
    from conftest import OpenSsl, Site

_VARIANTS = {
    "plain": [],
    "noattr": ["-noattr"],
    "keyid": ["-keyid"],
    "nocerts": ["-nocerts"],
    "noattr-keyid-nocerts": ["-noattr", "-keyid", "-nocerts"],
    "sha384": ["-md", "sha384"],
    "sha512": ["-md", "sha512"],
    "pem": ["-outform", "PEM"],
}


def _openssl_verify(openssl: OpenSsl, site: Site, signature: Path, content: Path) -> str:
    result = openssl(
        "cms", "-verify", "-binary", "-inform", "DER", "-in", signature, "-content", content,
        "-CAfile", site.ca_file, "-out", "/dev/null",
    )  # fmt: skip
    return f"rc={result.returncode} {result.stdout} {result.stderr}"


def _openssl_sign(
    openssl: OpenSsl, site: Site, content: Path, out: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    # The padding mode comes first: openssl refuses PSS parameters given before it.
    args = ["-keyopt", "rsa_padding_mode:pss"] if site.profile == "rsa-pss" else []
    args += list(extra) if "-outform" in extra else ["-outform", "DER", *extra]
    return openssl(
        "cms", "-sign", "-binary", "-in", content, "-signer", site.cert_file,
        "-inkey", site.key_file, "-out", out, *args,
    )  # fmt: skip


def test_openssl_verifies_our_signatures(
    openssl: OpenSsl, site: Site, content_file: Path, tmp_path: Path
) -> None:
    signature = tmp_path / "letter.xml.p7s"
    signature.write_bytes(site.signer.sign(content_file.read_bytes()))

    outcome = _openssl_verify(openssl, site, signature, content_file)
    assert outcome.startswith("rc=0 ") and "Verification successful" in outcome, outcome

    # The control: the same command refuses once one content byte changed.
    changed = tmp_path / "changed.xml"
    data = bytearray(content_file.read_bytes())
    data[40] ^= 0x01
    changed.write_bytes(bytes(data))
    outcome = _openssl_verify(openssl, site, signature, changed)
    assert not outcome.startswith("rc=0 ") and "Verification successful" not in outcome


@pytest.mark.parametrize("variant", list(_VARIANTS))
def test_we_verify_openssl_signatures(
    openssl: OpenSsl, site: Site, content_file: Path, tmp_path: Path, variant: str
) -> None:
    out = tmp_path / "letter.xml.p7s"
    result = _openssl_sign(openssl, site, content_file, out, *_VARIANTS[variant])
    assert result.returncode == 0, result.stderr
    signature = out.read_bytes()
    registered = [site.cert] if "nocerts" in variant else []

    with content_file.open("rb") as stream:
        (verified,) = verify_detached(signature, stream, certificates=registered)
    assert verified.certificate == site.cert
    assert verified.signature_algorithm == SCHEME[site.profile]
    assert verified.digest_algorithm == {"sha384": "sha384", "sha512": "sha512"}.get(
        variant, "sha256"
    )
    assert (verified.signing_time is None) == ("noattr" in variant)
    assert verified.certificates == (() if "nocerts" in variant else (site.cert,))
    at = verified.signing_time or datetime.now(UTC)
    chain = TrustStore([site.ca]).validate(site.cert, at=at, intermediates=verified.certificates)
    assert chain == (site.cert, site.ca)

    policy = TrustPolicy(TrustStore([site.ca]), {"region": [site.cert]})
    assert policy.verify_from("region", content_file.read_bytes(), signature).certificate == (
        site.cert
    )

    changed = bytearray(content_file.read_bytes())
    changed[-3] ^= 0x01
    with pytest.raises(SignatureError) as error:
        verify_detached(signature, bytes(changed), certificates=registered)
    expected = "does not match" if "noattr" in variant else "content was changed"
    assert expected in error.value.message


def test_pem_and_bare_base64_from_openssl(
    openssl: OpenSsl, site: Site, content_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "letter.xml.pem"
    result = _openssl_sign(openssl, site, content_file, out, "-outform", "PEM")
    assert result.returncode == 0, result.stderr
    pem = out.read_bytes()
    assert pem.startswith(b"-----BEGIN CMS-----")
    bare = b"".join(line + b"\r\n" for line in pem.splitlines() if not line.startswith(b"-----"))
    assert load_signature(bare) == load_signature(pem)
    for text in (pem, bare):
        (verified,) = verify_detached(text, content_file.read_bytes())
        assert verified.certificate == site.cert


@pytest.mark.parametrize("site", ["rsa-pss"], indirect=True)
def test_openssl_pss_with_other_parameters(
    openssl: OpenSsl, site: Site, content_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "s.p7s"
    extra = ("-keyopt", "rsa_pss_saltlen:digest", "-keyopt", "rsa_mgf1_md:sha512")
    result = _openssl_sign(openssl, site, content_file, out, *extra)
    assert result.returncode == 0, result.stderr
    params = cms.ContentInfo.load(out.read_bytes())["content"]["signer_infos"][0][
        "signature_algorithm"
    ]["parameters"]
    assert params["salt_length"].native == 32
    assert params["mask_gen_algorithm"]["parameters"]["algorithm"].native == "sha512"
    (verified,) = verify_detached(out.read_bytes(), content_file.read_bytes())
    assert verified.signature_algorithm == "rsassa_pss"


def test_openssl_sha1_signature_is_refused(
    openssl: OpenSsl, site: Site, content_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "sha1.p7s"
    result = _openssl_sign(openssl, site, content_file, out, "-md", "sha1")
    if result.returncode != 0:
        pytest.skip(f"this openssl refuses to make SHA-1 signatures: {result.stderr.strip()}")
    with pytest.raises(SignatureError, match="sha1 is too weak"):
        verify_detached(out.read_bytes(), content_file.read_bytes())


def test_openssl_attached_signature_is_refused(
    openssl: OpenSsl, site: Site, content_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "attached.p7s"
    result = _openssl_sign(openssl, site, content_file, out, "-nodetach")
    assert result.returncode == 0, result.stderr
    with pytest.raises(SignatureError, match="attached"):
        verify_detached(out.read_bytes(), content_file.read_bytes())


def test_openssl_signature_by_an_untrusted_ca(
    openssl: OpenSsl, site: Site, content_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "s.p7s"
    assert _openssl_sign(openssl, site, content_file, out).returncode == 0
    stranger_ca, _ = demo.new_ca("Some Other CA")
    policy = TrustPolicy(TrustStore([stranger_ca]), {"region": [site.cert]})
    with pytest.raises(SignatureError) as error:
        policy.verify_from("region", content_file.read_bytes(), out.read_bytes())
    assert error.value.code == "signature.untrusted"
    assert "does not chain to a trust anchor" in error.value.message


@pytest.mark.parametrize("site", ["ecdsa"], indirect=True)
def test_our_signature_over_a_big_file_verifies_with_openssl(
    openssl: OpenSsl, site: Site, tmp_path: Path
) -> None:
    big = tmp_path / "scan.pdf"
    big.write_bytes(bytes(range(256)) * (3 * 4096 + 1))  # 3 MiB and a bit
    signature = tmp_path / "scan.pdf.p7s"
    signature.write_bytes(site.signer.sign(big.read_bytes()))
    outcome = _openssl_verify(openssl, site, signature, big)
    assert "Verification successful" in outcome, outcome
    with big.open("rb") as stream:
        (verified,) = verify_detached(signature.read_bytes(), stream)
    assert verified.certificate == site.cert


def _leaf_with_purpose(site: Site, purpose: x509.ObjectIdentifier) -> CmsSigner:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "region-eku")]))
        .issuer_name(site.ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([purpose]), critical=False)
        .sign(site.ca_key, hashes.SHA256())
    )
    return CmsSigner(cert, key)


@pytest.mark.parametrize("site", ["ecdsa"], indirect=True)
@pytest.mark.parametrize(
    ("purpose", "openssl_accepts", "we_accept"),
    [
        (ExtendedKeyUsageOID.EMAIL_PROTECTION, True, True),
        (ExtendedKeyUsageOID.SERVER_AUTH, False, False),
        (ExtendedKeyUsageOID.CODE_SIGNING, False, False),
        # The one difference, on purpose: RFC 5280 lets anyExtendedKeyUsage stand for every
        # purpose; openssl 3.0 does not count it as S/MIME signing.
        (ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE, None, True),
    ],
)
def test_extended_key_usage_is_judged_as_openssl_does(
    openssl: OpenSsl,
    site: Site,
    content_file: Path,
    tmp_path: Path,
    purpose: x509.ObjectIdentifier,
    openssl_accepts: bool | None,
    we_accept: bool,
) -> None:
    signer = _leaf_with_purpose(site, purpose)
    signature = tmp_path / "letter.xml.p7s"
    signature.write_bytes(signer.sign(content_file.read_bytes()))
    outcome = _openssl_verify(openssl, site, signature, content_file)
    if openssl_accepts is not None:
        assert ("Verification successful" in outcome) == openssl_accepts, outcome
        if not openssl_accepts:
            assert "unsuitable certificate purpose" in outcome, outcome

    policy = TrustPolicy(TrustStore([site.ca]), {"region": [signer.certificate]})
    content = content_file.read_bytes()
    if we_accept:
        verified = policy.verify_from("region", content, signature.read_bytes())
        assert verified.certificate == signer.certificate
    else:
        with pytest.raises(SignatureError) as error:
            policy.verify_from("region", content, signature.read_bytes())
        assert error.value.code == "signature.untrusted"
        assert "extended key usage that does not allow signing documents" in error.value.message
