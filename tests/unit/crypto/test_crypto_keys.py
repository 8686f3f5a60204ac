"""gateway.crypto.keys: key and certificate files, their cache, and what errors may reveal."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.crypto import (
    CmsSigner,
    load_certificates,
    load_private_key,
    write_certificate,
    write_private_key,
)
from gateway.crypto import keys as keys_module
from gateway.errors import GatewayError

if TYPE_CHECKING:
    from conftest import Party


def _pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _secret_fragments(pem: bytes) -> list[str]:
    """Pieces of the key that must never show up in an error: PEM lines and the DER in hex."""
    body = [line for line in pem.decode().splitlines() if not line.startswith("-----")]
    der = base64.b64decode("".join(body))
    return [*body, der.hex(), der.hex()[:40]]


def _bump_mtime(path: Path) -> None:
    # Some file systems have coarse timestamps; move the mtime explicitly so the test is exact.
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def test_written_key_is_owner_only_and_loads_back(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    path = tmp_path / "key.pem"
    old_umask = os.umask(0)  # even a permissive umask must not widen the mode
    try:
        write_private_key(key, path)
    finally:
        os.umask(old_umask)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    loaded = load_private_key(path)
    assert isinstance(loaded, ec.EllipticCurvePrivateKey)
    assert loaded.private_numbers() == key.private_numbers()


def test_existing_key_file_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    path.write_bytes(b"the only copy")
    with pytest.raises(GatewayError) as error:
        write_private_key(ec.generate_private_key(ec.SECP256R1()), path)
    assert error.value.code == "keys.unwritable"
    assert str(path) in error.value.message
    assert path.read_bytes() == b"the only copy"


def test_der_private_key_loads(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    path = tmp_path / "key.der"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    assert load_private_key(path).private_numbers() == key.private_numbers()


def test_key_is_parsed_once_per_file_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "key.pem"
    path.write_bytes(_pem(ec.generate_private_key(ec.SECP256R1())))
    parse = keys_module._parse_private_key
    calls: list[object] = []

    def counting(data: bytes, where: Path) -> keys_module.PrivateKey:
        calls.append(where)
        return parse(data, where)

    monkeypatch.setattr(keys_module, "_parse_private_key", counting)

    first = load_private_key(path)
    second = load_private_key(str(path))  # another spelling of the same file
    assert second is first
    assert len(calls) == 1

    replacement = ec.generate_private_key(ec.SECP256R1())
    path.write_bytes(_pem(replacement))
    _bump_mtime(path)
    third = load_private_key(path)
    assert len(calls) == 2
    assert third is not first
    assert third.private_numbers() == replacement.private_numbers()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "not an unencrypted PEM or DER private key"),
        (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "PEM or DER"),
        (os.urandom(64), "PEM or DER"),
    ],
)
def test_unreadable_key_names_the_path(tmp_path: Path, data: bytes, reason: str) -> None:
    path = tmp_path / "broken.pem"
    path.write_bytes(data)
    with pytest.raises(GatewayError) as error:
        load_private_key(path)
    assert error.value.code == "keys.unreadable"
    assert str(path) in error.value.message
    assert reason in error.value.message


def test_missing_key_file(tmp_path: Path) -> None:
    with pytest.raises(GatewayError) as error:
        load_private_key(tmp_path / "absent.pem")
    assert error.value.code == "keys.unreadable"
    assert "absent.pem" in error.value.message


def test_encrypted_key_is_refused_without_echoing_it(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret-passphrase"),
    )
    path = tmp_path / "enc.pem"
    path.write_bytes(pem)
    with pytest.raises(GatewayError) as error:
        load_private_key(path)
    assert "encrypted" in error.value.message
    for fragment in _secret_fragments(pem):
        assert fragment not in str(error.value)


def test_certificate_bundle_der_and_cache(tmp_path: Path, alice: Party, bob: Party) -> None:
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(
        alice.cert.public_bytes(serialization.Encoding.PEM)
        + bob.cert.public_bytes(serialization.Encoding.PEM)
    )
    loaded = load_certificates(bundle)
    assert loaded == [alice.cert, bob.cert]
    loaded.clear()  # the caller owns the list; the cache must not notice
    assert load_certificates(bundle) == [alice.cert, bob.cert]

    der = tmp_path / "one.cer"
    der.write_bytes(bob.cert.public_bytes(serialization.Encoding.DER))
    assert load_certificates(der) == [bob.cert]

    single = tmp_path / "alice.pem"
    write_certificate(alice.cert, single)
    assert load_certificates(single) == [alice.cert]
    write_certificate(bob.cert, single)  # replacing a certificate file is allowed
    _bump_mtime(single)
    assert load_certificates(single) == [bob.cert]


@pytest.mark.parametrize("data", [b"", b"garbage", b"-----BEGIN CERTIFICATE-----\nAA==\n"])
def test_unreadable_certificate_names_the_path(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "bad.pem"
    path.write_bytes(data)
    with pytest.raises(GatewayError) as error:
        load_certificates(path)
    assert error.value.code == "keys.unreadable"
    assert str(path) in error.value.message


def test_key_mismatch_error_never_contains_key_material(
    tmp_path: Path, alice: Party, bob: Party
) -> None:
    with pytest.raises(GatewayError) as error:
        CmsSigner(alice.cert, bob.key)
    assert error.value.code == "keys.mismatch"
    assert "alice" in error.value.message
    for fragment in _secret_fragments(_pem(bob.key)):
        assert fragment not in str(error.value)

    cert_path, key_path = tmp_path / "alice.pem", tmp_path / "bob.key"
    write_certificate(alice.cert, cert_path)
    write_private_key(bob.key, key_path)
    with pytest.raises(GatewayError) as error:
        CmsSigner.from_files(cert_path, key_path)
    assert error.value.code == "keys.mismatch"
    assert str(cert_path) in error.value.message and str(key_path) in error.value.message
    for fragment in _secret_fragments(key_path.read_bytes()):
        assert fragment not in str(error.value)
