"""Networks of real gateway processes on 127.0.0.1 (see gateway/localnet.py)."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import aiohttp
import pytest

from gateway import localnet
from gateway.intake import FileSpec
from gateway.localnet import Member, Node
from gateway.model import Document, FileRole, Organization, Person, Registration

ROSTOV = Organization("Минстрой Ростовской области", inn="6163000001", region="61")
SAKHA = Organization("Минстрой Республики Саха (Якутия)", inn="1435000001", region="14")


@pytest.fixture()
def make_network(tmp_path: Path) -> Iterator[Callable[..., dict[str, Node]]]:
    """Build a two-gateway network (ru-61 → ru-14); extra gateway.toml text per member."""
    built: list[dict[str, Node]] = []

    def make(sender_extra: str = "", receiver_extra: str = "") -> dict[str, Node]:
        a, b = localnet.free_ports(2)
        nodes = localnet.build(
            tmp_path / "net",
            [
                Member("ru-61", "Ростовская область", "6163000001", a, extra=sender_extra),
                Member("ru-14", "Республика Саха (Якутия)", "1435000001", b, extra=receiver_extra),
            ],
        )
        built.append(nodes)
        return nodes

    yield make
    for nodes in built:
        for node in nodes.values():
            node.stop(timeout=10)


def letter(number: int, files: tuple[str, ...] = ()) -> Document:
    return Document(
        uid=f"doc-{number}-{uuid.uuid4().hex[:8]}",
        kind="Письмо",
        sender=ROSTOV,
        registration=Registration(f"61-01/{number}", dt.date(2026, 11, 21)),
        annotation=f"Письмо № {number} о ходе работ",
        addressees=(Person(SAKHA, name="Петров П. П."),),
    )


def pdf_and_signature(number: int, size: int = 100 * 1024) -> list[tuple[FileSpec, bytes]]:
    body = os.urandom(size)
    return [
        (FileSpec("f1", f"письмо-{number}.pdf", "application/pdf", FileRole.MAIN), body),
        (
            FileSpec(
                "s1",
                f"письмо-{number}.pdf.sig",
                "application/pkcs7-signature",
                FileRole.SIGNATURE,
                signature_of="f1",
            ),
            os.urandom(2048),
        ),
    ]


async def submit_with_retry(
    session: aiohttp.ClientSession,
    node: Node,
    document: Document,
    files: list[tuple[FileSpec, bytes]],
    key: str,
    *,
    deadline: float = 120.0,
) -> list[dict[str, str]]:
    """Submit until the gateway answers 202 (it may be down or restarting)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    while True:
        try:
            return await localnet.submit(session, node, document, files, key=key)
        except (TimeoutError, aiohttp.ClientError, ConnectionError):
            if loop.time() > end:
                raise
            await asyncio.sleep(0.1)


def cli(node: Node, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args, "--config", str(node.config)],
        capture_output=True,
        text=True,
        timeout=60,
    )


async def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not condition():
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


def exported(node: Node) -> list[Path]:
    """Messages handed off to the node's local folder (complete exports only)."""
    if not node.inbox.exists():
        return []
    return [p for p in node.inbox.iterdir() if p.is_dir() and not p.name.startswith(".tmp-")]
