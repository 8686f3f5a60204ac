"""Every stable error code the code can raise is documented for operators and peers."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CODE = re.compile(r'code ?= ?"([a-z_]+(?:\.[a-z_]+)+)"')


def test_every_error_code_is_in_the_protocol_reference() -> None:
    used = {m for path in (ROOT / "gateway").rglob("*.py") for m in CODE.findall(path.read_text())}
    assert len(used) > 20  # the scan itself works
    documented = set(
        re.findall(r"^\| `([a-z_.]+)` \|", (ROOT / "docs" / "protocol.md").read_text(), re.M)
    )
    assert used - documented == set(), "document these codes in docs/protocol.md"


def test_the_example_envelope_in_the_docs_is_valid() -> None:
    from gateway import receipts
    from gateway.model import Message

    document = receipts.read((ROOT / "docs" / "examples" / "envelope.xml").read_bytes())
    assert isinstance(document, Message)
    assert document.sender == "ru-61" and len(document.files) == 2
