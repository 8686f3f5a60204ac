"""The folder sink: exports that arrive together are written together, whole or not at all."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

import gateway.handoff as handoff
from gateway.handoff import FolderSink, HandoffWorker
from gateway.store import durable
from gateway.store.api import Direction, MessageRecord, State, StoredFile
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


async def test_files_renamed_only_after_their_sync_and_reported_after_the_renames_sync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []
    real_sync, real_rename = durable.sync, os.rename

    def sync(anchor: Path, paths: object) -> None:
        listed = list(paths)  # type: ignore[call-overload]
        events.append("sync root" if listed == [anchor] else f"sync {len(listed)} paths")
        real_sync(anchor, listed)

    def rename(source: Path, target: Path) -> None:
        events.append("rename")
        real_rename(source, target)

    monkeypatch.setattr(durable, "sync", sync)
    monkeypatch.setattr(handoff.os, "rename", rename)
    async with await SqliteStore.open(tmp_path / "data") as store:
        records = [await inbound(store, {"a.pdf": os.urandom(1000)}) for _ in range(3)]
        sink = FolderSink(tmp_path / "inbox")
        await asyncio.gather(*(sink.export(r, store.blobs) for r in records))
    renames = [i for i, e in enumerate(events) if e == "rename"]
    assert len(renames) == 3
    # Each rename comes after a sync of staged files, and a sync of the folder follows the last.
    assert all(any(e.endswith("paths") for e in events[:i]) for i in renames)
    assert "sync root" in events[renames[-1] :]


async def test_a_letter_over_the_memory_budget_is_streamed_and_arrives_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(handoff, "WHOLE_BUDGET", 300 * 1024)
    read_whole: list[int] = []
    async with await SqliteStore.open(tmp_path / "data") as store:
        real_small = store.blobs.small

        async def small(sha256s: list[str]) -> dict[str, bytes]:
            found = await real_small(sha256s)
            read_whole.append(sum(len(v) for v in found.values()))
            return found

        monkeypatch.setattr(store.blobs, "small", small)
        letter = {f"part-{n}.pdf": os.urandom(200 * 1024) for n in range(4)}
        record = await inbound(store, letter)
        folder = tmp_path / "inbox" / record.message_id
        assert await FolderSink(tmp_path / "inbox").export(record, store.blobs) == (
            f"folder {folder}"
        )
    assert read_whole == [200 * 1024]  # one file fitted the budget, three were streamed
    assert exported(folder) == {
        "envelope.xml": record.envelope,
        "envelope.xml.p7s": record.signature,
        **letter,
    }


def test_file_names_never_collide_even_case_folded() -> None:
    record = new_message(
        Direction.IN,
        files=(
            StoredFile("f1", "Envelope.XML", "ab" * 32, 1),
            StoredFile("f2", "Doc.pdf", "cd" * 32, 1),
            StoredFile("f3", "doc.pdf", "ef" * 32, 1),
        ),
    )
    names = handoff._file_names(record)  # type: ignore[arg-type]
    folded = [n.casefold() for n in [*names, "envelope.xml", "envelope.xml.p7s"]]
    assert len(set(folded)) == len(folded)
    assert names[1] == "Doc.pdf"


class GatedSink:
    """Exports instantly, except those told to wait; remembers what it held at each start."""

    name = "gated"

    def __init__(self, *, wait_for: frozenset[str] = frozenset(), pause: float = 0.0) -> None:
        self.wait_for, self.pause = wait_for, pause
        self.release = asyncio.Event()
        self.exported: list[str] = []
        self.inflight: dict[str, int] = {}  # message id -> weight, while its export runs
        self.peaks: list[dict[str, int]] = []

    async def export(self, record: MessageRecord, blobs: object) -> str:
        self.inflight[record.message_id] = handoff._weight(record)
        self.peaks.append(dict(self.inflight))
        try:
            if record.message_id in self.wait_for:
                await self.release.wait()
            await asyncio.sleep(self.pause)
        finally:
            del self.inflight[record.message_id]
        self.exported.append(record.message_id)
        return f"gated {record.message_id}"


async def states(store: SqliteStore, ids: list[str]) -> list[State]:
    return [(await stored(store, i)).state for i in ids]


async def until(condition: Callable[[], Awaitable[bool]], timeout: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_a_slow_export_does_not_hold_back_the_messages_behind_it(tmp_path: Path) -> None:
    async with await SqliteStore.open(tmp_path / "data") as store:
        ids = [(await inbound(store, {"a.txt": os.urandom(100)})).message_id for _ in range(6)]
        sink = GatedSink(wait_for=frozenset({ids[0]}))  # the oldest, so it is claimed first
        worker = HandoffWorker(store, sink, owner="test", batch=2, parallel=4, idle=0.05)
        stop = asyncio.Event()
        running = asyncio.create_task(worker.run(stop))
        # Rounds of two would wait for the first round (the stuck export) before claiming
        # more; a pipeline keeps claiming while it waits.
        await until(lambda: _all_handed_off(store, ids[1:]))
        assert await states(store, ids[:1]) == [State.ACCEPTED]
        sink.release.set()
        await until(lambda: _all_handed_off(store, ids))
        stop.set()
        await running
    assert sorted(sink.exported) == sorted(ids) and sink.exported[-1] == ids[0]


async def _all_handed_off(store: SqliteStore, ids: list[str]) -> bool:
    return set(await states(store, ids)) == {State.HANDED_OFF}


async def test_stopping_lets_the_exports_in_flight_finish_and_be_marked(tmp_path: Path) -> None:
    async with await SqliteStore.open(tmp_path / "data") as store:
        message_id = (await inbound(store, {"a.txt": b"text"})).message_id
        sink = GatedSink(wait_for=frozenset({message_id}))
        worker = HandoffWorker(store, sink, owner="test", idle=0.05)
        stop = asyncio.Event()
        running = asyncio.create_task(worker.run(stop))
        await until(lambda: asyncio.sleep(0, bool(sink.inflight)))
        stop.set()
        await asyncio.sleep(0.1)
        assert not running.done()  # SIGTERM drains: the export is not abandoned half-way
        sink.release.set()
        await asyncio.wait_for(running, 10)
        assert await states(store, [message_id]) == [State.HANDED_OFF]


async def test_exports_in_flight_hold_no_more_than_the_memory_budget(tmp_path: Path) -> None:
    async with await SqliteStore.open(tmp_path / "data") as store:
        small = [await inbound(store, {"a.pdf": os.urandom(100 * 1024)}) for _ in range(6)]
        large = await inbound(store, {"big.pdf": os.urandom(250 * 1024)})
        budget = handoff._weight(small[0]) * 2 + 1000  # room for two small letters at a time
        assert handoff._weight(large) > budget
        sink = GatedSink(pause=0.02)
        worker = HandoffWorker(store, sink, owner="test", parallel=8, memory=budget, idle=0.05)
        stop = asyncio.Event()
        running = asyncio.create_task(worker.run(stop))
        ids = [r.message_id for r in [*small, large]]
        await until(lambda: _all_handed_off(store, ids))
        stop.set()
        await running
    assert all(sum(held.values()) <= budget for held in sink.peaks if len(held) > 1)
    assert max(len(held) for held in sink.peaks) == 2  # the budget, not the count, held them
    assert [held for held in sink.peaks if large.message_id in held] == [
        {large.message_id: handoff._weight(large)}  # larger than the budget: it went alone
    ]


async def test_an_export_that_outlasts_its_lease_keeps_it_and_runs_once(tmp_path: Path) -> None:
    """An export that takes over three leases' time (a stalled share): its worker renews the
    lease while the export runs, also while the worker stops (SIGTERM lets exports finish), so
    another worker does not start the export a second time alongside it."""
    lease = dt.timedelta(seconds=0.6)
    async with await SqliteStore.open(tmp_path / "data") as store:
        message_id = (await inbound(store, {"a.txt": b"text"})).message_id
        sink = GatedSink(pause=2.0)
        first, second = [
            HandoffWorker(store, sink, owner=f"node-{n}", lease=lease, idle=0.02) for n in (1, 2)
        ]
        stop_first, stop_second = asyncio.Event(), asyncio.Event()
        running = [asyncio.create_task(first.run(stop_first))]
        try:
            await until(lambda: asyncio.sleep(0, bool(sink.peaks)))
            running.append(asyncio.create_task(second.run(stop_second)))
            stop_first.set()  # the first drains: its export, and its renewals, go on
            await until(lambda: _all_handed_off(store, [message_id]))
        finally:
            stop_first.set()
            stop_second.set()
            await asyncio.gather(*running)  # every export started has finished
    assert len(sink.peaks) == 1  # one export started
    assert sink.exported == [message_id]
