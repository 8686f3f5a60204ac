"""gateway/receiver.py without HTTP: the order of the checks, seen through the parts it reads.

(It lives beside the transport tests, whose harness it shares.)
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from gateway.errors import GatewayError
from gateway.receipts import decode_error, decode_receipt
from gateway.receiver import Inbound, Receiver
from gateway.store.api import Direction
from gateway.store.blobs import FilesystemBlobStore
from gateway.store.sqlite import SqliteStore
from gateway.transport.wire import Limits
from tests.unit.store.messages import new_message
from tests.unit.transport.harness import (
    MemoryStore,
    Network,
    blob_files,
    letter,
    memory_store,
    outbound,
)

PDF = os.urandom(300_000)


@dataclass
class FakePart:
    content_id: str | None
    data: bytes
    size: int | None = None
    reads: int = 0
    offset: int = 0

    async def read_chunk(self, size: int) -> bytes:
        self.reads += 1
        piece = self.data[self.offset : self.offset + min(size, 65536)]
        self.offset += len(piece)
        return piece


@dataclass
class Parts:
    """The parts of one request, recording how far the receiver got."""

    parts: Sequence[FakePart]
    handed: list[str | None] = field(default_factory=list)

    def __aiter__(self) -> AsyncIterator[FakePart]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[FakePart]:
        for part in self.parts:
            self.handed.append(part.content_id)
            yield part


@pytest.fixture()
def store(tmp_path: Path) -> MemoryStore:
    return memory_store(tmp_path / "ru-14")


@pytest.fixture()
def receiver(network: Network, store: MemoryStore) -> Receiver:
    return Receiver("ru-14", network.signers["ru-14"], network.trust, store)  # type: ignore[arg-type]


async def request_parts(
    network: Network, tmp_path: Path, **letter_options: object
) -> tuple[Parts, str]:
    signer = letter_options.pop("signer", None)
    message = letter([("f1", PDF)], **letter_options)  # type: ignore[arg-type]
    record = await outbound(
        network, FilesystemBlobStore(tmp_path / "a"), message, [PDF], signer=signer
    )  # type: ignore[arg-type]
    return (
        Parts(
            [
                FakePart("envelope", record.envelope),
                FakePart("envelope.p7s", record.signature),
                FakePart("f1", PDF),
            ]
        ),
        message.message_id,
    )


async def test_a_message_is_stored_with_the_receipt_it_got(
    network: Network, tmp_path: Path, receiver: Receiver, store: MemoryStore
) -> None:
    parts, message_id = await request_parts(network, tmp_path)
    inbound = Inbound()
    answer = await receiver.receive(aiter(parts), inbound)
    assert (inbound.message_id, inbound.sender) == (message_id, "ru-61")
    assert not answer.duplicate
    network.trust.verify_from("ru-14", answer.document, answer.signature)
    record = store.records[message_id]
    assert (record.direction, record.peer, record.receipt) == (
        Direction.IN,
        "ru-61",
        answer.document,
    )
    assert decode_receipt(answer.document).files[0].sha256 == record.files[0].sha256


async def test_a_forged_sender_never_gets_a_file_part_read(
    network: Network, tmp_path: Path, receiver: Receiver, store: MemoryStore
) -> None:
    parts, _ = await request_parts(network, tmp_path, signer="ru-16")
    inbound = Inbound()
    with pytest.raises(GatewayError) as info:
        await receiver.receive(aiter(parts), inbound)
    assert info.value.code == "signature.sender_mismatch"
    assert parts.handed == ["envelope", "envelope.p7s"]  # the file part was never even asked for
    assert parts.parts[2].reads == 0
    assert inbound.message_id is None  # nothing the envelope claims is believed
    assert blob_files(store.blobs.root) == []


async def test_a_duplicate_is_answered_before_its_files_are_read(
    network: Network, tmp_path: Path, receiver: Receiver, store: MemoryStore
) -> None:
    parts, _ = await request_parts(network, tmp_path)
    first = await receiver.receive(aiter(parts))
    again = Parts([FakePart(p.content_id, p.data) for p in parts.parts])
    second = await receiver.receive(aiter(again))
    assert second.duplicate and (second.document, second.signature) == (
        first.document,
        first.signature,
    )
    assert again.handed == ["envelope", "envelope.p7s"]
    assert store.add_calls == 1


async def test_a_small_letter_is_not_looked_up_unless_it_is_refused(
    network: Network, tmp_path: Path, receiver: Receiver, store: MemoryStore
) -> None:
    small = os.urandom(200_000)  # the whole letter under SMALL_BLOB
    record = await outbound(
        network, FilesystemBlobStore(tmp_path / "a"), letter([("f1", small)]), [small]
    )

    def request() -> Parts:
        return Parts(
            [
                FakePart("envelope", record.envelope),
                FakePart("envelope.p7s", record.signature),
                FakePart("f1", small),
            ]
        )

    first = await receiver.receive(aiter(request()))
    again = await receiver.receive(aiter(request()))  # answered by the commit, which keeps one
    assert again.duplicate and again.document == first.document
    assert (store.get_calls, store.add_calls, list(store.records)) == (0, 2, [record.message_id])
    # Sixty days on, the repeat is outside the replay window: the store is asked, and the
    # original receipt still comes back.
    receiver._clock = lambda: dt.datetime.now(dt.UTC) + dt.timedelta(days=60)
    late = request()
    old = await receiver.receive(aiter(late))
    assert old.duplicate and old.document == first.document
    assert (store.get_calls, store.add_calls) == (1, 2)
    assert late.handed == ["envelope", "envelope.p7s"]


async def test_a_duplicate_that_loses_the_race_to_commit_gets_the_winners_receipt(
    network: Network,
    tmp_path: Path,
    receiver: Receiver,
    store: MemoryStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    parts, message_id = await request_parts(network, tmp_path)
    first = await receiver.receive(aiter(parts))

    async def not_yet(message_id: str) -> None:  # both requests looked before either committed
        return None

    monkeypatch.setattr(store, "get", not_yet)
    again = Parts([FakePart(p.content_id, p.data) for p in parts.parts])
    second = await receiver.receive(aiter(again))
    assert second.duplicate and (second.document, second.signature) == (
        first.document,
        first.signature,
    )
    assert store.add_calls == 2 and list(store.records) == [message_id]


async def test_on_accepted_is_called_for_new_messages_only(
    network: Network, tmp_path: Path, store: MemoryStore
) -> None:
    calls: list[int] = []
    receiver = Receiver(
        "ru-14",
        network.signers["ru-14"],
        network.trust,
        store,
        on_accepted=lambda: calls.append(1),  # type: ignore[arg-type]
    )
    parts, _ = await request_parts(network, tmp_path)
    await receiver.receive(aiter(parts))
    await receiver.receive(aiter(Parts([FakePart(p.content_id, p.data) for p in parts.parts])))
    assert calls == [1]


async def test_a_declared_oversized_envelope_is_refused_unread(
    network: Network, store: MemoryStore
) -> None:
    receiver = Receiver(
        "ru-14",
        network.signers["ru-14"],
        network.trust,
        store,
        limits=Limits(max_envelope_bytes=1000),  # type: ignore[arg-type]
    )
    envelope = FakePart("envelope", b"<" * 5000, size=5000)
    with pytest.raises(GatewayError) as info:
        await receiver.receive(aiter(Parts([envelope])))
    assert (info.value.code, info.value.http_status) == ("request.part_too_large", 413)
    assert envelope.reads == 0


async def test_the_replay_window_follows_the_limits(
    network: Network, tmp_path: Path, store: MemoryStore
) -> None:
    now = dt.datetime.now(dt.UTC)
    receiver = Receiver(
        "ru-14",
        network.signers["ru-14"],
        network.trust,
        store,  # type: ignore[arg-type]
        limits=Limits(max_age=dt.timedelta(days=2), clock_skew=dt.timedelta(seconds=30)),
        clock=lambda: now,
    )
    parts, _ = await request_parts(network, tmp_path, created=now - dt.timedelta(days=1))
    await receiver.receive(aiter(parts))
    for created, code in (
        (now - dt.timedelta(days=3), "envelope.too_old"),
        (now + dt.timedelta(minutes=1), "envelope.from_future"),
    ):
        parts, _ = await request_parts(network, tmp_path, created=created)
        with pytest.raises(GatewayError) as info:
            await receiver.receive(aiter(parts))
        assert info.value.code == code
        assert parts.parts[2].reads == 0


async def test_too_many_files_are_refused_from_the_manifest(
    network: Network, tmp_path: Path, store: MemoryStore
) -> None:
    receiver = Receiver(
        "ru-14", network.signers["ru-14"], network.trust, store, limits=Limits(max_files=1)
    )  # type: ignore[arg-type]
    message = letter([("f1", b"a"), ("f2", b"b")])
    record = await outbound(network, FilesystemBlobStore(tmp_path / "a"), message, [b"a", b"b"])
    parts = Parts(
        [FakePart("envelope", record.envelope), FakePart("envelope.p7s", record.signature)]
    )
    with pytest.raises(GatewayError) as info:
        await receiver.receive(aiter(parts))
    assert (info.value.code, info.value.http_status) == ("request.too_many_parts", 413)


def test_a_refusal_is_a_signed_error_document_a_peer_can_read(
    network: Network, receiver: Receiver
) -> None:
    error = GatewayError("bad \x00 byte\x1b[31m and more" + "x" * 5000, code="file.digest_mismatch")
    answer = receiver.refusal(error, message_id="msg-1")
    network.trust.verify_from("ru-14", answer.document, answer.signature)
    report = decode_error(answer.document)
    assert (report.code, report.sender, report.message_id) == (
        "file.digest_mismatch",
        "ru-14",
        "msg-1",
    )
    assert "\x00" not in report.message and "\x1b" not in report.message
    assert len(report.message) <= 2000


async def test_a_signature_backdated_beyond_the_window_is_refused(
    network: Network, store: MemoryStore
) -> None:
    # ru-61's old certificate expired 40 days ago; its key signs a fresh envelope (Created now)
    # but writes a signing time from when the certificate was still valid.
    from gateway import envelope as codec
    from gateway.crypto import TrustPolicy, TrustStore, issue_certificate, new_ca
    from tests.unit.crypto.conftest import Party
    from tests.unit.crypto.helpers import signed_at

    now = dt.datetime.now(dt.UTC)
    ca, ca_key = new_ca(not_before=now - dt.timedelta(days=200))
    old_cert, old_key = issue_certificate(
        ca, ca_key, "ru-61", "Gateway ru-61", not_before=now - dt.timedelta(days=100), days=60
    )
    trust = TrustPolicy(
        TrustStore([ca]), {"ru-61": [old_cert], "ru-14": [network.signers["ru-14"].certificate]}
    )
    data = codec.encode(letter(created=now))
    backdated = signed_at(Party(old_cert, old_key, "ecdsa"), data, now - dt.timedelta(days=60))
    receiver = Receiver("ru-14", network.signers["ru-14"], trust, store,  # type: ignore[arg-type]
                        limits=Limits(max_age=dt.timedelta(days=30)))  # fmt: skip
    parts = Parts([FakePart("envelope", data), FakePart("envelope.p7s", backdated)])
    with pytest.raises(GatewayError) as info:
        await receiver.receive(aiter(parts))
    assert info.value.code == "signature.too_old"
    assert not store.records  # nothing recorded


async def test_small_files_are_committed_with_the_message_in_one_write(
    network: Network, tmp_path: Path
) -> None:
    """A letter's small files cost no write of their own: the message, its files, its receipt
    and its audit record are one operation of the store's writer; a large one still streams."""
    small, signature, large = os.urandom(100 * 1024), os.urandom(2048), PDF
    message = letter([("f1", small), ("s1", signature), ("big", large)])
    record = await outbound(
        network, FilesystemBlobStore(tmp_path / "a"), message, [small, signature, large]
    )
    parts = [("envelope", record.envelope), ("envelope.p7s", record.signature),
             ("f1", small), ("s1", signature), ("big", large)]  # fmt: skip
    async with await SqliteStore.open(tmp_path / "b") as store:
        receiver = Receiver("ru-14", network.signers["ru-14"], network.trust, store)
        before = store.writer_stats.operations
        await receiver.receive(aiter(Parts([FakePart(c, d) for c, d in parts])), Inbound())
        # The large file streamed to a file of its own; everything else is one write.
        assert store.writer_stats.operations - before == 1
    async with await SqliteStore.open(tmp_path / "b") as store:  # durable, read from disk
        stored = await store.get(message.message_id)
        assert stored is not None
        for file, data in zip(stored.files, (small, signature, large), strict=True):
            assert b"".join([c async for c in store.blobs.read(file.sha256)]) == data


