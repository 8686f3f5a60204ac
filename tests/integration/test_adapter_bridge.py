"""Adapters inside running gateways: a letter dropped at one side comes out of the other
side's adapter, its registration comes back as a notice, bad items go to failed/ with a reason.

Both gateways run the example adapter of docs/adapters.md, named by its "module:Class" path.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

from gateway.localnet import Node
from tests.integration.conftest import cli, wait_for

EXAMPLE = Path(__file__).parents[2] / "docs" / "examples" / "textletter"
ENV = {"PYTHONPATH": os.pathsep.join(filter(None, [str(EXAMPLE), os.environ.get("PYTHONPATH")]))}


def adapter(folder: Path) -> str:
    return (
        "\n[[adapters]]\n"
        'name = "textletter:TextLetterAdapter"\n'
        'id = "letters"\n'
        f'outgoing = "{folder / "out"}"\n'
        f'incoming = "{folder / "in"}"\n'
        "poll_interval = 0.1\nquiet = 0.0\n"
    )


def items(folder: Path) -> list[Path]:
    return (
        sorted(p for p in folder.iterdir() if not p.name.startswith(".")) if folder.exists() else []
    )


def drop(folder: Path, name: str, files: dict[str, str | bytes]) -> None:
    staging = folder.parent / f".{name}"
    staging.mkdir(parents=True)
    for file, body in files.items():
        path = staging / file
        path.write_bytes(body.encode() if isinstance(body, str) else body)
    folder.mkdir(parents=True, exist_ok=True)
    staging.rename(folder / name)


LETTER = (
    "Uid: 5d1c9a8e-7b7e-4d0a-9f41-0c2b6c1e2f01\n"
    "From: Министерство строительства Ростовской области\n"
    "From-INN: 6163000001\n"
    "To-INN: 1435000001\n"
    "Number: 02-11/778\n"
    "Date: 2026-11-20\n"
    "Subject: О проекте соглашения\n"
    "Attachment: проект.pdf\n"
    "\n"
    "Направляем проект соглашения для согласования.\n"
)


async def test_a_letter_crosses_through_adapters_and_its_registration_comes_back(
    make_network: Callable[..., dict[str, Node]], tmp_path: Path
) -> None:
    rostov, sakha = tmp_path / "delo-61", tmp_path / "drop-14"
    nodes = make_network(sender_extra=adapter(rostov), receiver_extra=adapter(sakha))
    a, b = nodes["ru-61"], nodes["ru-14"]
    a.start(env=ENV)
    b.start(env=ENV)
    attachment = b"%PDF-1.7\n" + os.urandom(300_000)

    drop(rostov / "out", "letter-1", {"letter.txt": LETTER, "проект.pdf": attachment})
    unknown = LETTER.replace("1435000001", "7700000000").replace("Attachment: проект.pdf\n", "")
    drop(rostov / "out", "letter-2", {"letter.txt": unknown})

    await wait_for(lambda: len(items(sakha / "in")) == 1, 30, "the letter at ru-14")
    (arrived,) = items(sakha / "in")
    assert (arrived / "letter.txt").read_text(encoding="utf-8") == LETTER
    assert (arrived / "проект.pdf").read_bytes() == attachment
    await wait_for(lambda: len(items(rostov / "out" / "processed")) == 1, 10, "letter-1 acked")
    # The letter to an organisation nobody serves is refused with a reason, not lost.
    await wait_for(lambda: len(items(rostov / "out" / "failed")) == 2, 10, "letter-2 refused")
    error = (rostov / "out" / "failed" / "letter-2.error.txt").read_text(encoding="utf-8")
    assert "code: routing." in error and "7700000000" in error

    # The recipient registers it; the notice names the document (its message id is optional).
    drop(sakha / "out", "registered", {"notice.txt": (
        "Event: registered\nDocument: 5d1c9a8e-7b7e-4d0a-9f41-0c2b6c1e2f01\n"
        "Time: 2026-11-21T10:15:00+09:00\nNumber: 14-07/1002\nDate: 2026-11-21\n"
    )})  # fmt: skip
    await wait_for(lambda: len(items(rostov / "in")) == 1, 30, "the registration at ru-61")
    (notice,) = items(rostov / "in")
    text = (notice / "notice.txt").read_text(encoding="utf-8")
    assert "Event: registered" in text and "Number: 14-07/1002" in text
    assert f"Message: {arrived.name}" in text  # the gateway filled in the letter's message id

    # A notice about a document this gateway never received is refused, with the reason.
    drop(sakha / "out", "stray", {"notice.txt": (
        "Event: registered\nDocument: no-such-document\nTime: 2026-11-21T10:15:00+09:00\n"
    )})  # fmt: skip
    await wait_for(lambda: (sakha / "out" / "failed" / "stray.error.txt").exists(), 10, "stray")
    stray = (sakha / "out" / "failed" / "stray.error.txt").read_text(encoding="utf-8")
    assert "code: intake.unknown_document" in stray

    for node in (a, b):
        node.stop()
        assert cli(node, "audit", "verify").returncode == 0
    listing = cli(a, "queue", "ls", "--all").stdout
    assert len(re.findall(r"\bdelivered\b", listing)) == 1, listing
