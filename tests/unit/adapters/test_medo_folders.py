"""The МЭДО adapter against real folders: intake from the client's outgoing folder, export
into its incoming folder, configuration, and discovery by name."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from adapters.api import Incoming, Package, Refused, Taken
from adapters.medo import MedoAdapter, envelope_ini
from adapters.registry import build_config, resolve
from adapters.testing import outgoing
from gateway.errors import ConfigError
from gateway.model import Document, Notification, NotificationKind
from tests.unit.adapters.test_medo_fixtures import container_folder
from tests.unit.adapters.test_medo_support import adapter, copy_sample, letter, notices


def _aged(folder: Path) -> Path:
    """Make a dropped folder look quiet (written a minute ago)."""
    past = time.time() - 60
    for path in [*folder.rglob("*"), folder]:
        os.utime(path, (past, past))
    return folder


async def _take(stream: object, count: int) -> list[Incoming]:
    items = []
    for _ in range(count):
        items.append(await stream.__anext__())  # type: ignore[attr-defined]
    return items


async def test_intake_takes_good_folders_and_refuses_bad_ones(tmp_path: Path) -> None:
    medo = adapter(tmp_path, quiet=0.5, poll_interval=0.01)
    out = medo.config.outgoing
    out.mkdir(parents=True)
    _aged(copy_sample("doc-2.6", out / "a-letter"))
    _aged(container_folder(out / "b-container"))
    broken = copy_sample("doc-2.6", out / "c-broken")
    (broken / "Схема.tif").unlink()
    _aged(broken)
    copy_sample("doc-2.7.1", out / "d-still-being-written")  # not quiet yet: left alone

    stream = medo.intake()
    try:
        letter_item, container_item, broken_item = await _take(stream, 3)
    finally:
        await stream.aclose()  # type: ignore[attr-defined]

    assert letter_item.local_ref == "a-letter" and letter_item.package is not None
    assert isinstance(letter_item.package.payload, Document)
    assert container_item.package is not None
    scratch = [p for p in (out / ".processing").iterdir() if p.name.startswith(".")]
    assert scratch, "the container was extracted next to its folder"
    assert broken_item.package is None and broken_item.problem is not None
    assert broken_item.problem.code == "format.missing_file"

    await letter_item.settle(Taken(("m-1",)))
    await container_item.settle(Taken(("m-2",)))
    await broken_item.settle(Refused(broken_item.problem.code, broken_item.problem.message))

    assert sorted(p.name for p in (out / "processed").iterdir()) == ["a-letter", "b-container"]
    assert sorted(p.name for p in (out / "failed").iterdir()) == [
        "c-broken",
        "c-broken.error.txt",
    ]
    note = (out / "failed" / "c-broken.error.txt").read_text("utf-8")
    assert "format.missing_file" in note and "Схема.tif" in note
    assert list((out / ".processing").iterdir()) == [], "scratch folders are removed on settling"
    assert (out / "d-still-being-written").is_dir()


async def test_export_writes_one_folder_per_message_once(tmp_path: Path) -> None:
    medo = adapter(tmp_path, addressee="MINCIFRA~RO61")
    item = outgoing(letter(tmp_path / "letter"))
    first = await medo.export(item)
    folder = medo.config.incoming / item.message.message_id
    assert first == f"МЭДО folder {folder}"
    snapshot = sorted((p, p.stat().st_mtime_ns) for p in medo.config.incoming.rglob("*"))
    second = await medo.export(item)
    assert second.endswith("(written before)")
    assert sorted((p, p.stat().st_mtime_ns) for p in medo.config.incoming.rglob("*")) == snapshot
    envelope = envelope_ini.read(folder / "envelope.ini")
    assert envelope.addressees == ("MINCIFRA~RO61",)
    assert envelope.signed
    package = medo.decode(folder)
    assert package.context["medo.header_uid"] == item.message.message_id
    await medo.close()


async def test_a_received_notice_is_exported_as_the_acknowledgment_of_the_clients_message(
    tmp_path: Path,
) -> None:
    medo = adapter(tmp_path)
    received = notices()[4]
    kept = {"medo.header_uid": "0f6a1e36-5d3b-4f7c-9b1e-2a7c4e8d9f10"}  # from the intake
    item = outgoing(Package(received.payload, {}, kept))
    await medo.export(item)
    back = medo.decode(medo.config.incoming / item.message.message_id).payload
    assert isinstance(back, Notification)
    assert back.kind is NotificationKind.RECEIVED
    assert back.message_id == kept["medo.header_uid"]


def test_the_registry_finds_the_adapter_and_builds_its_config(tmp_path: Path) -> None:
    described = resolve("medo")
    assert described.cls is MedoAdapter
    assert described.summary.startswith("МЭДО:")
    config = build_config(
        described,
        {
            "outgoing": "medo/out",
            "incoming": "medo/in",
            "version": "2.7.1",
            "container": True,
            "charset": "windows-1251",
            "max_expansion_ratio": 50,
        },
        base_dir=tmp_path,
    )
    assert config.outgoing == tmp_path / "medo" / "out"
    assert config.max_expansion_ratio == 50.0
    medo = adapter(tmp_path, version="2.7.1", container=True, charset="cp1251")
    assert medo.options.charset == "windows-1251"


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"version": "3.0"}, "adapters.version"),
        ({"version": "2.6", "container": True}, "adapters.container"),
        ({"charset": "koi8-r"}, "adapters.charset"),
        ({"max_expansion_ratio": 0.5}, "adapters.max_container_bytes"),
        ({"addressee": "not an address"}, "adapters.addressee"),
    ],
)
def test_bad_configuration_is_refused_at_start(
    tmp_path: Path, options: dict[str, object], key: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        adapter(tmp_path, **options)
    assert caught.value.key == key
