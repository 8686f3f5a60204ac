"""The sidecar JSON and the item folder's file names, for any document (hypothesis)."""

from __future__ import annotations

import dataclasses
import json
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.api import FormatError
from adapters.filesystem.item import _check_name, disk_names, item_name
from adapters.filesystem.sidecar import dumps, parse, parse_data, render
from gateway.model import Document, FileRef, FileRole
from tests.strategies import documents, ids, notifications, text

contexts = st.dictionaries(text(40), text(200), max_size=5)


def _without_streebog(document: Document) -> Document:
    # The sidecar does not carry GOST digests: a reader could not check them.
    files = tuple(dataclasses.replace(f, streebog256=None) for f in document.files)
    return dataclasses.replace(document, files=files)


@given(documents.map(_without_streebog), contexts)
def test_a_document_survives_its_sidecar(document: Document, context: dict[str, str]) -> None:
    sidecar = parse(dumps(render(document, context)))
    refs = tuple(
        entry.ref(entry.sha256 or "", entry.size or 0, f"document.files[{i}]")
        for i, entry in enumerate(sidecar.files)
    )
    assert sidecar.document(refs) == document
    assert sidecar.context == context


@given(notifications, contexts)
def test_a_notification_survives_its_sidecar(notification: object, context: dict[str, str]) -> None:
    sidecar = parse(dumps(render(notification, context)))  # type: ignore[arg-type]
    assert sidecar.payload == notification
    assert sidecar.files == () and sidecar.context == context


def _refs(names: list[str]) -> list[FileRef]:
    return [FileRef(f"f{i}", FileRole.ATTACHMENT, n, "x", 0, "0" * 64) for i, n in enumerate(names)]


@given(st.lists(text(300), max_size=12))
def test_folder_names_are_safe_and_unique(names: list[str]) -> None:
    chosen = disk_names(_refs(names))
    folded = [unicodedata.normalize("NFC", n).casefold() for n in chosen]
    assert len(set(folded)) == len(chosen)  # unique, even on a case-insensitive share
    assert "message.json" not in folded
    for name in chosen:
        _check_name(name, "x")  # readable back: raises if not a plain name
        assert len(name.encode()) <= 255


@given(
    st.lists(
        st.from_regex(r"[А-Яа-яЁё0-9_ -]{1,40}\.(pdf|sig|docx)", fullmatch=True),
        unique_by=str.casefold,
        max_size=8,
    )
)
def test_plain_unique_names_are_kept(names: list[str]) -> None:
    assert disk_names(_refs(names)) == names


def test_a_repeated_or_unusable_name_is_replaced() -> None:
    names = ["Письмо.pdf", "письмо.PDF", "../Письмо.pdf", "скан", "скан", "con.txt", "a:b"]
    assert disk_names(_refs(names)) == [
        "Письмо.pdf",
        "письмо-2.PDF",
        "Письмо-3.pdf",
        "скан",
        "скан-2",
        "file-f5",
        "a_b",
    ]


@given(ids)
def test_item_names_are_safe_and_stable(message_id: str) -> None:
    name = item_name(message_id)
    assert name == item_name(message_id)
    assert name[0].isalnum() and all(c.isalnum() or c in "._-" for c in name)
    assert (name == message_id) == all(c.isalnum() or c in "._-" for c in message_id)


def test_unknown_top_level_keys_are_refused() -> None:
    with pytest.raises(FormatError) as caught:
        parse_data({"format": "gateway-drop/1", "notification": {}, "extra": 1})
    assert caught.value.code == "format.invalid" and caught.value.message.startswith("extra:")


def test_nesting_too_deep_is_a_json_error_not_a_crash() -> None:
    with pytest.raises(FormatError) as caught:
        parse(b"[" * 100_000 + b"]" * 100_000)
    assert caught.value.code == "format.json"


def test_an_oversized_sidecar_is_refused_before_parsing() -> None:
    raw = json.dumps({"format": "gateway-drop/1", "pad": "я" * 3_000_000}).encode()
    with pytest.raises(FormatError) as caught:
        parse(raw)
    assert caught.value.code == "format.invalid" and "at most" in caught.value.message