async def test_a_small_file_that_does_not_match_is_refused_before_the_next_part(
    network: Network, tmp_path: Path, receiver: Receiver, store: MemoryStore
) -> None:
    small, other = os.urandom(4096), os.urandom(4096)
    message = letter([("f1", small), ("f2", other)])
    record = await outbound(network, FilesystemBlobStore(tmp_path / "a"), message, [small, other])
    corrupted = bytes([small[0] ^ 1]) + small[1:]
    parts = Parts([FakePart("envelope", record.envelope),
                   FakePart("envelope.p7s", record.signature),
                   FakePart("f1", corrupted), FakePart("f2", other)])  # fmt: skip
    with pytest.raises(GatewayError) as info:
        await receiver.receive(aiter(parts), Inbound())
    assert info.value.code == "file.digest_mismatch"
    assert parts.handed == ["envelope", "envelope.p7s", "f1"]  # f2 was never read
    assert store.add_calls == 0 and blob_files(tmp_path / "ru-14") == []
    assert receiver.held_bytes == 0  # what f1 held in memory is given back


@dataclass
class HeldOpen(Parts):
    """Parts that, after the last one, wait for ``release`` before the request may end."""

    release: asyncio.Event = field(default_factory=asyncio.Event)
    waiting: asyncio.Event = field(default_factory=asyncio.Event)

    async def _iterate(self) -> AsyncIterator[FakePart]:
        async for part in super()._iterate():
            yield part
        self.waiting.set()
        await self.release.wait()


