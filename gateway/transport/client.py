"""Sending one stored message to its peer, and deciding what the peer's answer proves.

:meth:`Client.send` streams the envelope, its signature and every file (from the blob store, a
chunk at a time) as one ``multipart/related`` POST, and returns one of three results:

- :class:`Accepted`: a receipt signed by a certificate of THAT peer, for this message id, from
  the peer to us, accepted, over the SHA-256 of exactly the envelope bytes we sent and the same
  file digests as our manifest. Only this makes a message delivered.
- :class:`Refused`: a 4xx answer carrying an error document signed by that peer (and bound to
  this message, or fresh when the peer could not read the message id). Never retried.
- :class:`Unavailable`: everything else — connection errors, timeouts, 5xx/429/503 (with
  Retry-After), a 4xx without a valid signed error (a proxy, a misconfiguration), a receipt we
  cannot trust. The delivery worker retries; this module never does (retry policy lives in
  :mod:`gateway.retry`), it only marks connection blips with :func:`is_blip`.

A result never raises for anything the network or the peer did; a bug in the caller (a record
for another peer) raises ValueError.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import email.utils
import hashlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

import aiohttp
from aiohttp import hdrs, payload

from gateway.crypto import TrustPolicy
from gateway.errors import GatewayError
from gateway.model import ErrorReport, Receipt
from gateway.receipts import decode_error, decode_receipt
from gateway.store.api import BlobStore, MessageRecord, worth_fetching_whole
from gateway.transport import wire
from gateway.transport.blobpart import BlobPayload, uploads_finished

log = logging.getLogger(__name__)

_JOIN_MAX = 1 << 20  # bytes: a letter up to this size, all in memory, is sent as one buffer
_MAX_RETRY_AFTER = 86_400.0  # a day: past that, a peer's (or a proxy's) Retry-After is noise
_Doc = TypeVar("_Doc", Receipt, ErrorReport)


@dataclass(frozen=True)
class Accepted:
    """The peer accepted the message; its receipt is verified and may be stored as proof."""

    receipt: bytes
    receipt_signature: bytes


@dataclass(frozen=True)
class Refused:
    """The peer refused the message with a signed error document; sending again will not help."""

    code: str
    message: str
    http_status: int
    error_document: bytes
    error_signature: bytes


@dataclass(frozen=True)
class Unavailable:
    """The message was not delivered this time; the delivery worker tries again later.

    ``blip`` marks a connection that failed before any answer (refused, reset, dropped): worth
    an immediate in-process retry. ``retry_after`` is the peer's Retry-After, in seconds.
    """

    reason: str
    http_status: int | None = None
    retry_after: float | None = None
    blip: bool = False


Result = Accepted | Refused | Unavailable


def is_blip(result: Result) -> bool:
    """True for a connection failure that a retry within a second may well get past."""
    return isinstance(result, Unavailable) and result.blip


class Peer(Protocol):
    """The peer gateway as the client needs it (``gateway.config.Participant`` is one)."""

    @property
    def id(self) -> str: ...

    @property
    def endpoint(self) -> str:
        """The full URL of its wire endpoint, ending in ``/gw/v1/messages``."""
        ...


@dataclass(frozen=True)
class Timeouts:
    """Seconds. None: no limit. There is no total by default: a 2 GiB letter on a slow link is
    slow, not stuck; stuck is caught by ``read`` (silence after the body was sent) and by the
    TCP stack while sending."""

    connect: float | None = 10.0  # TCP and TLS handshake
    read: float | None = 120.0  # waiting for the answer: the peer fsyncs and commits first
    total: float | None = None

    def client_timeout(self) -> aiohttp.ClientTimeout:
        return aiohttp.ClientTimeout(
            total=self.total, sock_connect=self.connect, sock_read=self.read
        )


class Client:
    """Sends stored outbound messages of ``participant`` (us) to peers.

    One instance per gateway, over one shared ``session``: its connector sets the connection
    limits and TLS (``TCPConnector(ssl=tls.client_context(...))`` for mutual TLS); the caller
    owns and closes it. ``trust`` decides whose signatures count.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        blobs: BlobStore,
        trust: TrustPolicy,
        participant: str,
        *,
        timeouts: Timeouts | None = None,
        max_answer_bytes: int = 1 << 20,
        error_freshness: dt.timedelta = dt.timedelta(minutes=15),
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.participant = participant
        self._session = session
        self._blobs = blobs
        self._trust = trust
        self._timeouts = timeouts or Timeouts()
        self._max_answer = max_answer_bytes
        self._freshness = error_freshness
        self._clock = clock

    async def send(self, record: MessageRecord, peer: Peer) -> Result:
        """One delivery attempt of ``record`` to ``peer`` (its recipient)."""
        if record.peer != peer.id:
            raise ValueError(f"message {record.message_id} is for {record.peer}, not {peer.id}")
        # Small files come from the store in one trip, whole; the others stream as they go.
        small = await self._blobs.small(worth_fetching_whole(record.files))
        for file in record.files:
            content = small.get(file.sha256)
            if content is None and not await self._blobs.exists(file.sha256):
                # Our own store lost a file: no peer can fix that, but an operator can.
                log.error("message %s: blob %s is missing", record.message_id, file.sha256)
                return Unavailable(f"local: the blob of file {file.file_id!r} is missing")
            if content is not None and len(content) != file.size:
                log.error("message %s: blob %s has %d bytes, %d recorded", record.message_id,
                          file.sha256, len(content), file.size)  # fmt: skip
                return Unavailable(f"local: the blob of file {file.file_id!r} is damaged")
        boundary = uuid.uuid4().hex
        joined = _joined(record, small, boundary)
        if joined is not None:
            return await self._post(joined, boundary, record, peer)
        body = self._body(record, small, boundary)
        try:
            return await self._post(body, boundary, record, peer)
        finally:
            await uploads_finished(body)

    async def _post(
        self,
        data: bytes | aiohttp.MultipartWriter,
        boundary: str,
        record: MessageRecord,
        peer: Peer,
    ) -> Result:
        try:
            async with self._session.post(
                peer.endpoint,
                data=data,
                headers={hdrs.CONTENT_TYPE: _content_type(boundary)},
                timeout=self._timeouts.client_timeout(),
                allow_redirects=False,
                # The answer's signature header holds a CMS SignedData with its certificate
                # chain; aiohttp's default of 8190 bytes is too tight for longer RSA chains.
                max_field_size=65536,
            ) as response:
                return await self._answer(response, record, peer)
        except (aiohttp.ClientConnectorCertificateError, aiohttp.ClientSSLError) as exc:
            return Unavailable(f"tls: {exc}")
        except (
            aiohttp.ClientOSError,  # refused, reset, unreachable (TLS errors are caught above)
            aiohttp.ServerDisconnectedError,
            aiohttp.ClientConnectionResetError,
        ) as exc:
            return Unavailable(f"connection: {exc}", blip=True)
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            return Unavailable(f"timeout: {exc or type(exc).__name__}")
        except aiohttp.ClientError as exc:
            return Unavailable(f"connection: {type(exc).__name__}: {exc}")

    def _body(
        self, record: MessageRecord, small: dict[str, bytes], boundary: str
    ) -> aiohttp.MultipartWriter:
        body = aiohttp.MultipartWriter(wire.MULTIPART_SUBTYPE, boundary=boundary)
        body.append_payload(
            payload.BytesPayload(
                record.envelope,
                content_type=wire.ENVELOPE_MEDIA_TYPE,
                headers={"Content-ID": wire.content_id(wire.ENVELOPE_ID)},
            )
        )
        body.append_payload(
            payload.BytesPayload(
                record.signature,
                content_type=wire.SIGNATURE_MEDIA_TYPE,
                headers={"Content-ID": wire.content_id(wire.SIGNATURE_ID)},
            )
        )
        for file in record.files:
            content = small.get(file.sha256)
            body.append_payload(
                BlobPayload(self._blobs, file)
                if content is None
                else payload.BytesPayload(
                    content,
                    content_type=wire.FILE_MEDIA_TYPE,
                    headers={"Content-ID": wire.content_id(file.file_id)},
                )
            )
        return body

    async def _answer(
        self, response: aiohttp.ClientResponse, record: MessageRecord, peer: Peer
    ) -> Result:
        status = response.status
        retry_after = _retry_after(response.headers.get(hdrs.RETRY_AFTER), self._clock())
        if status >= 500 or status in (408, 429):
            text = await _peek(response)
            return Unavailable(f"http {status}: {text}", status, retry_after)
        if status != 200 and not 400 <= status < 500:
            return Unavailable(f"http {status}: unexpected status", status, retry_after)
        document = await _read(response, self._max_answer)
        if document is None:
            return Unavailable(f"http {status}: answer over {self._max_answer} bytes", status)
        signature = _signature(response.headers.get(wire.SIGNATURE_HEADER))
        if status == 200:
            problem = self._check_receipt(document, signature, record, peer)
            if problem is not None:
                log.warning("message %s: untrusted receipt: %s", record.message_id, problem)
                return Unavailable(f"receipt.invalid: {problem}", status)
            return Accepted(document, signature or b"")
        report_or_problem = self._check_error(document, signature, record, peer)
        if isinstance(report_or_problem, str):
            return Unavailable(
                f"http {status} without a valid signed error document: {report_or_problem}",
                status,
                retry_after,
            )
        report = report_or_problem
        return Refused(report.code, report.message, status, document, signature or b"")

    def _check_receipt(
        self, document: bytes, signature: bytes | None, record: MessageRecord, peer: Peer
    ) -> str | None:
        """Why the answer does not prove delivery of ``record``, or None when it does."""
        try:
            receipt = self._verified(document, signature, peer, decode_receipt)
        except GatewayError as exc:
            return str(exc)
        sent = hashlib.sha256(record.envelope).hexdigest()
        ours = sorted((f.file_id, f.sha256) for f in record.files)
        theirs = sorted((f.file_id, f.sha256) for f in receipt.files)
        if receipt.message_id != record.message_id:
            return f"the receipt is for message {receipt.message_id!r}"
        if receipt.sender != peer.id or receipt.recipient != self.participant:
            return f"the receipt is from {receipt.sender!r} to {receipt.recipient!r}"
        if not receipt.accepted:
            return "the receipt says the message was not accepted"
        if receipt.envelope_sha256 != sent:
            return "the receipt's envelope digest is not that of the envelope sent"
        if theirs != ours:
            return "the receipt's file digests differ from the manifest"
        return None

    def _check_error(
        self, document: bytes, signature: bytes | None, record: MessageRecord, peer: Peer
    ) -> ErrorReport | str:
        """The peer's signed refusal of ``record``, or why the answer is not one."""
        try:
            report = self._verified(document, signature, peer, decode_error)
        except GatewayError as exc:
            return str(exc)
        if report.sender != peer.id:
            return f"the error document is from {report.sender!r}"
        if report.message_id is not None:
            if report.message_id != record.message_id:
                return f"the error document is about message {report.message_id!r}"
        # Without a message id (the peer could not read the envelope) nothing binds the document
        # to this request, so it must at least be recent: an old refusal replayed must not
        # reject a message.
        elif abs(self._clock() - report.time) > self._freshness:
            return f"the error document names no message and is dated {report.time.isoformat()}"
        return report

    def _verified(
        self,
        document: bytes,
        signature: bytes | None,
        peer: Peer,
        decode: Callable[[bytes], _Doc],
    ) -> _Doc:
        if signature is None:
            raise GatewayError(f"no valid {wire.SIGNATURE_HEADER} header", code="signature.invalid")
        # A duplicate's answer is the ORIGINAL receipt, possibly signed long ago; the bound is
        # the replay window, not the freshness of this answer.
        oldest = self._clock() - wire.Limits().max_age
        self._trust.verify_from(peer.id, document, signature, oldest=oldest)
        return decode(document)


