"""Optional mutual TLS between gateways: ``ssl`` contexts from certificate, key and CA files.

TLS protects the channel and, with client certificates, keeps strangers off the wire
endpoint; it is not what makes a message trusted. The envelope's CMS signature is the
authority either way (DESIGN §5), so these contexts need not use the signing certificates.
Errors name the files, never their contents.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from gateway.errors import ConfigError


def server_context(
    certificate: Path, private_key: Path, *, client_ca: Path | None = None
) -> ssl.SSLContext:
    """For the wire endpoint; with ``client_ca``, a client must present a certificate that
    chains to it (mutual TLS), or the handshake fails."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    _load_chain(context, certificate, private_key)
    if client_ca is not None:
        _load_ca(context, client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def client_context(
    *,
    ca: Path | None = None,
    certificate: Path | None = None,
    private_key: Path | None = None,
) -> ssl.SSLContext:
    """For sending to peers: verifies the peer's certificate and host name against ``ca`` (the
    system's CAs when None) and presents ``certificate`` when given (mutual TLS)."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if ca is not None:
        _load_ca(context, ca)
    if (certificate is None) != (private_key is None):
        raise ConfigError("a client certificate needs its private key, and the other way round")
    if certificate is not None and private_key is not None:
        _load_chain(context, certificate, private_key)
    return context


def _load_chain(context: ssl.SSLContext, certificate: Path, private_key: Path) -> None:
    try:
        context.load_cert_chain(certificate, private_key)
    except FileNotFoundError as exc:
        raise ConfigError(f"file not found: {exc.filename}") from None
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(
            f"cannot use {certificate} with {private_key} for TLS ({_reason(exc)})"
        ) from None


def _load_ca(context: ssl.SSLContext, ca: Path) -> None:
    try:
        context.load_verify_locations(cafile=ca)
    except FileNotFoundError:
        raise ConfigError(f"file not found: {ca}") from None
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(f"cannot read CA certificates from {ca} ({_reason(exc)})") from None


def _reason(exc: BaseException) -> str:
    # ssl errors carry a short reason ("KEY_VALUES_MISMATCH"); never the file's content.
    reason = getattr(exc, "reason", None)
    return str(reason) if reason else type(exc).__name__
