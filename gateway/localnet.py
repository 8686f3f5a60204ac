"""A network of gateways on 127.0.0.1: keys, configuration files and processes.

Used by ``gateway demo``, the integration tests and the benchmarks, so that all three run the
real thing: separate ``gateway run`` processes, real HTTP, real signatures, the embedded store.
:func:`build` writes a working folder (a demo CA, a key and certificate per participant, a
``gateway.toml`` each, one shared ``participants.toml``, API tokens); :class:`Node` starts,
stops and kills one gateway. Nothing here is used by a production gateway.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gateway.crypto import (
    generate_key,
    issue_certificate,
    new_ca,
    write_certificate,
    write_private_key,
)
from gateway.intake import FileSpec
from gateway.model import Document
from gateway.modeljson import to_json


@dataclass(frozen=True)
class Member:
    """One participant of a local network."""

    id: str
    name: str
    inn: str
    port: int
    profile: str = "ecdsa"
    extra: str = ""  # extra gateway.toml text (e.g. [retry] settings)


@dataclass
class Node:
    """One gateway process of the network."""

    member: Member
    folder: Path
    token: str  # the local API's token (name "local")
    operator_token: str = ""  # the operator API's token (name "operator")
    process: subprocess.Popen[bytes] | None = None
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.folder / "gateway.log"

    @property
    def config(self) -> Path:
        return self.folder / "gateway.toml"

    @property
    def tls(self) -> bool:
        return (self.folder.parent / "keys" / "tls-ca.pem").exists()

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.member.port}"

    def ssl_context(self) -> ssl.SSLContext | None:
        """What a client of this node needs under mutual TLS: the CA and a client certificate."""
        if not self.tls:
            return None
        keys = self.folder.parent / "keys"
        context = ssl.create_default_context(cafile=keys / "tls-ca.pem")
        context.load_cert_chain(
            keys / f"{self.member.id}-tls.pem", keys / f"{self.member.id}-tls.key"
        )
        return context

    @property
    def inbox(self) -> Path:
        return self.folder / "var" / "inbox"

    def start(self, *, wait: float = 20.0, env: dict[str, str] | None = None) -> None:
        """Start ``gateway run`` and wait until it answers /readyz."""
        if self.process is not None and self.process.poll() is None:
            return
        command = [sys.executable, "-m", "gateway.cli", "run", "--config", str(self.config)]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(env or {})},
            )
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"gateway {self.member.id} exited with {self.process.returncode}; "
                    f"see {self.log}:\n{self.log.read_text(errors='replace')[-3000:]}"
                )
            if self.ready():
                return
            time.sleep(0.05)
        raise TimeoutError(f"gateway {self.member.id} did not become ready; see {self.log}")

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(  # noqa: S310 - our own URL
                f"{self.url}/readyz", timeout=1, context=self.ssl_context()
            ) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM (the gateway drains its work) and wait."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def kill(self) -> None:
        """SIGKILL: the crash a gateway must survive."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def build(folder: Path, members: Sequence[Member], *, tls: bool = False) -> dict[str, Node]:
    """Write keys and configuration for ``members`` under ``folder``; one Node per member.

    ``tls``: HTTPS with mutual TLS between the gateways (a separate TLS CA; each member's
    certificate serves its endpoint and identifies it as a client).
    """
    folder.mkdir(parents=True, exist_ok=True)
    keys = folder / "keys"
    if keys.exists():
        shutil.rmtree(keys)
    keys.mkdir()
    ca_cert, ca_key = new_ca("Local Network Demo CA")
    write_certificate(ca_cert, keys / "ca.pem")
    for member in members:
        cert, key = issue_certificate(
            ca_cert, ca_key, member.id, member.name, profile=member.profile
        )
        write_certificate(cert, keys / f"{member.id}.pem")
        write_private_key(key, keys / f"{member.id}.key")
    if tls:
        _tls_keys(keys, members)
    scheme = "https" if tls else "http"
    participants = []
    for member in members:
        participants.append(
            "[[participant]]\n"
            f'id = "{member.id}"\nname = "{member.name}"\n'
            f'endpoint = "{scheme}://127.0.0.1:{member.port}/gw/v1/messages"\n'
            f'certificates = ["keys/{member.id}.pem"]\nprofile = "{member.profile}"\n'
            f'[participant.serves]\ninn = ["{member.inn}"]\n'
        )
    (folder / "participants.toml").write_text("\n".join(participants), encoding="utf-8")
    nodes = {}
    for member in members:
        node_dir = folder / member.id
        node_dir.mkdir(exist_ok=True)
        token = secrets.token_urlsafe(24)
        tokens = node_dir / "api.tokens"
        tokens.write_text(f"local:{token}\n")
        tokens.chmod(0o600)
        operator_token = secrets.token_urlsafe(24)
        operators = node_dir / "operators.tokens"
        operators.write_text(f"operator:{operator_token}\n")
        operators.chmod(0o600)
        (node_dir / "gateway.toml").write_text(
            "[gateway]\n"
            f'participant = "{member.id}"\n'
            f'listen = "127.0.0.1:{member.port}"\n'
            'participants = "../participants.toml"\n'
            "[keys]\n"
            f'certificate = "../keys/{member.id}.pem"\n'
            f'private_key = "../keys/{member.id}.key"\n'
            'trust_anchors = ["../keys/ca.pem"]\n'
            f'profile = "{member.profile}"\n'
            "[api]\n"
            'tokens_file = "api.tokens"\n'
            'operator_tokens_file = "operators.tokens"\n'
            + (
                "[tls]\n"
                f'certificate = "../keys/{member.id}-tls.pem"\n'
                f'private_key = "../keys/{member.id}-tls.key"\n'
                'client_ca = "../keys/tls-ca.pem"\nca = "../keys/tls-ca.pem"\n'
                if tls
                else ""
            )
            + member.extra,
            encoding="utf-8",
        )
        nodes[member.id] = Node(member, node_dir, token, operator_token)
    return nodes