async def test_small_files_held_by_all_requests_together_stay_within_the_bound(
    network: Network, tmp_path: Path
) -> None:
    first, second = os.urandom(100_000), os.urandom(100_000)
    requests = []
    for data in (first, second):
        message = letter([("f1", data)])
        record = await outbound(network, FilesystemBlobStore(tmp_path / "a"), message, [data])
        requests.append((message.message_id, [FakePart("envelope", record.envelope),
                         FakePart("envelope.p7s", record.signature), FakePart("f1", data)]))  # fmt: skip
    async with await SqliteStore.open(tmp_path / "b") as store:
        receiver = Receiver("ru-14", network.signers["ru-14"], network.trust, store,
                            limits=Limits(max_held_bytes=150_000))  # fmt: skip
        held_open = HeldOpen(requests[0][1])
        pending = asyncio.create_task(receiver.receive(aiter(held_open)))
        await held_open.waiting.wait()
        assert receiver.held_bytes == 100_000  # the first letter's file, waiting for its commit
        before = store.writer_stats.operations
        await receiver.receive(aiter(Parts(requests[1][1])))
        # No room left: the second letter's file streamed into the blob store (its own write)
        # instead of riding with the message, and memory stayed within the bound.
        assert store.writer_stats.operations - before == 2
        assert receiver.held_bytes == 100_000
        held_open.release.set()
        await pending
        assert receiver.held_bytes == 0
        for (message_id, _), data in zip(requests, (first, second), strict=True):
            stored = await store.get(message_id)
            assert stored is not None
            (file,) = stored.files
            assert b"".join([c async for c in store.blobs.read(file.sha256)]) == data


@pytest.mark.parametrize("size", [1000, 400_000], ids=["not looked up first", "looked up first"])
async def test_a_letter_reusing_the_id_of_our_own_message_is_a_conflict(
    network: Network, tmp_path: Path, size: int
) -> None:
    data = os.urandom(size)
    message = letter([("f1", data)])
    record = await outbound(network, FilesystemBlobStore(tmp_path / "a"), message, [data])
    async with await SqliteStore.open(tmp_path / "b") as store:
        ours = new_message(Direction.OUT, message_id=message.message_id, peer="ru-61")
        await store.add_outbound(ours, actor="test")
        receiver = Receiver("ru-14", network.signers["ru-14"], network.trust, store)
        parts = Parts(
            [
                FakePart("envelope", record.envelope),
                FakePart("envelope.p7s", record.signature),
                FakePart("f1", data),
            ]
        )
        with pytest.raises(GatewayError) as info:
            await receiver.receive(aiter(parts))
        assert (info.value.code, info.value.http_status) == ("message.id_conflict", 409)
        stored = await store.get(message.message_id)
        assert stored is not None and stored.direction is Direction.OUT
