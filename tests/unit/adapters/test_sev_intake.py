"""The sev adapter against real folders: ДЕЛО's outgoing folder in, its incoming folder out."""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import cast

from lxml import etree

from adapters import registry
from adapters.api import Incoming, Package, Refused, Taken
from adapters.sev import SevAdapter, SevConfig
from adapters.testing import MemoryContext, outgoing
from gateway.model import Document, FileRole, Notification

SAMPLES = Path(__file__).parent / "samples" / "sev"
NS = {"s": "http://www.eos.ru/2010/sev"}


def make(root: Path) -> SevAdapter:
    config = SevConfig(root / "outgoing", root / "incoming", poll_interval=0.01, quiet=0.0)
    return SevAdapter(config, MemoryContext(root / "work"))


def drop(source: Path, outgoing_folder: Path, name: str) -> Path:
    """Put a package into ДЕЛО's outgoing folder as ДЕЛО would, and let it settle."""
    outgoing_folder.mkdir(parents=True, exist_ok=True)
    target = outgoing_folder / name
    if source.is_dir():
        shutil.copytree(source, target)
    else:
        shutil.copyfile(source, target)
    past = time.time() - 60
    for path in (target, *target.rglob("*")):
        os.utime(path, (past, past))
    return target


async def test_a_package_taken_moves_to_processed(tmp_path: Path) -> None:
    adapter = make(tmp_path)
    drop(SAMPLES / "letter", tmp_path / "outgoing", "письмо-345")
    items = cast(AsyncGenerator[Incoming, None], adapter.intake())
    try:
        item = await anext(items)
    finally:
        await items.aclose()

    assert item.local_ref == "письмо-345"
    assert item.problem is None and item.package is not None
    doc = item.package.payload
    assert isinstance(doc, Document) and doc.registration is not None
    assert doc.registration.number == "01-12/345"
    processing = tmp_path / "outgoing" / ".processing" / "письмо-345"
    assert all(path.parent == processing for path in item.package.files.values())
    assert [f.role for f in doc.files].count(FileRole.SIGNATURE) == 2

    await item.settle(Taken(("m-1",)))

    assert (tmp_path / "outgoing" / "processed" / "письмо-345" / "DocInfo.xml").is_file()
    assert not processing.exists()


async def test_a_bad_package_is_refused_to_failed_with_a_note(tmp_path: Path) -> None:
    adapter = make(tmp_path)
    package = drop(SAMPLES / "letter", tmp_path / "outgoing", "без-подписи")
    (package / "Приложение_1.docx.sig").unlink()
    items = cast(AsyncGenerator[Incoming, None], adapter.intake())
    try:
        item = await anext(items)
    finally:
        await items.aclose()

    assert item.package is None and item.problem is not None
    assert item.problem.code == "format.missing_signature"

    await item.settle(Refused(item.problem.code, item.problem.message))

    failed = tmp_path / "outgoing" / "failed"
    assert (failed / "без-подписи" / "DocInfo.xml").is_file()
    note = (failed / "без-подписи.error.txt").read_text(encoding="utf-8")
    assert "code: format.missing_signature" in note
    assert "Приложение_1.docx.sig" in note


async def test_a_lone_report_file_is_taken_too(tmp_path: Path) -> None:
    adapter = make(tmp_path)
    drop(SAMPLES / "refused-report.xml", tmp_path / "outgoing", "отказ.xml")
    items = cast(AsyncGenerator[Incoming, None], adapter.intake())
    try:
        item = await anext(items)
    finally:
        await items.aclose()

    assert item.package is not None and isinstance(item.package.payload, Notification)
    await item.settle(Taken(()))
    assert (tmp_path / "outgoing" / "processed" / "отказ.xml").is_file()


async def test_export_writes_a_docinfo_package_named_by_the_message_id(tmp_path: Path) -> None:
    adapter = make(tmp_path)
    package = adapter.decode(SAMPLES / "letter")
    item = outgoing(Package(package.payload, package.files))

    said = await adapter.export(item)
    again = await adapter.export(item)

    folder = tmp_path / "incoming" / item.message.message_id
    assert said == f"ДЕЛО folder {folder}" and again.startswith("already in")
    assert sorted(p.name for p in folder.iterdir()) == [
        "DocInfo.xml",
        "Письмо о сотрудничестве.pdf",
        "Письмо_01-12-345.pdf.sig",
        "План мероприятий.docx",
        "Приложение_1.docx.sig",
    ]
    header = etree.parse(str(folder / "DocInfo.xml")).getroot().find("s:Header", NS)
    assert header is not None
    # ДЕЛО's reports will name the gateway message: that is how they find their way back.
    assert header.get("MessageID") == header.get("ReturnID") == item.message.message_id
    assert [p.name for p in (tmp_path / "incoming").iterdir()] == [item.message.message_id]
    back = adapter.decode(folder)
    assert back.payload == package.payload


async def test_a_message_id_unfit_for_a_folder_name_is_hashed(tmp_path: Path) -> None:
    adapter = make(tmp_path)
    item = outgoing(adapter.decode(SAMPLES / "registered"))
    item = dataclasses.replace(item, message=dataclasses.replace(item.message, message_id="../x y"))

    said = await adapter.export(item)

    [folder] = (tmp_path / "incoming").iterdir()
    assert folder.name.startswith("msg-") and len(folder.name) == 44
    assert said == f"ДЕЛО folder {folder}"


def test_the_registry_finds_sev_and_types_its_options(tmp_path: Path) -> None:
    described = registry.resolve("sev")
    assert described.cls is SevAdapter and described.origin == "built-in"
    assert described.summary.startswith("EOS «ДЕЛО» through its СЭВ exchange folders")

    config = registry.build_config(
        described,
        {
            "outgoing": "delo/out",
            "incoming": "/srv/delo/in",
            "quiet": 2,
            "utc_offset": 9,
            "organization": "Минэкономики РС(Я)",
            "organization_uid": "9E2D47A1",
        },
        base_dir=tmp_path,
    )

    assert config == SevConfig(
        outgoing=tmp_path / "delo" / "out",
        incoming=Path("/srv/delo/in"),
        quiet=2.0,
        utc_offset=9.0,
        organization="Минэкономики РС(Я)",
        organization_uid="9E2D47A1",
    )
