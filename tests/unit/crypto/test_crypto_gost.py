"""The GOST R 34.10-2012 profile: keys, certificates, CMS signatures and trust, 256 and 512 bits."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import cms as asn1_cms
from cryptography import x509

from gateway.crypto import (
    CmsSigner,
    TrustPolicy,
    TrustStore,
    demo,
    gost,
    load_private_key,
    load_signing_key,
    verify_detached,
    write_certificate,
    write_private_key,
)
from gateway.crypto.gost import GostPrivateKey, GostUnavailableError, _lib
from gateway.crypto.gost.streebog import digest
from gateway.crypto.officials import verify_official
from gateway.errors import GatewayError, SignatureError, TrustError
from tests.gost_engine import require_gost


@pytest.fixture(autouse=True)
def _engine() -> None:
    require_gost()


@dataclass(frozen=True)
class GostPki:
    profile: str
    ca: x509.Certificate
    ca_key: GostPrivateKey
    cert: x509.Certificate
    key: GostPrivateKey

    @property
    def signer(self) -> CmsSigner:
        return CmsSigner(self.cert, self.key, chain=[self.ca])

    def policy(self, participant: str = "ru-61") -> TrustPolicy:
        return TrustPolicy(TrustStore([self.ca]), {participant: [self.cert]})


def _pki(profile: str, name: str = "GOST CA") -> GostPki:
    start = datetime.now(UTC) - timedelta(days=800)
    ca, ca_key = demo.new_ca(f"{name} {profile}", profile=profile, not_before=start)
    cert, key = demo.issue_certificate(ca, ca_key, "ru-61", "Ростов", profile=profile)
    assert isinstance(ca_key, GostPrivateKey) and isinstance(key, GostPrivateKey)
    return GostPki(profile, ca, ca_key, cert, key)


@pytest.fixture(scope="module", params=demo.GOST_PROFILES)
def pki(request: pytest.FixtureRequest) -> GostPki:
    require_gost()
    return _pki(request.param)


CONTENT = "<Письмо>\r\n\x00".encode() + bytes(range(256)) * 40
DIGESTS = {"gost2012": "streebog256", "gost2012-512": "streebog512"}
SCHEMES = {"gost2012": "gost2012-256", "gost2012-512": "gost2012-512"}


def test_sign_and_verify_round_trip(pki: GostPki) -> None:
    signature = pki.signer.sign(CONTENT)
    (verified,) = verify_detached(signature, CONTENT)
    assert verified.certificate == pki.cert
    assert verified.digest_algorithm == DIGESTS[pki.profile]
    assert verified.signature_algorithm == SCHEMES[pki.profile]
    assert verified.signing_time is not None
    assert abs(verified.signing_time - datetime.now(UTC)) < timedelta(minutes=1)
    trusted = pki.policy().verify_from("ru-61", io.BytesIO(CONTENT), signature)
    assert trusted.certificate == pki.cert
    assert pki.signer.gost


def test_the_signature_is_the_layout_openssl_writes(pki: GostPki) -> None:
    info = asn1_cms.ContentInfo.load(pki.signer.sign(CONTENT))
    signed = info["content"]
    (signer,) = signed["signer_infos"]
    key_oid = {"gost2012": "1.2.643.7.1.1.1.1", "gost2012-512": "1.2.643.7.1.1.1.2"}
    assert signer["signature_algorithm"]["algorithm"].dotted == key_oid[pki.profile]
    assert signed["encap_content_info"]["content"].native is None  # detached
    names = [a["type"].native for a in signer["signed_attrs"]]
    assert names == ["content_type", "signing_time", "message_digest"]
    (md,) = [a for a in signer["signed_attrs"] if a["type"].native == "message_digest"]
    assert md["values"][0].native == digest(CONTENT, DIGESTS[pki.profile])
    assert len(signer["signature"].native) == (64 if pki.profile == "gost2012" else 128)
    assert len(signed["certificates"]) == 2


@pytest.mark.parametrize("where", ["content", "signature value", "signed attributes"])
def test_tampering_is_rejected(pki: GostPki, where: str) -> None:
    signature = bytearray(pki.signer.sign(CONTENT))
    content = bytearray(CONTENT)
    if where == "content":
        content[100] ^= 1
    elif where == "signature value":
        signature[-5] ^= 1
    else:
        # the UTCTime seconds digit inside the signed attributes
        at = signature.rindex(b"\x17\x0d") + 2 + 11  # after the certificates
        signature[at] = ord("0") if signature[at] != ord("0") else ord("1")
    with pytest.raises(SignatureError) as error:
        verify_detached(bytes(signature), bytes(content))
    assert error.value.code == "signature.invalid"


def test_a_signature_by_another_ca_is_untrusted(pki: GostPki) -> None:
    stranger = _pki(pki.profile, "Stranger CA")
    signature = stranger.signer.sign(CONTENT)
    policy = TrustPolicy(TrustStore([pki.ca]), {"ru-61": [stranger.cert]})
    with pytest.raises(TrustError, match="does not chain to a trust anchor"):
        policy.verify_from("ru-61", CONTENT, signature)


def test_a_forged_issuer_signature_is_untrusted(pki: GostPki) -> None:
    # Same names and key identifiers as the real CA, another key: the link must fail on the
    # GOST signature itself.
    start = datetime.now(UTC) - timedelta(days=800)
    fake_ca, fake_key = demo.new_ca(f"GOST CA {pki.profile}", profile=pki.profile, not_before=start)
    cert, key = demo.issue_certificate(fake_ca, fake_key, "ru-61", "Ростов", profile=pki.profile)
    signature = CmsSigner(cert, key).sign(CONTENT)
    policy = TrustPolicy(TrustStore([pki.ca]), {"ru-61": [cert]})
    with pytest.raises(TrustError, match=r"does not verify with its issuer's key|another issuer"):
        policy.verify_from("ru-61", CONTENT, signature)


def test_the_signer_must_be_the_named_participant(pki: GostPki) -> None:
    policy = TrustPolicy(TrustStore([pki.ca]), {"ru-61": [pki.cert], "ru-14": []})
    with pytest.raises(TrustError) as error:
        policy.verify_from("ru-14", CONTENT, pki.signer.sign(CONTENT))
    assert error.value.code == "signature.sender_mismatch"


def test_validity_window_at_signing_time(pki: GostPki) -> None:
    old = datetime.now(UTC) - timedelta(days=400)
    cert, key = demo.issue_certificate(
        pki.ca, pki.ca_key, "ru-61", "Ростов", profile=pki.profile, not_before=old, days=30
    )
    assert isinstance(key, GostPrivateKey)
    signer = CmsSigner(cert, key)
    policy = TrustPolicy(TrustStore([pki.ca]), {"ru-61": [cert]})
    with pytest.raises(TrustError, match="expired"):
        policy.verify_from("ru-61", CONTENT, signer.sign(CONTENT))
    # Signed while the certificate was valid (and the CA too): accepted at that signing time.
    from gateway.crypto.gost.cms import GostCmsSigner

    back_then = GostCmsSigner(cert, key).sign(CONTENT, signing_time=old + timedelta(days=20))
    assert policy.verify_from("ru-61", CONTENT, back_then).certificate == cert
    with pytest.raises(TrustError) as error:
        policy.verify_from(
            "ru-61", CONTENT, back_then, oldest=datetime.now(UTC) - timedelta(days=30)
        )
    assert error.value.code == "signature.too_old"


def test_key_usage_of_the_leaf_is_enforced(pki: GostPki) -> None:
    # A CA certificate (keyCertSign only) may not sign documents.
    signer = CmsSigner(pki.ca, pki.ca_key)
    policy = TrustPolicy(TrustStore([pki.ca]), {"ru-61": [pki.ca]})
    with pytest.raises(TrustError, match="digitalSignature"):
        policy.verify_from("ru-61", CONTENT, signer.sign(CONTENT))


def test_a_key_of_another_certificate_is_refused(pki: GostPki) -> None:
    other = GostPrivateKey.generate(pki.profile)
    with pytest.raises(GatewayError) as error:
        CmsSigner(pki.cert, other)
    assert error.value.code == "keys.mismatch"


def test_mismatched_digest_and_key_size_is_refused() -> None:
    small, large = _pki("gost2012"), _pki("gost2012-512")
    # A 256-bit signature presented with the 512-bit certificate's identity cannot verify.
    mixed = TrustPolicy(TrustStore([large.ca]), {"ru-61": [large.cert]})
    with pytest.raises(SignatureError):
        mixed.verify_from("ru-61", CONTENT, small.signer.sign(CONTENT))


def test_key_files_round_trip(pki: GostPki, tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    write_private_key(pki.key, path)
    assert path.stat().st_mode & 0o077 == 0
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----\n")
    loaded = load_signing_key(path)
    assert isinstance(loaded, GostPrivateKey)
    assert loaded.subject_public_key_info() == pki.key.subject_public_key_info()
    assert "PRIVATE" not in repr(loaded) and repr(loaded) == f"<GostPrivateKey {pki.profile}>"
    with pytest.raises(GatewayError, match="holds a GOST key") as error:
        load_private_key(path)
    assert error.value.code == "keys.unreadable"
    cert_path = tmp_path / "cert.pem"
    write_certificate(pki.cert, cert_path)
    signer = CmsSigner.from_files(cert_path, path)
    assert verify_detached(signer.sign(b"x"), b"x")[0].certificate == pki.cert


def test_broken_key_file_names_no_bytes(tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    body = "MEYCAQAwHwYIKoUDBwEBAQEwEwYHKoUDAgIjAQYIKoUDBwEBAgIEIAAAAA=="
    path.write_text(f"-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n")
    with pytest.raises(GatewayError) as error:
        load_signing_key(path)
    assert error.value.code == "keys.unreadable"
    assert body[:20] not in error.value.message


def test_an_ecdsa_ca_can_certify_a_gost_key() -> None:
    # What a mixed network (localnet's ECDSA demo CA, a GOST participant) relies on.
    ca, ca_key = demo.new_ca("Mixed CA", profile="ecdsa")
    cert, key = demo.issue_certificate(ca, ca_key, "ru-16", "Татарстан", profile="gost2012")
    signature = CmsSigner(cert, key).sign(CONTENT)
    policy = TrustPolicy(TrustStore([ca]), {"ru-16": [cert]})
    assert policy.verify_from("ru-16", CONTENT, signature).signature_algorithm == "gost2012-256"


def test_officials_signature_check(pki: GostPki, tmp_path: Path) -> None:
    document, signature = tmp_path / "письмо.pdf", tmp_path / "письмо.pdf.p7s"
    document.write_bytes(CONTENT)
    signature.write_bytes(pki.signer.sign(CONTENT))
    result = verify_official(document, signature, [pki.ca])
    assert result.valid and result.reason is None
    assert result.signer == "O=Ростов,CN=ru-61"
    assert result.algorithm == f"{SCHEMES[pki.profile]} with {DIGESTS[pki.profile]}"
    document.write_bytes(CONTENT + b"!")
    changed = verify_official(document, signature, [pki.ca])
    assert not changed.valid and changed.code == "signature.invalid"
    assert "changed after it was signed" in (changed.reason or "")
    missing = verify_official(tmp_path / "nope.pdf", signature, [pki.ca])
    assert not missing.valid and missing.code == "file.unreadable"


def test_without_the_engine_a_clear_error_names_the_package(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    signature = _pki("gost2012").signer.sign(CONTENT)
    # A fresh load that finds no engine of that id, and no gost.so in the folders it searches.
    monkeypatch.setattr(_lib, "_loaded", None)
    monkeypatch.setattr(_lib, "_problem", None)
    monkeypatch.setattr(_lib, "ENGINE_ID", b"gost-not-installed")
    monkeypatch.setattr(_lib, "_candidates", lambda partial: [tmp_path / "gost.so"])
    monkeypatch.setattr(gost.streebog, "_mds", {})
    why = gost.problem()
    assert why is not None and "libengine-gost-openssl" in why
    assert not gost.available()
    with pytest.raises(GostUnavailableError) as error:
        verify_detached(signature, CONTENT)
    assert error.value.code == "gost.unavailable"
    assert "apt-get install libengine-gost-openssl" in error.value.message
    with pytest.raises(GostUnavailableError):
        GostPrivateKey.generate("gost2012")


def _probe(env: dict[str, str]) -> str:
    script = (
        "from gateway.crypto.gost import _lib, streebog\n"
        "print(_lib.problem() or _lib.lib().engine_path)\n"
        "print(streebog.digest(b'abc').hex())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={**os.environ, **env},
    )
    return result.stdout


def test_a_wrong_openssl_engines_falls_back_to_the_standard_folders() -> None:
    # OPENSSL_ENGINES replaces libcrypto's own folder: a stale value must not hide the engine.
    path, digest_hex = _probe({"OPENSSL_ENGINES": "/nonexistent/engines"}).split()
    assert path.endswith("/gost.so")
    assert digest_hex == digest(b"abc").hex()


def test_openssl_engines_names_the_folder_used(tmp_path: Path) -> None:
    installed = Path(_lib.lib().engine_path)
    shutil.copy(installed, tmp_path / "gost.so")
    path, _ = _probe({"OPENSSL_ENGINES": str(tmp_path)}).split()
    assert path == str(tmp_path / "gost.so")


def test_a_messages_signature_files_are_checked_against_what_they_sign(
    pki: GostPki, tmp_path: Path
) -> None:
    from gateway.crypto.officials import verify_message_files
    from gateway.model import FileRef, FileRole

    def ref(file_id: str, role: FileRole, signature_of: str | None = None) -> FileRef:
        return FileRef(file_id, role, f"{file_id}.bin", "application/octet-stream", 1, "0" * 64,
                       signature_of=signature_of)  # fmt: skip

    (tmp_path / "f1").write_bytes(CONTENT)
    (tmp_path / "s1").write_bytes(pki.signer.sign(CONTENT))
    (tmp_path / "f2").write_bytes(b"attachment")
    (tmp_path / "s2").write_bytes(pki.signer.sign(b"another attachment"))
    files = [
        ref("f1", FileRole.MAIN),
        ref("s1", FileRole.SIGNATURE, "f1"),
        ref("f2", FileRole.ATTACHMENT),
        ref("s2", FileRole.SIGNATURE, "f2"),
    ]
    results = verify_message_files(files, lambda r: tmp_path / r.id, [pki.ca])
    assert set(results) == {"s1", "s2"}
    assert results["s1"].valid
    assert not results["s2"].valid and results["s2"].code == "signature.invalid"


def test_an_engine_that_does_not_load_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_lib, "_loaded", None)
    monkeypatch.setattr(_lib, "_problem", None)
    monkeypatch.setattr(_lib, "ENGINE_ID", b"gost-of-another-build")
    why = gost.problem()
    assert why is not None and "cannot be loaded from" in why and "gost.so" in why
    assert "libengine-gost-openssl" in why
