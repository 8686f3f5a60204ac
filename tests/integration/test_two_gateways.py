"""Two gateways as separate processes: letters cross, receipts return, audit chains verify."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import aiohttp
from lxml import etree

from gateway.localnet import Node
from tests.integration.conftest import (
    cli,
    exported,
    letter,
    pdf_and_signature,
    submit_with_retry,
    wait_for,
)


async def test_letters_with_attachments_cross_and_are_receipted(
    make_network: Callable[..., dict[str, Node]],
) -> None:
    nodes = make_network()
    a, b = nodes["ru-61"], nodes["ru-14"]
    a.start()
    b.start()
    sent: dict[str, dict[str, bytes]] = {}
    async with aiohttp.ClientSession() as session:
        for n in range(5):
            files = pdf_and_signature(n)
            doc = letter(n)
            (message,) = await submit_with_retry(session, a, doc, files, key=f"letter-{n}")
            assert message["recipient"] == "ru-14"
            sent[message["message_id"]] = {spec.name: body for spec, body in files}
    await wait_for(lambda: len(exported(b)) == 5, 30, "5 hand-offs at ru-14")
    for folder in exported(b):
        assert folder.name in sent
        for name, body in sent[folder.name].items():
            assert (
                hashlib.sha256((folder / name).read_bytes()).digest()
                == hashlib.sha256(body).digest()
            )
        root = etree.fromstring((folder / "envelope.xml").read_bytes())
        assert (
            root.find(
                "{urn:interregional-gateway:1}Header/{urn:interregional-gateway:1}Sender"
            ).get("participant")
            == "ru-61"
        )
        assert (folder / "envelope.xml.p7s").stat().st_size > 100

    await wait_for(
        lambda: cli(a, "queue", "ls", "--all").stdout.count(" delivered ") == 5, 30, "5 receipts"
    )
    listing = cli(a, "queue", "ls", "--all").stdout
    assert listing.count(" delivered ") == 5, listing
    for node in (a, b):
        node.stop()
        result = cli(node, "audit", "verify")
        assert result.returncode == 0, result.stderr
        assert "audit chain intact" in result.stdout
