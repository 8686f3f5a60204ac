"""A letter between two gateways that both sign under the GOST profile (separate processes).

The envelope, its receipt and every refusal are signed with GOST R 34.10-2012 keys; the
manifest carries Streebog-256 digests of the files beside SHA-256; the official's own GOST
signature of the letter travels untouched and verifies at the receiving end.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from lxml import etree

from gateway import localnet
from gateway.crypto import CmsSigner, demo, verify_detached, write_certificate
from gateway.crypto.gost import Streebog
from gateway.crypto.officials import verify_official
from gateway.intake import FileSpec
from gateway.localnet import Member, Node
from gateway.model import FileRole
from tests.gost_engine import require_gost
from tests.integration.conftest import cli, exported, letter, submit_with_retry, wait_for

NS = "{urn:interregional-gateway:1}"


@pytest.fixture()
def gost_network(tmp_path: Path) -> Iterator[dict[str, Node]]:
    require_gost()
    a, b = localnet.free_ports(2)
    nodes = localnet.build(
        tmp_path / "net",
        [
            Member("ru-61", "Ростовская область", "6163000001", a, profile="gost2012"),
            Member("ru-14", "Республика Саха (Якутия)", "1435000001", b, profile="gost2012"),
        ],
    )
    yield nodes
    for node in nodes.values():
        node.stop(timeout=10)


async def test_a_gost_letter_crosses_with_streebog_digests_and_an_official_signature(
    gost_network: dict[str, Node], tmp_path: Path
) -> None:
    a, b = gost_network["ru-61"], gost_network["ru-14"]
    # The official (a minister) signs the letter with a key from a GOST CA of their own.
    official_ca, official_ca_key = demo.new_ca("УЦ Правительства РО", profile="gost2012")
    cert, key = demo.issue_certificate(
        official_ca, official_ca_key, "minister", "Правительство РО", profile="gost2012"
    )
    write_certificate(official_ca, official_ca_file := tmp_path / "official-ca.pem")
    body = "Письмо о ходе работ\n".encode() * 5000
    files = [
        (FileSpec("f1", "письмо.txt", "text/plain", FileRole.MAIN), body),
        (
            FileSpec(
                "s1", "письмо.txt.p7s", "application/pkcs7-signature", FileRole.SIGNATURE,
                signature_of="f1",
            ),
            official_signature := CmsSigner(cert, key, chain=[official_ca]).sign(body),
        ),
    ]  # fmt: skip
    a.start()
    b.start()
    async with aiohttp.ClientSession() as session:
        (message,) = await submit_with_retry(session, a, letter(1), files, key="gost-letter")
    await wait_for(lambda: len(exported(b)) == 1, 30, "the hand-off at ru-14")
    (folder,) = exported(b)
    assert folder.name == message["message_id"]

    envelope = (folder / "envelope.xml").read_bytes()
    (sealed,) = verify_detached((folder / "envelope.xml.p7s").read_bytes(), envelope)
    assert sealed.signature_algorithm == "gost2012-256"
    assert sealed.digest_algorithm == "streebog256"
    manifest = etree.fromstring(envelope).find(f"{NS}Manifest")
    assert manifest is not None
    sent = {"письмо.txt": body, "письмо.txt.p7s": official_signature}
    for entry in manifest:
        data = sent[entry.get("name", "")]
        assert entry.get("streebog256") == Streebog("streebog256", data).hexdigest()
        assert (folder / entry.get("name", "")).read_bytes() == data  # byte for byte

    # The official's signature verifies at the receiving end, by API and by command line.
    check = verify_official(folder / "письмо.txt", folder / "письмо.txt.p7s", [official_ca])
    assert check.valid, check.reason
    assert check.signer == "O=Правительство РО,CN=minister"
    result = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "verify", str(folder / "письмо.txt"),
         "--signature", str(folder / "письмо.txt.p7s"), "--ca", str(official_ca_file)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "gost2012-256 with streebog256" in result.stdout

    # The GOST-signed receipt came back and was accepted by the sender.
    await wait_for(
        lambda: " delivered " in cli(a, "queue", "ls", "--all").stdout, 30, "the receipt"
    )
    for node in (a, b):
        node.stop()
        audit = cli(node, "audit", "verify")
        assert audit.returncode == 0, audit.stderr
