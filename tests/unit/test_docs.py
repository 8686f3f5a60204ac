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


def test_the_local_api_example_in_the_operator_guide_is_accepted() -> None:
    import json

    from gateway.intake import FileSpec
    from gateway.model import Document
    from gateway.modeljson import from_json

    text = (ROOT / "docs" / "operations.md").read_text()
    example = json.loads(re.search(r"```json\n(.*?)```", text, re.S).group(1))  # type: ignore[union-attr]
    document = from_json(Document, example["document"])
    specs = [from_json(FileSpec, f) for f in example["files"]]
    assert document.addressees and specs[1].signature_of == specs[0].id


def test_every_adapter_error_code_is_in_the_adapter_docs() -> None:
    used = {
        m for path in (ROOT / "adapters").rglob("*.py") for m in CODE.findall(path.read_text())
    }
    assert {"format.invalid", "format.missing_file"} <= used  # the scan itself works
    pages = [ROOT / "docs" / "adapters.md", *sorted((ROOT / "docs" / "adapters").glob("*.md"))]
    documented = {
        code for page in pages for code in re.findall(r"`([a-z_]+\.[a-z_.]+)`", page.read_text())
    }
    assert used - documented == set(), "document these codes in docs/adapters.md or its pages"
