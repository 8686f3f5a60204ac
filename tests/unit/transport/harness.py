"""Gateways in one process for transport tests: a demo PKI, real blob stores, real HTTP.

``Network`` holds three participants (ru-61 sends, ru-14 receives, ru-16 is a third party)
with ECDSA keys from the demo CA. ``outbound`` seals a letter and puts its files into the
sender's blob store, as intake would. ``MemoryStore`` is a quick stand-in for the inbound half
of the Store contract (the integration tests use the real SQLite store).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from ssl import SSLContext

import aiohttp
from aiohttp import web
from aiohttp.base_protocol import BaseProtocol
from aiohttp.streams import StreamReader

from gateway.crypto import CmsSigner, TrustPolicy, TrustStore, issue_certificate, new_ca
from gateway.model import Document, FileRef, FileRole, Message, Organization, Person
from gateway.sealing import seal
from gateway.store.api import (
    Accepted,
    BlobStore,
    Direction,
    MessageRecord,
    NewMessage,
    State,
    StoredFile,
    inserted,
    small_contents,
)
from gateway.store.blobs import FilesystemBlobStore
from gateway.transport import wire

PARTICIPANTS = ("ru-61", "ru-14", "ru-16")
ROSTOV = Organization("Минстрой Ростовской области", inn="6163000001", region="61")
SAKHA = Organization("Минстрой Республики Саха (Якутия)", inn="1435000001", region="14")


@dataclass(frozen=True)
class Network:
    ca: object
    signers: dict[str, CmsSigner]
    trust: TrustPolicy

    @classmethod
    def build(cls) -> Network:
        ca, ca_key = new_ca()
        signers = {}
        for pid in PARTICIPANTS:
            cert, key = issue_certificate(ca, ca_key, pid, f"Gateway {pid}")
            signers[pid] = CmsSigner(cert, key)
        trust = TrustPolicy(TrustStore([ca]), {pid: [s.certificate] for pid, s in signers.items()})
        return cls(ca, signers, trust)


@dataclass(frozen=True)
class Peer:
    id: str
    endpoint: str


def letter(
    files: Sequence[tuple[str, bytes]] = (),
    *,
    sender: str = "ru-61",
    recipient: str = "ru-14",
    created: dt.datetime | None = None,
    message_id: str | None = None,
    sizes: dict[str, int] | None = None,
    digests: dict[str, str] | None = None,
) -> Message:
    """A letter whose manifest describes ``files`` (id, content); sizes/digests can lie."""
    refs = tuple(
        FileRef(
            id=file_id,
            role=FileRole.MAIN if index == 0 else FileRole.ATTACHMENT,
            name=f"{file_id}.pdf",
            media_type="application/pdf",
            size=(sizes or {}).get(file_id, len(content)),
            sha256=(digests or {}).get(file_id, hashlib.sha256(content).hexdigest()),
        )
        for index, (file_id, content) in enumerate(files)
    )
    return described(
        refs, sender=sender, recipient=recipient, created=created, message_id=message_id
    )


def described(
    refs: tuple[FileRef, ...],
    *,
    sender: str = "ru-61",
    recipient: str = "ru-14",
    created: dt.datetime | None = None,
    message_id: str | None = None,
) -> Message:
    document = Document(
        uid=f"doc-{uuid.uuid4()}",
        kind="Письмо",
        sender=ROSTOV,
        annotation="О ходе работ",
        addressees=(Person(SAKHA, name="Петров П. П."),),
        files=refs,
    )
    return Message(
        message_id=message_id or str(uuid.uuid4()),
        created=created or dt.datetime.now(dt.UTC),
        sender=sender,
        recipient=recipient,
        payload=document,
    )


async def outbound(
    network: Network,
    blobs: BlobStore,
    message: Message,
    contents: Iterable[bytes | AsyncIterator[bytes]] = (),
    *,
    signer: str | None = None,
) -> MessageRecord:
    """The stored outbound record of ``message``, its files put into ``blobs``."""
    sealed = seal(message, network.signers[signer or message.sender])
    stored = []
    for ref, content in zip(message.files, contents, strict=True):
        blob = await (
            blobs.put_bytes(content) if isinstance(content, bytes) else blobs.put(content)
        )
        stored.append(StoredFile(ref.id, ref.name, blob.sha256, blob.size))
    now = dt.datetime.now(dt.UTC)
    return MessageRecord(
        message_id=message.message_id,
        direction=Direction.OUT,
        peer=message.recipient,
        type=message.type,
        state=State.QUEUED,
        created_at=message.created,
        updated_at=now,
        envelope=sealed.envelope,
        signature=sealed.signature,
        envelope_sha256=hashlib.sha256(sealed.envelope).hexdigest(),
        files=tuple(stored),
        expires_at=None,
        correlation_id=None,
        document_uid=None,
        registration_number=None,
        local_ref=None,
        attempts=0,
        next_attempt_at=now,
        receipt=None,
        receipt_signature=None,
        error_code=None,
        error_message=None,
    )


@dataclass
class MemoryStore:
    """The inbound half of the Store contract in memory, with real blobs on disk."""

    blobs: FilesystemBlobStore
    records: dict[str, MessageRecord] = field(default_factory=dict)
    audit_actors: list[str] = field(default_factory=list)
    add_calls: int = 0
    get_calls: int = 0

    async def get(self, message_id: str) -> MessageRecord | None:
        self.get_calls += 1
        return self.records.get(message_id)

    async def add_inbound(
        self,
        message: NewMessage,
        receipt: bytes,
        receipt_signature: bytes,
        *,
        actor: str,
        contents: Mapping[str, bytes] | None = None,
    ) -> Accepted:
        self.add_calls += 1
        for digest, data in small_contents(contents).items():  # stored with the message
            assert (await self.blobs.put_bytes(data)).sha256 == digest
        known = self.records.get(message.message_id)
        if known is not None:
            return Accepted(new=False, record=known)
        for file in message.files:
            assert await self.blobs.exists(file.sha256), "blobs are durable before the write"
        record = inserted(
            message,
            state=State.ACCEPTED,
            at=dt.datetime.now(dt.UTC),
            receipt=receipt,
            receipt_signature=receipt_signature,
        )
        self.records[message.message_id] = record
        self.audit_actors.append(actor)
        return Accepted(new=True, record=record)

    async def close(self) -> None:
        return None


def memory_store(root: Path) -> MemoryStore:
    return MemoryStore(FilesystemBlobStore(root / "blobs"))


def blob_files(root: Path) -> list[Path]:
    """Every file under a blob store's root (temporary files included)."""
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


