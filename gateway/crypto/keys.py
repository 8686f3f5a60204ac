"""Reading and writing private keys and certificates on disk.

RSA and EC keys are read with cryptography; a key cryptography does not know is tried as a GOST
R 34.10-2012 key through the engine (:mod:`gateway.crypto.gost`), for :func:`load_signing_key`.

Keys and certificates are parsed once per file version: the cache is keyed by the resolved path
and the file's mtime and size, so a replaced file is picked up on the next load and an unchanged
one costs a ``stat``. This module must never put key material into an error, a log line or a
file anyone but the owner can read.
"""

from __future__ import annotations

import base64
import os
import threading
from pathlib import Path
from typing import TypeAlias

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from gateway.crypto.gost import GostPrivateKey, GostUnavailableError
from gateway.errors import GatewayError

PrivateKey: TypeAlias = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
AnyPrivateKey: TypeAlias = PrivateKey | GostPrivateKey

_FileVersion: TypeAlias = tuple[int, int]  # (st_mtime_ns, st_size)

_lock = threading.Lock()
# One entry per resolved path: a new version of a file replaces its entry instead of piling up.
_keys: dict[Path, tuple[_FileVersion, AnyPrivateKey]] = {}
_certs: dict[Path, tuple[_FileVersion, tuple[x509.Certificate, ...]]] = {}


def load_private_key(path: str | os.PathLike[str]) -> PrivateKey:
    """The RSA or EC private key in ``path`` (unencrypted PEM or DER), parsed once per version."""
    key = load_signing_key(path)
    if isinstance(key, GostPrivateKey):
        raise _unreadable(path, "holds a GOST key; only RSA and EC keys are supported here")
    return key


def load_signing_key(path: str | os.PathLike[str]) -> AnyPrivateKey:
    """The RSA, EC or GOST R 34.10-2012 private key in ``path``, parsed once per version."""
    resolved, version = _stat(path)
    with _lock:
        cached = _keys.get(resolved)
    if cached is not None and cached[0] == version:
        return cached[1]
    key = _parse_private_key(_read(resolved, path), path)
    with _lock:
        _keys[resolved] = (version, key)
    return key


def load_certificates(path: str | os.PathLike[str]) -> list[x509.Certificate]:
    """The certificates in ``path``: a PEM bundle (one or many) or a single DER certificate."""
    resolved, version = _stat(path)
    with _lock:
        cached = _certs.get(resolved)
    if cached is None or cached[0] != version:
        cached = (version, _parse_certificates(_read(resolved, path), path))
        with _lock:
            _certs[resolved] = cached
    return list(cached[1])


def write_private_key(key: AnyPrivateKey, path: str | os.PathLike[str]) -> None:
    """Write ``key`` as unencrypted PKCS#8 PEM to a new file readable by its owner only.

    An existing file is never overwritten: it may hold the only copy of a registered key.
    """
    if isinstance(key, GostPrivateKey):
        pem = key.to_pem()
    else:
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    try:
        # The mode is given at creation, so the file is never readable by others, not even
        # between creating it and writing the key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise GatewayError(
            f"{os.fspath(path)}: already exists; refusing to overwrite a private key",
            code="keys.unwritable",
        ) from None
    except OSError as exc:
        raise GatewayError(
            f"{os.fspath(path)}: cannot create the key file: {exc.strerror}",
            code="keys.unwritable",
        ) from None
    with os.fdopen(fd, "wb") as file:
        file.write(pem)


def write_certificate(cert: x509.Certificate, path: str | os.PathLike[str]) -> None:
    """Write ``cert`` as PEM, replacing any existing file."""
    try:
        Path(path).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    except OSError as exc:
        raise GatewayError(
            f"{os.fspath(path)}: cannot write the certificate: {exc.strerror}",
            code="keys.unwritable",
        ) from None


def _stat(path: str | os.PathLike[str]) -> tuple[Path, _FileVersion]:
    try:
        resolved = Path(path).resolve(strict=True)
        st = resolved.stat()
    except OSError as exc:
        raise _unreadable(path, exc.strerror or "cannot be read") from None
    return resolved, (st.st_mtime_ns, st.st_size)


def _read(resolved: Path, path: str | os.PathLike[str]) -> bytes:
    try:
        return resolved.read_bytes()
    except OSError as exc:
        raise _unreadable(path, exc.strerror or "cannot be read") from None


def _parse_private_key(data: bytes, path: str | os.PathLike[str]) -> AnyPrivateKey:
    # The parsers' own messages are dropped on purpose: none is known to echo key bytes, but the
    # rule is that no error about a key file ever could.
    try:
        if b"-----BEGIN" in data:
            key = serialization.load_pem_private_key(data, password=None)
        else:
            key = serialization.load_der_private_key(data, password=None)
    except TypeError:
        raise _unreadable(
            path,
            "the private key is encrypted; the gateway needs an unencrypted key file "
            "protected by file permissions",
        ) from None
    except (ValueError, UnicodeError):
        return _gost_key(data, path, "not an unencrypted PEM or DER private key")
    except Exception:  # e.g. UnsupportedAlgorithm; the message is dropped as above
        return _gost_key(data, path, "not a supported private key")
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise _unreadable(path, f"holds a {type(key).__name__}; only RSA and EC keys are supported")
    return key


# The DER of the GOST R 34.10-2012 key algorithm arc 1.2.643.7.1.1.1, as PKCS#8 carries it.
_GOST_KEY_OID = bytes.fromhex("06082a85030701010101")[:-1]


def _gost_key(data: bytes, path: str | os.PathLike[str], why: str) -> GostPrivateKey:
    """A key cryptography cannot read may be a GOST key; ``why`` if it is not one either."""
    try:
        return GostPrivateKey.from_bytes(data)
    except GostUnavailableError as exc:
        der = data
        if b"-----BEGIN" in data:
            body = data.split(b"-----")[2] if data.count(b"-----") >= 4 else b""
            try:
                der = base64.b64decode(b"".join(body.split()))
            except ValueError:
                der = b""
        if _GOST_KEY_OID in der:
            raise GatewayError(f"{os.fspath(path)}: {exc.message}", code=exc.code) from None
    except GatewayError:
        pass
    raise _unreadable(path, why)


def _parse_certificates(data: bytes, path: str | os.PathLike[str]) -> tuple[x509.Certificate, ...]:
    try:
        if b"-----BEGIN" in data:
            certs = tuple(x509.load_pem_x509_certificates(data))
        else:
            certs = (x509.load_der_x509_certificate(data),)
    except ValueError as exc:
        raise _unreadable(path, f"not a PEM bundle or a DER certificate ({exc})") from None
    return certs


def _unreadable(path: str | os.PathLike[str], why: str) -> GatewayError:
    return GatewayError(f"{os.fspath(path)}: {why}", code="keys.unreadable")