def _joined(record: MessageRecord, small: dict[str, bytes], boundary: str) -> bytes | None:
    """The request body of a small letter whose files are all in memory, as one buffer: the
    bytes aiohttp's ``MultipartWriter`` would send, without building it. A larger letter, or
    one with a file that streams from the blob store, gets None and goes part by part.

    One buffer is also one send: aiohttp writes each boundary, header block and part to the
    socket on its own, ~18 sends per letter here and as many reads at the peer.
    """
    parts = [
        (wire.ENVELOPE_ID, wire.ENVELOPE_MEDIA_TYPE, record.envelope),
        (wire.SIGNATURE_ID, wire.SIGNATURE_MEDIA_TYPE, record.signature),
    ]
    for file in record.files:
        content = small.get(file.sha256)
        if content is None:
            return None
        parts.append((file.file_id, wire.FILE_MEDIA_TYPE, content))
    if sum(len(data) for _, _, data in parts) > _JOIN_MAX:
        return None
    pieces: list[bytes] = []
    for content_id, media_type, data in parts:
        pieces.append(
            f"--{boundary}\r\nContent-Type: {media_type}\r\n"
            f"Content-ID: {wire.content_id(content_id)}\r\n"
            f"Content-Length: {len(data)}\r\n\r\n".encode()
        )
        pieces += (data, b"\r\n")
    pieces.append(f"--{boundary}--\r\n".encode())
    return b"".join(pieces)


