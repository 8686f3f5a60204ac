"""Accepting a message from a peer gateway (DESIGN §3 step 5), whatever carried it.

The order is the point of this module. The envelope and its signature are read first, under
small caps, and the signature is verified against the certificates of the participant the
envelope names as sender BEFORE any file part is read: a forged sender never gets to stream a
byte into our blob store. Then the recipient, the dedupe (a known message id gets its original
receipt, even when it is old; see :meth:`Receiver.receive` for when the store is asked) and the
replay window; then each file is read with the
manifest's size as a hard cap and its digest compared. A large file streams into the blob store;
small ones (up to 16 MiB of them) are gathered and committed with the message, so they cost no
write of their own; what all requests in progress hold that way together is bounded too
(``Limits.max_held_bytes``), and a small file beyond that bound streams into the blob store
like a large one. Then the receipt is signed and the message, its small files, its receipt
and the audit record are committed in one write. Under the
GOST profile (an envelope signed with GOST R 34.10-2012) every file must also carry the
Streebog-256 digest, computed in the same pass; a Streebog digest is checked whenever present.

A refusal is raised as a :class:`~gateway.errors.GatewayError` with its stable code; the HTTP
layer turns it into a signed error document with :meth:`Receiver.refusal`. This module never
imports ``aiohttp.web`` and never holds a large file in memory.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass
from typing import Protocol

from gateway.budgets import HeldFiles, HeldShare, RequestBudget
from gateway.crypto import CmsSigner, TrustPolicy, VerifiedSignature
from gateway.crypto.gost.streebog import Streebog
from gateway.crypto.gost.streebog import hashed as streebog_hashed
from gateway.envelope import decode as decode_envelope
from gateway.errors import GatewayError
from gateway.model import Document, ErrorReport, FileDigest, FileRef, Message, Receipt
from gateway.receipts import encode_error, encode_receipt
from gateway.sealing import verify_sender
from gateway.store.api import (
    SMALL_BLOB,
    Direction,
    MessageRecord,
    NewMessage,
    Store,
    StoredFile,
)
from gateway.transport.wire import CHUNK, ENVELOPE_ID, SIGNATURE_ID, Limits, WireError

log = logging.getLogger(__name__)

_MAX_TEXT = 2000  # an error document's message: enough to act on, never a dump


class Part(Protocol):
    """One part of an inbound request, read in order and at most once."""

    @property
    def content_id(self) -> str | None:
        """The Content-ID without its angle brackets; None when the part has none."""
        ...

    @property
    def size(self) -> int | None:
        """The length the part declares for itself (its Content-Length), if any; unverified."""
        ...

    async def read_chunk(self, size: int) -> bytes:
        """Up to ``size`` bytes; ``b""`` at the end of the part."""
        ...


@dataclass
class Inbound:
    """What one request has proved so far; the HTTP layer puts the message id into a refusal
    and into its log line. Filled in only once the envelope's signature is verified."""

    message_id: str | None = None
    sender: str | None = None


@dataclass(frozen=True)
class Answer:
    """A signed document for the peer: a receipt, or an error document for a refusal."""

    document: bytes
    signature: bytes  # detached CMS over ``document``, DER
    duplicate: bool = False  # the original receipt of a message accepted before


