"""The bridge: a failing adapter is reported by name and the others keep running; items are
settled only after the gateway committed them; a transient store failure settles nothing."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest

from adapters.api import AdapterError, Capabilities, Incoming, Package, Settlement, Taken
from gateway import identity, localnet
from gateway.bridge import AdapterHost, AdapterStatus, Hosted
from gateway.intake import Intake
from gateway.localnet import Member
from gateway.model import Document, FileRef, FileRole, Organization, Person, Registration
from gateway.store.api import SMALL_BLOB, Store
from gateway.store.sqlite.store import SqliteStore

SAKHA = Organization("Минстрой Республики Саха (Якутия)", inn="1435000001")


class Queue:
    """An adapter whose local system is a test: items in, settlements out."""

    name: ClassVar[str] = "queue"
    capabilities: ClassVar[Capabilities] = Capabilities(intake=True, export=True)
    recoverable_errors: ClassVar[tuple[type[BaseException], ...]] = ()

    @dataclass(frozen=True)
    class Config:
        pass

    def __init__(self, config: Any = None, context: Any = None) -> None:
        self.items: asyncio.Queue[Incoming] = asyncio.Queue()
        self.settled: asyncio.Queue[tuple[str, Settlement]] = asyncio.Queue()
        self.exports: list[str] = []

    def offer(self, ref: str, package: Package) -> None:
        async def settle(outcome: Settlement) -> None:
            await self.settled.put((ref, outcome))

        self.items.put_nowait(Incoming(ref, package, settle))

    async def intake(self) -> AsyncIterator[Incoming]:
        while True:
            yield await self.items.get()

    async def export(self, item: Any) -> str:
        self.exports.append(item.message.message_id)
        return "ok"

    def decode(self, source: Path) -> Package:
        raise NotImplementedError

    def encode(self, package: Package, target: Path) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        return None


class Broken(Queue):
    name: ClassVar[str] = "broken"

    async def intake(self) -> AsyncIterator[Incoming]:
        raise RuntimeError("the local database is gone")
        yield  # pragma: no cover

    async def export(self, item: Any) -> str:
        raise KeyError("no such folder")


def hosted(adapter: Queue, id: str) -> Hosted:
    return Hosted(adapter, AdapterStatus(id, adapter.name, "test", adapter.capabilities))


def letter(uid: str) -> Document:
    return Document(
        uid=uid,
        kind="Письмо",
        sender=Organization("Минстрой Ростовской области", inn="6163000001"),
        registration=Registration("01-12/1", dt.date(2026, 11, 20)),
        addressees=(Person(SAKHA),),
    )


@pytest.fixture
async def parts(tmp_path: Path) -> AsyncIterator[tuple[Store, Intake]]:
    ports = localnet.free_ports(2)
    nodes = localnet.build(
        tmp_path / "net",
        [Member("ru-61", "Ростов", "6163000001", ports[0]),
         Member("ru-14", "Саха", "1435000001", ports[1])],
    )  # fmt: skip
    me = identity.load(nodes["ru-61"].config)
    store = await SqliteStore.open(tmp_path / "var")
    intake = Intake(store, me.signer, me.router, "ru-61", me.config.retry)
    yield store, intake
    await store.close()


async def test_a_failing_adapter_is_named_and_the_others_keep_taking(
    parts: tuple[Store, Intake],
) -> None:
    store, intake = parts
    good, bad = Queue(), Broken()
    host = AdapterHost([hosted(bad, "delo"), hosted(good, "drop")], store, intake)
    stop = asyncio.Event()
    running = asyncio.create_task(host.run(stop))
    try:
        good.offer("item-1", Package(letter("doc-1")))
        ref, outcome = await asyncio.wait_for(good.settled.get(), 10)
        assert ref == "item-1" and isinstance(outcome, Taken) and len(outcome.message_ids) == 1
        record = await store.get(outcome.message_ids[0])
        assert record is not None and record.peer == "ru-14" and record.document_uid == "doc-1"
        # the same item offered again (a crash before the local system heard): nothing new
        good.offer("item-1", Package(letter("doc-1")))
        _, again = await asyncio.wait_for(good.settled.get(), 10)
        assert again == outcome
        broken = host.hosted["delo"].status
        assert broken.failures >= 1 and "the local database is gone" in (broken.last_error or "")
        assert host.hosted["drop"].status.taken == 2 and host.hosted["drop"].status.failures == 0
        assert await store.get_correlation("origin", "doc-1") == "drop"
    finally:
        stop.set()
        await asyncio.wait_for(running, 10)  # stops promptly while waiting for items


async def test_an_export_failure_is_an_adapter_error_with_the_adapters_name(
    parts: tuple[Store, Intake],
) -> None:
    store, intake = parts
    bad = Broken()
    host = AdapterHost([hosted(bad, "delo")], store, intake)
    (record,) = await intake.submit(letter("doc-2"))
    with pytest.raises(AdapterError) as caught:
        await host.export(record, store.blobs)
    assert "adapter 'delo' failed to export a message: KeyError" in caught.value.message
    status = host.hosted["delo"].status
    assert status.exported == 0 and status.failures == 1
    assert status.as_json()["last_error"].startswith("export a message")


class Keeps(Queue):
    """Reads what it is given while it exports, as an adapter copying files would."""

    name: ClassVar[str] = "keeps"

    def __init__(self, config: Any = None, context: Any = None) -> None:
        super().__init__(config, context)
        self.given: dict[str, tuple[Path, bytes]] = {}

    async def export(self, item: Any) -> str:
        self.given = {k: (p, p.read_bytes()) for k, p in item.package.files.items()}
        return "ok"


async def test_an_adapter_gets_every_file_as_a_local_path_and_the_copies_go_afterwards(
    parts: tuple[Store, Intake], tmp_path: Path
) -> None:
    store, intake = parts
    contents = {"f1": b"%PDF small letter", "f2": b"\x30\x82 signature", "f3": os.urandom(SMALL_BLOB + 1)}
    refs = []
    for file_id, data in contents.items():
        blob = await store.blobs.put_bytes(data)
        refs.append(FileRef(file_id, FileRole.ATTACHMENT, f"{file_id}.bin",
                            "application/octet-stream", blob.size, blob.sha256))  # fmt: skip
    (record,) = await intake.submit(dataclasses.replace(letter("doc-3"), files=tuple(refs)))
    adapter = Keeps()
    spool = tmp_path / "spool"
    host = AdapterHost([hosted(adapter, "drop")], store, intake, spool=spool)

    assert await host.export(record, store.blobs) == "drop: ok"

    assert {k: data for k, (_, data) in adapter.given.items()} == contents
    # Small files were kept in the database: copied into the spool, removed once exported.
    assert all(adapter.given[k][0].is_relative_to(spool) for k in ("f1", "f2"))
    assert not any(path.exists() for path, _ in (adapter.given["f1"], adapter.given["f2"]))
    assert list(spool.iterdir()) == []
    # The large one is a blob file and is given as it is.
    assert adapter.given["f3"][0] == store.blobs.local_path(refs[2].sha256)