def _content_type(boundary: str) -> str:
    return (
        f'multipart/{wire.MULTIPART_SUBTYPE}; type="{wire.ROOT_TYPE}"; '
        f'start="{wire.content_id(wire.ENVELOPE_ID)}"; boundary={boundary}'
    )


def _signature(header: str | None) -> bytes | None:
    if not header:
        return None
    try:
        return base64.b64decode(header, validate=True)
    except (binascii.Error, ValueError):
        return None


async def _read(response: aiohttp.ClientResponse, cap: int) -> bytes | None:
    """The answer's body, or None past ``cap`` bytes (a signed answer is a few KiB)."""
    if response.content_length is not None and response.content_length > cap:
        return None
    data = bytearray()
    while chunk := await response.content.read(min(cap + 1 - len(data), 1 << 16)):
        data += chunk
        if len(data) > cap:
            return None
    return bytes(data)


async def _peek(response: aiohttp.ClientResponse) -> str:
    """The start of an unsigned answer's body, for the log and the attempt record."""
    try:
        head = await asyncio.wait_for(response.content.read(200), timeout=5)
    except (TimeoutError, aiohttp.ClientError):
        return response.reason or ""
    text = head.decode("utf-8", errors="replace").strip()
    return " ".join(text.split()) or (response.reason or "")


def _retry_after(header: str | None, now: dt.datetime) -> float | None:
    """Retry-After as seconds from now: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if header is None:
        return None
    value = header.strip()
    if value.isascii() and value.isdigit():
        return min(float(value), _MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # an HTTP date is GMT; parsedate gives naive for "-0000"
        when = when.replace(tzinfo=dt.UTC)
    return min(max((when - now).total_seconds(), 0.0), _MAX_RETRY_AFTER)