class Receiver:
    """Accepts messages addressed to ``participant`` into ``store``."""

    def __init__(
        self,
        participant: str,
        signer: CmsSigner,
        trust: TrustPolicy,
        store: Store,
        *,
        limits: Limits | None = None,
        on_accepted: Callable[[], None] = lambda: None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        """``on_accepted`` is called after each NEW message is committed (not for duplicates),
        e.g. to wake the hand-off worker; it must not block."""
        self.participant = participant
        self.limits = limits or Limits()
        self._on_accepted = on_accepted
        self._signer = signer
        self._trust = trust
        self._store = store
        self._clock = clock
        self._held = HeldFiles(self.limits.max_held_bytes)

    @property
    def held_bytes(self) -> int:
        """Bytes of small files that the requests in progress hold in memory right now."""
        return self._held.used

    async def receive(self, parts: AsyncIterator[Part], inbound: Inbound | None = None) -> Answer:
        """The signed receipt for the message in ``parts`` (the original one for a duplicate).

        Raises GatewayError (a refusal, with its code) or StoreError; reads no part after the
        first refusal.
        """
        inbound = inbound if inbound is not None else Inbound()
        budget = RequestBudget(self.limits.max_request_bytes)
        envelope = await self._read_small(
            await _expect(parts, ENVELOPE_ID), "envelope", self.limits.max_envelope_bytes, budget
        )
        signature = await self._read_small(
            await _expect(parts, SIGNATURE_ID), "signature", self.limits.max_signature_bytes, budget
        )
        message = decode_envelope(envelope, max_bytes=self.limits.max_envelope_bytes)
        envelope_sha256 = hashlib.sha256(envelope).hexdigest()
        # A repeat of exactly the bytes we accepted (and verified) before gets its original
        # receipt, however long ago that was: the sender would otherwise retry until expiry.
        # A letter with more than SMALL_BLOB of files is looked up first, so that a repeat
        # does not stream its files again; a smaller one only when it is refused below (its
        # certificate may have expired since, or the envelope left the replay window), since
        # a repeat that passes every check is answered by the commit itself (``add_inbound``
        # keeps the first) and one store round trip per letter is worth saving.
        looked = sum(f.size for f in message.files) > SMALL_BLOB
        known = await self._store.get(message.message_id) if looked else None
        if (repeat := _repeat(known, message, envelope_sha256, inbound)) is not None:
            return repeat
        try:
            verified = self._verified(message, envelope, signature, inbound)
            if known is not None:  # the id is taken by another message: a conflict, verified
                raise _conflict(message)
            self._check_window(message)
        except GatewayError:
            if not looked:
                known = await self._store.get(message.message_id)
                if (repeat := _repeat(known, message, envelope_sha256, inbound)) is not None:
                    return repeat
            raise
        gost = verified.digest_algorithm.startswith("streebog")
        with self._held.lease() as lease:
            return await self._accept(message, envelope, signature, envelope_sha256, parts,
                                      budget, lease, gost=gost)  # fmt: skip

    async def _accept(
        self,
        message: Message,
        envelope: bytes,
        signature: bytes,
        envelope_sha256: str,
        parts: AsyncIterator[Part],
        budget: RequestBudget,
        lease: HeldShare,
        *,
        gost: bool,
    ) -> Answer:
        """The verified message's files, then its commit and the receipt."""
        contents: dict[str, bytes] = {}
        files = await self._receive_files(message, parts, budget, lease, contents, gost=gost)
        receipt = encode_receipt(
            Receipt(
                message_id=message.message_id,
                time=self._clock(),
                sender=self.participant,
                recipient=message.sender,
                accepted=True,
                envelope_sha256=envelope_sha256,
                files=tuple(FileDigest(f.file_id, f.sha256) for f in files),
            )
        )
        receipt_signature = self._signer.sign(receipt)
        try:
            result = await self._store.add_inbound(
                _new_message(message, envelope, signature, envelope_sha256, files),
                receipt,
                receipt_signature,
                actor=f"peer:{message.sender}",
                contents=contents,
            )
        except ValueError:
            # The store's answer when the id is one of our own messages (one we sent, or a
            # local notification): a letter looked up first is refused the same way.
            raise _conflict(message) from None
        if not result.new:  # a concurrent delivery of the same message committed first
            return _original(result.record, message, envelope_sha256)
        try:
            self._on_accepted()
        except Exception:  # the message is committed; a failing wake-up must not unsay that
            log.exception("on_accepted failed after message %s", message.message_id,
                          extra={"message_id": message.message_id})  # fmt: skip
        log.info(
            "accepted message %s from %s (%d files, %d bytes)",
            message.message_id,
            message.sender,
            len(files),
            budget.used,
            extra={"message_id": message.message_id},
        )
        return Answer(receipt, receipt_signature)

    def refusal(self, error: GatewayError, *, message_id: str | None = None) -> Answer:
        """The signed error document that refuses a request with ``error``'s code."""
        report = ErrorReport(
            code=error.code,
            message=_printable(error.message),
            time=self._clock(),
            sender=self.participant,
            message_id=message_id,
        )
        document = encode_error(report)
        return Answer(document, self._signer.sign(document))

    # --- steps ---------------------------------------------------------------------------

    async def _read_small(self, part: Part, what: str, cap: int, budget: RequestBudget) -> bytes:
        """A part that must fit in memory (the envelope, its signature), refused past ``cap``."""
        if part.size is not None and part.size > cap:
            raise _part_too_large(what, part.size, cap)
        data = bytearray()
        while chunk := await part.read_chunk(CHUNK):
            budget.take(len(chunk))
            data += chunk
            if len(data) > cap:
                raise _part_too_large(what, len(data), cap)
        return bytes(data)

    def _verified(
        self, message: Message, envelope: bytes, signature: bytes, inbound: Inbound
    ) -> VerifiedSignature:
        """The sender's verified signature on a message addressed to this gateway."""
        # The signing time is the signer's claim: bound it by the replay window, so the holder
        # of an expired key cannot backdate a signature to when its certificate was valid.
        oldest = self._clock() - self.limits.max_age - self.limits.clock_skew
        verified = verify_sender(message, envelope, signature, self._trust, oldest=oldest)
        inbound.message_id, inbound.sender = message.message_id, message.sender
        if message.recipient != self.participant:
            raise WireError(
                f"the envelope is addressed to {message.recipient!r}; this gateway is "
                f"{self.participant!r}",
                code="envelope.wrong_recipient",
                http_status=422,
            )
        return verified

    def _check_window(self, message: Message) -> None:
        now = self._clock()
        if message.created > now + self.limits.clock_skew:
            raise WireError(
                f"the envelope was created at {_when(message.created)}, in the future of this "
                f"gateway's clock ({_when(now)}); check the sender's clock",
                code="envelope.from_future",
            )
        if message.created < now - self.limits.max_age:
            days = self.limits.max_age.total_seconds() / 86400
            raise WireError(
                f"the envelope was created at {_when(message.created)}, more than {days:g} "
                "days ago; a message that old is refused as a replay",
                code="envelope.too_old",
            )

    async def _receive_files(
        self,
        message: Message,
        parts: AsyncIterator[Part],
        budget: RequestBudget,
        lease: HeldShare,
        contents: dict[str, bytes],
        *,
        gost: bool,
    ) -> tuple[StoredFile, ...]:
        """Every file of the manifest, checked: large ones streamed into the blob store, small
        ones (as many as ``lease`` grants) gathered into ``contents`` to be stored with the
        message in one write."""
        manifest = {f.id: f for f in message.files}
        unhashed = [f.id for f in message.files if f.streebog256 is None]
        if gost and unhashed:
            raise WireError(
                f"the envelope is signed under the GOST profile, but file {unhashed[0]!r} has "
                "no Streebog-256 digest in the manifest",
                code="file.digest_missing",
            )
        if len(manifest) > self.limits.max_files:
            raise WireError(
                f"the manifest lists {len(manifest):,} files, over the limit of "
                f"{self.limits.max_files:,}",
                code="request.too_many_parts",
                http_status=413,
            )
        # The signed manifest says how big the request is going to be: refuse it now rather
        # than after gigabytes.
        budget.expect(sum(f.size for f in manifest.values()))
        stored: dict[str, StoredFile] = {}
        async for part in parts:
            ref = manifest.get(part.content_id or "")
            if ref is None or ref.id in stored:
                raise WireError(
                    f"part {part.content_id!r} "
                    + ("is sent twice" if ref is not None else "names no file of the manifest"),
                    code="file.unexpected_part",
                )
            if ref.size <= SMALL_BLOB and lease.take(ref.size):
                data = await self._read_small_file(ref, part, budget)
                contents[ref.sha256] = data
                stored[ref.id] = StoredFile(ref.id, ref.name, ref.sha256, len(data))
            else:
                stored[ref.id] = await self._receive_file(ref, part, budget)
        missing = [file_id for file_id in manifest if file_id not in stored]
        if missing:
            raise WireError(
                f"{len(missing)} file(s) of the manifest did not arrive: "
                + ", ".join(missing[:10])
                + (" …" if len(missing) > 10 else ""),
                code="file.missing",
            )
        return tuple(stored[f.id] for f in message.files)

    async def _receive_file(self, ref: FileRef, part: Part, budget: RequestBudget) -> StoredFile:
        streebog = Streebog("streebog256") if ref.streebog256 is not None else None
        try:
            async with aclosing(_gathered(part, budget)) as chunks:
                source = chunks if streebog is None else streebog_hashed(chunks, streebog)
                blob = await self._store.blobs.put(source, max_size=ref.size)
        except ValueError:  # the blob store's answer to more than max_size bytes
            raise _longer(ref) from None
        _check(ref, blob.size, blob.sha256, None if streebog is None else streebog.hexdigest())
        return StoredFile(file_id=ref.id, name=ref.name, sha256=blob.sha256, size=blob.size)

    async def _read_small_file(self, ref: FileRef, part: Part, budget: RequestBudget) -> bytes:
        """A small file's part, whole, checked against its manifest entry as a streamed one
        is (so a bad file is refused before the next part is read); not stored yet."""
        data = bytearray()
        async for chunk in _gathered(part, budget):
            data += chunk
            if len(data) > ref.size:
                raise _longer(ref)
        whole = bytes(data)
        streebog = None if ref.streebog256 is None else Streebog(data=whole).hexdigest()
        _check(ref, len(whole), hashlib.sha256(whole).hexdigest(), streebog)
        return whole


def _longer(ref: FileRef) -> WireError:
    return WireError(
        f"file {ref.id!r} is longer than the {ref.size:,} bytes its manifest entry says",
        code="file.size_mismatch",
    )


def _check(ref: FileRef, size: int, sha256: str, streebog256: str | None) -> None:
    """A received file's size and digests against its manifest entry."""
    if size != ref.size:
        raise WireError(
            f"file {ref.id!r} has {size:,} bytes, its manifest entry says {ref.size:,}",
            code="file.size_mismatch",
        )
    if sha256 != ref.sha256:
        raise WireError(
            f"file {ref.id!r} does not match the SHA-256 digest of its manifest entry",
            code="file.digest_mismatch",
        )
    if ref.streebog256 is not None and streebog256 != ref.streebog256:
        raise WireError(
            f"file {ref.id!r} does not match the Streebog-256 digest of its manifest entry",
            code="file.digest_mismatch",
        )


async def _expect(parts: AsyncIterator[Part], content_id: str) -> Part:
    part = await anext(parts, None)
    if part is None:
        raise WireError(f"the request ends before its part <{content_id}>")
    if part.content_id != content_id:
        raise WireError(
            f"expected the part <{content_id}>, got {part.content_id!r}; the envelope comes "
            "first, then its signature, then the files"
        )
    return part


async def _gathered(part: Part, budget: RequestBudget) -> AsyncGenerator[bytes, None]:
    """The part's bytes as they come off the socket (the blob store gathers them into larger
    writes), counted against the request's budget."""
    while chunk := await part.read_chunk(CHUNK):
        budget.take(len(chunk))
        yield chunk


def _same(record: MessageRecord, message: Message, envelope_sha256: str) -> bool:
    return (
        record.direction is Direction.IN
        and record.peer == message.sender
        and record.envelope_sha256 == envelope_sha256
    )


def _repeat(
    known: MessageRecord | None, message: Message, envelope_sha256: str, inbound: Inbound
) -> Answer | None:
    """The original receipt when ``known`` is this very message, accepted before."""
    if known is None or not _same(known, message, envelope_sha256):
        return None
    inbound.message_id, inbound.sender = message.message_id, message.sender
    return _original(known, message, envelope_sha256)


def _conflict(message: Message) -> WireError:
    return WireError(
        f"message id {message.message_id!r} is already used by a different message",
        code="message.id_conflict",
        http_status=409,
    )


def _original(record: MessageRecord, message: Message, envelope_sha256: str) -> Answer:
    """The receipt we gave for ``record``, if ``message`` is really a repeat of it."""
    if not _same(record, message, envelope_sha256):
        raise _conflict(message)
    if record.receipt is None or record.receipt_signature is None:
        raise RuntimeError(f"inbound message {record.message_id} is stored without its receipt")
    log.info("message %s from %s is a duplicate", message.message_id, message.sender,
             extra={"message_id": message.message_id})  # fmt: skip
    return Answer(record.receipt, record.receipt_signature, duplicate=True)


def _new_message(
    message: Message,
    envelope: bytes,
    signature: bytes,
    envelope_sha256: str,
    files: tuple[StoredFile, ...],
) -> NewMessage:
    payload = message.payload
    registration = payload.registration
    return NewMessage(
        message_id=message.message_id,
        direction=Direction.IN,
        peer=message.sender,
        type=message.type,
        created_at=message.created,
        envelope=envelope,
        signature=signature,
        envelope_sha256=envelope_sha256,
        files=files,
        expires_at=message.expires,
        correlation_id=message.correlation_id,
        document_uid=payload.uid if isinstance(payload, Document) else payload.document_uid,
        registration_number=registration.number if registration is not None else None,
    )


def _part_too_large(what: str, size: int, cap: int) -> WireError:
    return WireError(
        f"the {what} part is over its limit of {cap:,} bytes ({size:,} bytes or more)",
        code="request.part_too_large",
        http_status=413,
    )


def _printable(text: str) -> str:
    """``text`` as an error document can carry it: XML 1.0 characters only, bounded length."""
    cleaned = "".join(
        ch if ch in "\t\n\r" or ("\x20" <= ch <= "\ud7ff") or ("\ue000" <= ch <= "\ufffd")
        or ch >= "\U00010000" else "\ufffd"
        for ch in text[:_MAX_TEXT]
    )  # fmt: skip
    return cleaned or "refused"


def _when(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
