"""Intake: a local system's document becomes sealed, queued outbound messages (DESIGN §3, 1–3).

Files are streamed into the blob store first (hashed on the way, durable before anything refers
to them); then the addressees are routed to participants, one envelope is sealed per
destination, and each is recorded with its queue row and audit record in one transaction. Only
then is the local system told "accepted": a crash before that loses nothing that was
acknowledged, and resubmitting with the same ``local_ref`` creates nothing twice.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from gateway.config import RetryPolicy
from gateway.crypto import CmsSigner
from gateway.crypto.gost.streebog import Streebog, hashed
from gateway.model import Document, FileRef, FileRole, Message, Notification
from gateway.modeljson import IntakeError
from gateway.routing import Router
from gateway.sealing import Sealed, seal
from gateway.store.api import BlobRef, Direction, MessageRecord, NewMessage, Store, StoredFile


@dataclass(frozen=True)
class FileSpec:
    """What a local system says about a file it submits (the bytes come separately)."""

    id: str
    name: str
    media_type: str
    role: FileRole = FileRole.ATTACHMENT
    signature_of: str | None = None
    description: str | None = None
    pages: int | None = None


@dataclass(frozen=True)
class Limits:
    max_file_size: int = 4 * 1024**3  # 4 GiB
    max_files: int = 1000


class Intake:
    def __init__(
        self,
        store: Store,
        signer: CmsSigner,
        router: Router,
        participant: str,
        policy: RetryPolicy,
        *,
        wake: Callable[[], None] = lambda: None,
        limits: Limits = Limits(),
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.store, self.signer, self.router = store, signer, router
        self.participant, self.policy, self.limits = participant, policy, limits
        self.wake, self.clock = wake, clock

    async def store_file(self, spec: FileSpec, chunks: AsyncIterator[bytes]) -> FileRef:
        """Stream one submitted file into the blob store; its manifest entry."""
        blob, streebog256 = await self._put(spec.id, chunks)
        return FileRef(
            id=spec.id,
            role=spec.role,
            name=spec.name,
            media_type=spec.media_type,
            size=blob.size,
            sha256=blob.sha256,
            streebog256=streebog256,
            signature_of=spec.signature_of,
            description=spec.description,
            pages=spec.pages,
        )

    async def store_file_ref(self, ref: FileRef, chunks: AsyncIterator[bytes]) -> FileRef:
        """Stream a file an adapter described into the blob store; ``ref`` with the digest
        and size of what was actually stored."""
        blob, streebog256 = await self._put(ref.id, chunks)
        return dataclasses.replace(ref, sha256=blob.sha256, size=blob.size, streebog256=streebog256)

    async def _put(self, file_id: str, chunks: AsyncIterator[bytes]) -> tuple[BlobRef, str | None]:
        """The stored blob, and under the GOST profile the file's Streebog-256 digest, taken
        in the same pass (the manifest then carries both)."""
        hasher = Streebog("streebog256") if self.signer.gost else None
        try:
            blob = await self.store.blobs.put(
                chunks if hasher is None else hashed(chunks, hasher),
                max_size=self.limits.max_file_size,
            )
        except ValueError:
            raise IntakeError(
                f"file {file_id!r} is larger than {self.limits.max_file_size:,} bytes",
                code="intake.file_too_large",
            ) from None
        return blob, None if hasher is None else hasher.hexdigest()

    async def submit(
        self, document: Document, *, local_ref: str | None = None, actor: str = "local"
    ) -> list[MessageRecord]:
        """Route, seal and queue ``document`` (its files already stored); one record per
        destination participant. Raises RoutingError/EnvelopeError/IntakeError, queuing nothing."""
        if len(document.files) > self.limits.max_files:
            raise IntakeError(f"{len(document.files)} files; at most {self.limits.max_files}")
        destinations = self.router.destinations(document.addressees)
        now = self.clock()
        sealed = []
        for participant in sorted(destinations):
            message = Message(
                message_id=str(uuid.uuid4()),
                created=now,
                sender=self.participant,
                recipient=participant,
                payload=document,
                expires=now + self.policy.expire_after,
                correlation_id=document.uid,
            )
            sealed.append((participant, seal(message, self.signer)))
        records = [
            await self._queue(envelope, document, local_ref, actor) for _, envelope in sealed
        ]
        self.wake()
        return records

    async def submit_notification(
        self, notification: Notification, *, local_ref: str | None = None, actor: str = "local"
    ) -> MessageRecord:
        """Seal and queue a notification about a document we received (registered, refused …)
        back to the participant that sent it. The document's message is found by
        ``notification.message_id`` or, when that is empty or unknown, by its document uid."""
        original = await self._received(notification)
        if not notification.message_id or notification.message_id != original.message_id:
            notification = dataclasses.replace(notification, message_id=original.message_id)
        now = self.clock()
        message = Message(
            message_id=str(uuid.uuid4()),
            created=now,
            sender=self.participant,
            recipient=original.peer,
            payload=notification,
            expires=now + self.policy.expire_after,
            correlation_id=original.correlation_id or notification.document_uid,
            in_reply_to=original.message_id,
        )
        record = await self._queue(seal(message, self.signer), notification, local_ref, actor)
        self.wake()
        return record

    async def _received(self, notification: Notification) -> MessageRecord:
        record = None
        if notification.message_id:
            record = await self.store.get(notification.message_id)
            if record is not None and record.direction is not Direction.IN:
                record = None
        if record is None and notification.document_uid:
            record = await self.store.find_inbound(notification.document_uid)
        if record is None:
            raise IntakeError(
                f"no message with document {notification.document_uid!r}"
                + (f" (message {notification.message_id})" if notification.message_id else "")
                + " was received by this gateway; a notification can only answer a document"
                " that came in through it",
                code="intake.unknown_document",
            )
        return record

    async def _queue(
        self,
        envelope: Sealed,
        payload: Document | Notification,
        local_ref: str | None,
        actor: str,
    ) -> MessageRecord:
        message = envelope.message
        ref = None if local_ref is None else f"{local_ref}/{message.recipient}"
        registration = payload.registration
        return await self.store.add_outbound(
            NewMessage(
                message_id=message.message_id,
                direction=Direction.OUT,
                peer=message.recipient,
                type=message.type,
                created_at=message.created,
                envelope=envelope.envelope,
                signature=envelope.signature,
                envelope_sha256=hashlib.sha256(envelope.envelope).hexdigest(),
                files=tuple(stored(f) for f in message.files),
                expires_at=message.expires,
                correlation_id=message.correlation_id,
                document_uid=payload.uid if isinstance(payload, Document) else payload.document_uid,
                registration_number=registration.number if registration else None,
                local_ref=ref,
            ),
            actor=actor,
        )


def stored(file: FileRef) -> StoredFile:
    return StoredFile(file_id=file.id, name=file.name, sha256=file.sha256, size=file.size)


def with_files(document: Document, files: list[FileRef]) -> Document:
    """The document with the files that were actually stored; a signature must point at one."""
    ids = {f.id for f in files}
    if len(ids) != len(files):
        raise IntakeError("two files have the same id", code="intake.duplicate_file")
    for f in files:
        if f.signature_of is not None and f.signature_of not in ids:
            raise IntakeError(
                f"file {f.id!r} is a signature of {f.signature_of!r}, which was not submitted",
                code="intake.missing_file",
            )
    return dataclasses.replace(document, files=tuple(files))