def _tls_keys(keys: Path, members: Sequence[Member]) -> None:
    """A TLS CA and, per member, a certificate for 127.0.0.1 usable as server and as client."""
    ca_cert, ca_key = new_ca("Local Network TLS CA")
    write_certificate(ca_cert, keys / "tls-ca.pem")
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    for member in members:
        key = generate_key("ecdsa")
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, member.id)]))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
                ),
                critical=False,
            )
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(ca_key, hashes.SHA256())
        )
        write_certificate(cert, keys / f"{member.id}-tls.pem")
        write_private_key(key, keys / f"{member.id}-tls.key")


class ApiError(Exception):
    """The local API refused a submission (the answer's code and message)."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:500]}")
        self.status = status
        self.body = body


async def submit(
    session: aiohttp.ClientSession,
    node: Node,
    document: Document,
    files: Sequence[tuple[FileSpec, bytes | Path]] = (),
    *,
    key: str | None = None,
) -> list[dict[str, str]]:
    """Submit a document through ``node``'s local API; the queued messages it reports.

    Files given as paths are streamed from disk. Raises ApiError for a refusal and
    aiohttp.ClientError when the gateway cannot be reached (callers retry with the same key).
    """
    form = aiohttp.FormData(quote_fields=False)
    meta = {"document": to_json(document), "files": [to_json(spec) for spec, _ in files]}
    form.add_field(
        "document", json.dumps(meta, ensure_ascii=False), content_type="application/json"
    )
    handles = []
    try:
        for spec, content in files:
            body: Any = content
            if isinstance(content, Path):
                body = content.open("rb")
                handles.append(body)
            form.add_field(
                spec.id, body, filename=spec.name, content_type="application/octet-stream"
            )
        headers = {"Authorization": f"Bearer {node.token}"}
        if key is not None:
            headers["Idempotency-Key"] = key
        async with session.post(
            f"{node.url}/api/v1/outbox", data=form, headers=headers, ssl=node.ssl_context() or True
        ) as r:
            text = await r.text()
            if r.status != 202:
                raise ApiError(r.status, text)
            messages: list[dict[str, str]] = json.loads(text)["messages"]
            return messages
    finally:
        for handle in handles:
            handle.close()
