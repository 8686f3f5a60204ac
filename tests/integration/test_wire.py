"""The wire between two gateways in one process: real HTTP on 127.0.0.1, real SQLite stores,
real crypto. ru-61 sends, ru-14 receives."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import os
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from gateway.model import FileRef, FileRole, Message
from gateway.receipts import decode_receipt
from gateway.receiver import Receiver
from gateway.sealing import seal
from gateway.store.api import Direction, MessageRecord, NewMessage, State, Store, StoredFile
from gateway.store.sqlite import SqliteStore
from gateway.transport import wire
from gateway.transport.client import Accepted, Client, Refused
from gateway.transport.server import wire_app
from tests.unit.transport.harness import (
    Network,
    Peer,
    blob_files,
    described,
    letter,
    mounted,
    serve,
)

PDF = os.urandom(250_000)
SIG = os.urandom(2_100)


@dataclass
class Pair:
    network: Network
    sender: Store  # ru-61
    receiver: Store  # ru-14
    receiver_dir: Path
    client: Client
    peer: Peer

    async def queue(
        self,
        message: Message,
        contents: list[bytes | AsyncIterator[bytes]],
        *,
        signer: str | None = None,
    ) -> MessageRecord:
        """Seal ``message`` and record it as outbound at ru-61, as intake does."""
        sealed = seal(message, self.network.signers[signer or message.sender])
        files = []
        for ref, content in zip(message.files, contents, strict=True):
            blob = await (
                self.sender.blobs.put_bytes(content)
                if isinstance(content, bytes)
                else self.sender.blobs.put(content)
            )
            files.append(StoredFile(ref.id, ref.name, blob.sha256, blob.size))
        return await self.sender.add_outbound(
            NewMessage(
                message_id=message.message_id,
                direction=Direction.OUT,
                peer=message.recipient,
                type=message.type,
                created_at=message.created,
                envelope=sealed.envelope,
                signature=sealed.signature,
                envelope_sha256=hashlib.sha256(sealed.envelope).hexdigest(),
                files=tuple(files),
            ),
            actor="gateway",
        )

    async def inbound(self) -> list[MessageRecord]:
        return await self.receiver.list_messages(direction=Direction.IN)


@pytest.fixture(scope="module")
def network() -> Network:
    return Network.build()


@pytest.fixture()
async def pair(network: Network, tmp_path: Path) -> AsyncIterator[Pair]:
    sender = await SqliteStore.open(tmp_path / "ru-61")
    receiver = await SqliteStore.open(tmp_path / "ru-14")
    try:
        app = mounted(
            wire_app(Receiver("ru-14", network.signers["ru-14"], network.trust, receiver))
        )
        async with serve(app) as base, aiohttp.ClientSession() as session:
            client = Client(session, sender.blobs, network.trust, "ru-61")
            yield Pair(
                network,
                sender,
                receiver,
                tmp_path / "ru-14",
                client,
                Peer("ru-14", base + wire.PATH),
            )
    finally:
        await sender.close()
        await receiver.close()


async def read_blob(store: Store, sha256: str) -> bytes:
    return b"".join([chunk async for chunk in store.blobs.read(sha256)])


async def test_a_letter_with_two_files_arrives_byte_identical_with_a_verified_receipt(
    pair: Pair,
) -> None:
    message = letter([("f1", PDF), ("s1", SIG)])
    record = await pair.queue(message, [PDF, SIG])
    result = await pair.client.send(record, pair.peer)
    assert isinstance(result, Accepted)
    pair.network.trust.verify_from("ru-14", result.receipt, result.receipt_signature)
    receipt = decode_receipt(result.receipt)
    assert receipt.envelope_sha256 == hashlib.sha256(record.envelope).hexdigest()

    stored = await pair.receiver.get(message.message_id)
    assert stored is not None
    assert (stored.direction, stored.state, stored.peer) == (Direction.IN, State.ACCEPTED, "ru-61")
    assert (stored.envelope, stored.signature) == (record.envelope, record.signature)
    assert (stored.receipt, stored.receipt_signature) == (result.receipt, result.receipt_signature)
    for file, content in zip(stored.files, (PDF, SIG), strict=True):
        assert await read_blob(pair.receiver, file.sha256) == content
        assert file.sha256 == hashlib.sha256(content).hexdigest()
    assert [(f.file_id, f.sha256) for f in receipt.files] == [
        (f.file_id, f.sha256) for f in stored.files
    ]
    audit = await pair.receiver.audit()
    assert any(r.actor == "peer:ru-61" and r.message_id == message.message_id for r in audit)


async def test_a_duplicate_gets_the_same_receipt_and_one_record(pair: Pair) -> None:
    record = await pair.queue(letter([("f1", PDF)]), [PDF])
    first = await pair.client.send(record, pair.peer)
    audit_before = await pair.receiver.audit()
    second = await pair.client.send(record, pair.peer)
    assert isinstance(first, Accepted) and isinstance(second, Accepted)
    assert (second.receipt, second.receipt_signature) == (first.receipt, first.receipt_signature)
    assert [r.message_id for r in await pair.inbound()] == [record.message_id]
    assert await pair.receiver.audit() == audit_before  # nothing else happened


async def test_concurrent_duplicates_make_one_record(pair: Pair) -> None:
    record = await pair.queue(letter([("f1", PDF)]), [PDF])
    results = await asyncio.gather(*(pair.client.send(record, pair.peer) for _ in range(5)))
    receipts = {r.receipt for r in results if isinstance(r, Accepted)}
    assert len(receipts) == 1 and all(isinstance(r, Accepted) for r in results)
    assert [r.message_id for r in await pair.inbound()] == [record.message_id]


async def test_a_forged_sender_is_refused_and_nothing_is_written(pair: Pair) -> None:
    record = await pair.queue(letter([("f1", PDF)]), [PDF], signer="ru-16")
    result = await pair.client.send(record, pair.peer)
    assert isinstance(result, Refused) and result.code == "signature.sender_mismatch"
    assert 400 <= result.http_status < 500
    pair.network.trust.verify_from("ru-14", result.error_document, result.error_signature)
    assert await pair.inbound() == []
    assert blob_files(pair.receiver_dir / "blobs") == []


async def test_a_corrupted_file_is_refused_and_no_message_is_recorded(pair: Pair) -> None:
    corrupted = bytearray(PDF)
    corrupted[1000] ^= 0xFF
    # The manifest describes PDF; the blob that travels is the corrupted one.
    message = letter([("f1", PDF)])
    record = await pair.queue(message, [PDF])
    wrong = await pair.sender.blobs.put_bytes(bytes(corrupted))
    file = record.files[0]
    tampered = dataclasses.replace(
        record, files=(StoredFile(file.file_id, file.name, wrong.sha256, wrong.size),)
    )
    result = await pair.client.send(tampered, pair.peer)
    assert isinstance(result, Refused) and result.code == "file.digest_mismatch"
    assert await pair.inbound() == []


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


class PeakRss:
    """Peak RSS while the block runs: VmHWM reset at the start where the kernel allows it
    (Linux >= 4.0), else VmRSS sampled every 5 ms in a thread."""

    def __enter__(self) -> PeakRss:
        try:
            Path("/proc/self/clear_refs").write_text("5")
            self._sampler: threading.Thread | None = None
        except OSError:
            self._done = threading.Event()
            self._sampled = 0
            self._sampler = threading.Thread(target=self._sample, daemon=True)
            self._sampler.start()
        self.before = _rss_kib("VmRSS")
        return self

    def _sample(self) -> None:
        while not self._done.wait(0.005):
            self._sampled = max(self._sampled, _rss_kib("VmRSS"))

    def __exit__(self, *exc: object) -> None:
        if self._sampler is None:
            peak = _rss_kib("VmHWM")
        else:
            self._done.set()
            self._sampler.join()
            peak = self._sampled
        self.growth_mib = (peak - self.before) / 1024


@pytest.mark.slow
async def test_a_256_mib_file_streams_through_without_being_held_in_memory(pair: Pair) -> None:
    size = 256 << 20
    block = os.urandom(1 << 20)

    async def content() -> AsyncIterator[bytes]:
        for index in range(size >> 20):
            yield index.to_bytes(8, "big") + block[8:]  # distinct blocks, generated as they go

    digest = hashlib.sha256()
    for index in range(size >> 20):
        digest.update(index.to_bytes(8, "big") + block[8:])
    ref = FileRef("scan", FileRole.MAIN, "scan.pdf", "application/pdf", size, digest.hexdigest())
    record = await pair.queue(described((ref,)), [content()])

    with PeakRss() as rss:
        started = time.perf_counter()
        result = await pair.client.send(record, pair.peer)
        elapsed = time.perf_counter() - started
    growth_mib = rss.growth_mib
    assert isinstance(result, Accepted), result
    print(
        f"\n256 MiB in-process: {size / elapsed / 1e6:.0f} MB/s, peak RSS growth {growth_mib:.1f} MiB"
    )
    assert growth_mib < 64
    stored = await pair.receiver.get(record.message_id)
    assert stored is not None and stored.files[0].sha256 == digest.hexdigest()
    assert (pair.receiver_dir / "blobs").exists()