@asynccontextmanager
async def serve(
    app: web.Application, *, ssl_context: SSLContext | None = None
) -> AsyncIterator[str]:
    """``app`` on a free port of 127.0.0.1; yields its base URL."""
    # aiohttp keeps reading a refused request's unread body for ``lingering_time`` (10 s by
    # default), even after the client has gone; a second is plenty on 127.0.0.1.
    runner = web.AppRunner(app, access_log=None, lingering_time=1.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
        await site.start()
        port = runner.addresses[0][1]
        yield f"{'https' if ssl_context else 'http'}://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def mounted(wire_app: web.Application) -> web.Application:
    """The wire sub-application mounted where a gateway mounts it."""
    root = web.Application()
    root.add_subapp(wire.PREFIX, wire_app)
    return root


def multipart(
    parts: Sequence[tuple[str | None, object]], *, subtype: str = "related"
) -> aiohttp.MultipartWriter:
    """A hand-made request body: (Content-ID, bytes or async iterator) per part, in order."""
    body = aiohttp.MultipartWriter(subtype)
    for content_id, value in parts:
        headers = {} if content_id is None else {"Content-ID": wire.content_id(content_id)}
        if isinstance(value, bytes) and len(value) < (1 << 20):
            body.append_payload(aiohttp.payload.BytesPayload(value, headers=headers))
        elif isinstance(value, bytes):  # streamed, so the request goes out chunked
            body.append_payload(
                aiohttp.payload.AsyncIterablePayload(_pieces(value), headers=headers)
            )
        else:
            body.append_payload(aiohttp.payload.AsyncIterablePayload(value, headers=headers))
    return body


async def _pieces(data: bytes, size: int = 1 << 16) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


class _Connection(BaseProtocol):
    """Stands in for a connection: flow control asks it to pause and resume reading."""

    connected = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self, resume_parser: bool = True) -> None:
        pass


def stream_of(pieces: Sequence[bytes], *, eof: bool = True) -> StreamReader:
    """aiohttp's request stream, fed ``pieces`` as a socket would deliver them (on the
    running loop); more can be fed later unless ``eof``."""
    loop = asyncio.get_running_loop()
    stream = StreamReader(_Connection(loop), 2**16, loop=loop)
    for piece in pieces:
        stream.feed_data(piece)
    if eof:
        stream.feed_eof()
    return stream
