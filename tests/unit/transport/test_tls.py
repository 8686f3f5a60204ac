"""Optional mutual TLS: a peer without a client certificate does not get in; one with it does."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from pathlib import Path

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gateway.crypto import new_ca
from gateway.errors import ConfigError
from gateway.receiver import Receiver
from gateway.store.blobs import FilesystemBlobStore
from gateway.transport import tls, wire
from gateway.transport.client import Accepted, Client, Unavailable
from gateway.transport.server import wire_app
from tests.unit.transport.harness import (
    Network,
    Peer,
    letter,
    memory_store,
    mounted,
    outbound,
    serve,
)


def tls_certificate(
    folder: Path,
    name: str,
    ca: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    usage: x509.ObjectIdentifier,
) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_path, key_path = folder / f"{name}.pem", folder / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("tls")
    ca, ca_key = new_ca("Gateway TLS CA")
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    server_cert, server_key = tls_certificate(
        folder, "ru-14", ca, ca_key, ExtendedKeyUsageOID.SERVER_AUTH
    )
    client_cert, client_key = tls_certificate(
        folder, "ru-61", ca, ca_key, ExtendedKeyUsageOID.CLIENT_AUTH
    )
    return {
        "ca": folder / "ca.pem",
        "server_cert": server_cert,
        "server_key": server_key,
        "client_cert": client_cert,
        "client_key": client_key,
    }


async def test_mutual_tls_lets_in_only_a_client_with_a_certificate(
    network: Network, tmp_path: Path, pki: dict[str, Path]
) -> None:
    store = memory_store(tmp_path / "ru-14")
    receiver = Receiver("ru-14", network.signers["ru-14"], network.trust, store)  # type: ignore[arg-type]
    server_ssl = tls.server_context(pki["server_cert"], pki["server_key"], client_ca=pki["ca"])
    assert server_ssl.verify_mode is ssl.CERT_REQUIRED
    blobs = FilesystemBlobStore(tmp_path / "ru-61")
    record = await outbound(network, blobs, letter([("f1", b"%PDF-1.7 ...")]), [b"%PDF-1.7 ..."])

    async with serve(mounted(wire_app(receiver)), ssl_context=server_ssl) as base:
        peer = Peer("ru-14", base + wire.PATH)
        anonymous = tls.client_context(ca=pki["ca"])
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=anonymous)) as session:
            result = await Client(session, blobs, network.trust, "ru-61").send(record, peer)
        assert isinstance(result, Unavailable), result
        assert store.records == {}

        mutual = tls.client_context(
            ca=pki["ca"], certificate=pki["client_cert"], private_key=pki["client_key"]
        )
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=mutual)) as session:
            result = await Client(session, blobs, network.trust, "ru-61").send(record, peer)
        assert isinstance(result, Accepted), result


async def test_the_client_verifies_the_server_certificate(
    network: Network, tmp_path: Path, pki: dict[str, Path]
) -> None:
    receiver = Receiver("ru-14", network.signers["ru-14"], network.trust, memory_store(tmp_path))  # type: ignore[arg-type]
    server_ssl = tls.server_context(pki["server_cert"], pki["server_key"])
    blobs = FilesystemBlobStore(tmp_path / "ru-61")
    record = await outbound(network, blobs, letter())
    # The system CAs do not know the gateway CA.
    system_cas = aiohttp.TCPConnector(ssl=tls.client_context())
    async with (
        serve(mounted(wire_app(receiver)), ssl_context=server_ssl) as base,
        aiohttp.ClientSession(connector=system_cas) as session,
    ):
        client = Client(session, blobs, network.trust, "ru-61")
        result = await client.send(record, Peer("ru-14", base + wire.PATH))
    assert isinstance(result, Unavailable) and result.reason.startswith("tls:") and not result.blip


def test_unusable_files_are_configuration_errors_that_name_the_file(
    tmp_path: Path, pki: dict[str, Path]
) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        tls.server_context(tmp_path / "missing.pem", pki["server_key"])
    with pytest.raises(ConfigError, match="cannot use") as info:
        tls.server_context(pki["server_cert"], pki["client_key"])  # the key of another certificate
    assert "PRIVATE KEY" not in str(info.value)
    (tmp_path / "junk.pem").write_text("not a certificate")
    with pytest.raises(ConfigError, match=r"junk\.pem"):
        tls.client_context(ca=tmp_path / "junk.pem")
    with pytest.raises(ConfigError, match="needs its private key"):
        tls.client_context(certificate=pki["client_cert"])
