"""Mutual TLS between two gateway processes: letters cross over HTTPS with client certificates;
a client without a certificate is refused at the handshake."""

from __future__ import annotations

import ssl
from pathlib import Path

import aiohttp
import pytest

from gateway import localnet
from gateway.localnet import Member
from tests.integration.conftest import (
    exported,
    letter,
    pdf_and_signature,
    submit_with_retry,
    wait_for,
)


async def test_letters_cross_over_mutual_tls(tmp_path: Path) -> None:
    a_port, b_port = localnet.free_ports(2)
    nodes = localnet.build(
        tmp_path,
        [Member("ru-61", "Ростовская область", "6163000001", a_port),
         Member("ru-14", "Республика Саха (Якутия)", "1435000001", b_port)],
        tls=True,
    )  # fmt: skip
    a, b = nodes["ru-61"], nodes["ru-14"]
    try:
        a.start()
        b.start()
        assert a.url.startswith("https://")
        async with aiohttp.ClientSession() as session:
            (message,) = await submit_with_retry(
                session, a, letter(1), pdf_and_signature(1, 4096), "tls-1"
            )
        await wait_for(
            lambda: [p.name for p in exported(b)] == [message["message_id"]],
            30,
            "hand-off over TLS",
        )

        # Without a client certificate, the handshake itself fails: nothing reaches the gateway.
        no_client_cert = ssl.create_default_context(cafile=tmp_path / "keys" / "tls-ca.pem")
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.ClientError):
                async with session.get(f"{b.url}/healthz", ssl=no_client_cert) as response:
                    await response.read()
            # And plain HTTP is not served at all.
            with pytest.raises(aiohttp.ClientError):
                async with session.get(f"http://127.0.0.1:{b_port}/healthz") as response:
                    await response.read()
    finally:
        a.stop()
        b.stop()
