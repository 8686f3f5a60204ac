"""The folder sink: exports that arrive together are written together, whole or not at all."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

import gateway.handoff as handoff
from gateway.handoff import FolderSink
from gateway.store import durable
from gateway.store.api import Direction, MessageRecord, StoredFile
from gateway.store.sqlite import SqliteStore
from tests.unit.store.messages import new_message, stored


async def inbound(store: SqliteStore, contents: dict[str, bytes]) -> MessageRecord:
    files = []
    for n, (name, data) in enumerate(contents.items(), 1):
        ref = await store.blobs.put_bytes(data)
        files.append(StoredFile(f"f{n}", name, ref.sha256, ref.size))
    message = new_message(Direction.IN, files=tuple(files))
    await store.add_inbound(message, b"receipt", b"sig", actor="peer:ru-14")
    return await stored(store, message.message_id)


def exported(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


async def test_concurrent_exports_are_whole_and_share_their_syncs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    syncs: list[int] = []
    real_sync = durable.sync

    def counting(anchor: Path, paths: object) -> None:
        syncs.append(1)
        real_sync(anchor, paths)  # type: ignore[arg-type]

    monkeypatch.setattr(durable, "sync", counting)
    async with await SqliteStore.open(tmp_path / "data") as store:
        letters = [
            {"Письмо.pdf": os.urandom(100 * 1024), "Письмо.pdf.p7s": os.urandom(2048)}
            for _ in range(12)
        ]
        records = [await inbound(store, letter) for letter in letters]
        sink = FolderSink(tmp_path / "inbox")
        details = await asyncio.gather(*(sink.export(r, store.blobs) for r in records))

    for record, letter, detail in zip(records, letters, details, strict=True):
        folder = tmp_path / "inbox" / record.message_id
        assert detail == f"folder {folder}"
        assert exported(folder) == {
            "envelope.xml": record.envelope,
            "envelope.xml.p7s": record.signature,
            **letter,
        }
    assert not [p for p in (tmp_path / "inbox").iterdir() if p.name.startswith(".tmp-")]
    # Two syncs per batch (files, then renames); twelve exports took far fewer than 24.
    assert 2 <= len(syncs) < 2 * len(records)


async def test_one_failing_export_leaves_the_others_of_its_batch_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = handoff._write

    def failing(path: Path, data: bytes, *, sync: bool = True) -> None:
        if path.name == "broken.pdf":
            raise OSError(28, "No space left on device")
        real_write(path, data, sync=sync)

    monkeypatch.setattr(handoff, "_write", failing)
    async with await SqliteStore.open(tmp_path / "data") as store:
        good = await inbound(store, {"good.pdf": b"%PDF good"})
        bad = await inbound(store, {"broken.pdf": b"%PDF broken"})
        sink = FolderSink(tmp_path / "inbox")
        outcomes = await asyncio.gather(
            sink.export(good, store.blobs), sink.export(bad, store.blobs), return_exceptions=True
        )
        assert outcomes[0] == f"folder {tmp_path / 'inbox' / good.message_id}"
        assert isinstance(outcomes[1], OSError)
        names = sorted(p.name for p in (tmp_path / "inbox").iterdir())
        assert names == [good.message_id]  # nothing half-written, no staging left behind

        monkeypatch.setattr(handoff, "_write", real_write)  # the disk has room again
        again = await sink.export(bad, store.blobs)
        assert again == f"folder {tmp_path / 'inbox' / bad.message_id}"
        assert exported(tmp_path / "inbox" / bad.message_id)["broken.pdf"] == b"%PDF broken"
        assert await sink.export(good, store.blobs) == (
            f"already in {tmp_path / 'inbox' / good.message_id}"
        )
