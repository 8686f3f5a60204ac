"""Peer down: letters queue and drain when it returns; an expired one becomes a dead letter with
a failure notification for the local system, and ``gateway queue retry`` revives it."""

from __future__ import annotations

import re
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

NS = "{urn:interregional-gateway:1}"


def _state_of(node: Node, message_id: str) -> str:
    for line in cli(node, "queue", "ls", "--all", "--limit", "1000").stdout.splitlines():
        if line.startswith(message_id):
            return line.split()[3]
    return "missing"


def _attempts_of(node: Node, message_id: str) -> int:
    for line in cli(node, "queue", "ls", "--all").stdout.splitlines():
        if line.startswith(message_id):
            return int(line.split()[4])
    return -1


async def test_backlog_drains_when_the_peer_returns(
    make_network: Callable[..., dict[str, Node]],
) -> None:
    nodes = make_network(sender_extra="[retry]\ninitial_delay = 0.2\nmax_delay = 0.5\n")
    a, b = nodes["ru-61"], nodes["ru-14"]
    a.start()  # ru-14 is down
    async with aiohttp.ClientSession() as session:
        ids = [
            (await submit_with_retry(session, a, letter(n), pdf_and_signature(n, 4096), f"k{n}"))[
                0
            ]["message_id"]
            for n in range(3)
        ]
    await wait_for(
        lambda: all(_attempts_of(a, i) >= 2 for i in ids), 30, "retries while the peer is down"
    )
    assert {_state_of(a, i) for i in ids} == {"queued"}
    listing = cli(a, "queue", "ls").stdout
    assert "Cannot connect" in listing or "connect" in listing.lower(), listing
    b.start()
    await wait_for(lambda: len(exported(b)) == 3, 30, "the backlog to drain")
    await wait_for(lambda: {_state_of(a, i) for i in ids} == {"delivered"}, 30, "receipts")


async def test_expiry_dead_letter_notification_and_retry(
    make_network: Callable[..., dict[str, Node]],
) -> None:
    # Letters expire 2 seconds after they are queued.
    expiring = "[retry]\ninitial_delay = 0.2\nmax_delay = 0.5\nexpire_after_hours = 0.000556\n"
    nodes = make_network(sender_extra=expiring)
    a, b = nodes["ru-61"], nodes["ru-14"]
    a.start()
    doc = letter(7)
    async with aiohttp.ClientSession() as session:
        (message,) = await submit_with_retry(session, a, doc, pdf_and_signature(7, 1024), "k7")
    message_id = message["message_id"]
    await wait_for(lambda: _state_of(a, message_id) == "expired", 30, "expiry")

    # The local system is told, through the sender's own hand-off folder.
    await wait_for(lambda: len(exported(a)) == 1, 30, "the failure notification")
    (notice,) = exported(a)
    root = etree.fromstring((notice / "envelope.xml").read_bytes())
    note = root.find(f"{NS}Notification")
    assert note is not None
    assert note.get("kind") == "failed"
    assert note.get("messageId") == message_id
    assert note.get("documentUid") == doc.uid
    assert note.findtext(f"{NS}ErrorCode") == "delivery.expired"

    result = cli(a, "queue", "retry", message_id)
    assert result.returncode == 0, result.stderr
    assert "queued" in result.stdout
    b.start()
    await wait_for(lambda: _state_of(a, message_id) == "delivered", 30, "the revived letter")
    assert [p.name for p in exported(b)] == [message_id]

    wrong = cli(a, "queue", "retry", message_id)
    assert wrong.returncode != 0
    assert re.search(r"\[queue\.wrong_state\]", wrong.stderr + wrong.stdout)
    unknown = cli(a, "queue", "cancel", "no-such-message")
    assert "[queue.unknown_message]" in unknown.stderr + unknown.stdout
    a.stop()
    b.stop()
    audit = cli(a, "audit", "verify")
    assert audit.returncode == 0, audit.stdout + audit.stderr
