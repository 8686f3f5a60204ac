"""The storage contract: what the gateway needs to keep, and nothing about how.

Two backends implement it (SQLite, the embedded default; PostgreSQL, for several nodes) and one
contract test suite runs against both. A backend only persists and answers; the meaning of a
retry, an expiry or a receipt is decided above it (delivery, receiver, hand-off). Every write
method is ONE transaction that also appends its audit record, so a crash leaves either the
whole step or none of it. Blobs referenced by a write are already durable (fsynced) before the
write is called.

Times are timezone-aware UTC datetimes. Message ids are unique per gateway: an inbound and an
outbound message never share one (envelope ids are GUIDs).
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Protocol

from gateway.errors import GatewayError
from gateway.model import MessageType


class Direction(enum.StrEnum):
    OUT = "out"  # we send it to a peer
    IN = "in"  # a peer sent it to us; handed off to our local system
    LOCAL = "local"  # made by this gateway for our own local system (a failure notification)


class State(enum.StrEnum):
    # outbound
    QUEUED = "queued"  # waiting for its (next) delivery attempt
    DELIVERED = "delivered"  # the peer returned a valid signed receipt
    REJECTED = "rejected"  # the peer refused it with a signed error (never retried by itself)
    EXPIRED = "expired"  # expires_at passed before delivery (dead letter)
    CANCELLED = "cancelled"  # an operator cancelled it
    # inbound and local
    ACCEPTED = "accepted"  # stored, receipt given; waiting for hand-off
    HANDED_OFF = "handed-off"  # exported to the local system

    @property
    def dead(self) -> bool:
        """A dead letter: an operator may retry it."""
        return self in (State.REJECTED, State.EXPIRED, State.CANCELLED)


@dataclass(frozen=True)
class BlobRef:
    sha256: str  # lower-case hex; the blob's address
    size: int


@dataclass(frozen=True)
class StoredFile:
    """A file of a message: its manifest id and name, and the blob holding its bytes."""

    file_id: str
    name: str
    sha256: str
    size: int


@dataclass(frozen=True)
class NewMessage:
    """Everything a write needs to record a message (outbound, inbound or local)."""

    message_id: str
    direction: Direction
    peer: str  # the other participant: recipient of OUT, sender of IN, ourselves for LOCAL
    type: MessageType
    created_at: dt.datetime  # the envelope's Created
    envelope: bytes  # the exact envelope bytes
    signature: bytes  # its detached CMS signature (DER); empty for LOCAL items
    envelope_sha256: str
    files: tuple[StoredFile, ...] = ()
    expires_at: dt.datetime | None = None
    correlation_id: str | None = None
    document_uid: str | None = None
    registration_number: str | None = None
    local_ref: str | None = None  # the local system's idempotency key (OUT; unique per peer)


@dataclass(frozen=True)
class MessageRecord:
    message_id: str
    direction: Direction
    peer: str
    type: MessageType
    state: State
    created_at: dt.datetime
    updated_at: dt.datetime
    envelope: bytes
    signature: bytes
    envelope_sha256: str
    files: tuple[StoredFile, ...]
    expires_at: dt.datetime | None
    correlation_id: str | None
    document_uid: str | None
    registration_number: str | None
    local_ref: str | None
    attempts: int  # delivery attempts made (OUT)
    next_attempt_at: dt.datetime | None  # OUT and QUEUED only
    receipt: bytes | None  # OUT: the peer's receipt; IN: the receipt we gave
    receipt_signature: bytes | None
    error_code: str | None  # why it is REJECTED/EXPIRED, or the last attempt's error
    error_message: str | None


def inserted(
    message: NewMessage,
    *,
    state: State,
    at: dt.datetime,
    receipt: bytes | None = None,
    receipt_signature: bytes | None = None,
) -> MessageRecord:
    """The record of ``message`` just as it was written, in ``state`` at ``at``: no attempts,
    no error yet."""
    return MessageRecord(
        message_id=message.message_id,
        direction=message.direction,
        peer=message.peer,
        type=message.type,
        state=state,
        created_at=message.created_at,
        updated_at=at,
        envelope=message.envelope,
        signature=message.signature,
        envelope_sha256=message.envelope_sha256,
        files=message.files,
        expires_at=message.expires_at,
        correlation_id=message.correlation_id,
        document_uid=message.document_uid,
        registration_number=message.registration_number,
        local_ref=message.local_ref,
        attempts=0,
        next_attempt_at=None,
        receipt=receipt,
        receipt_signature=receipt_signature,
        error_code=None,
        error_message=None,
    )


@dataclass(frozen=True)
class HistoryEntry:
    at: dt.datetime
    state: State
    detail: str


@dataclass(frozen=True)
class Attempt:
    at: dt.datetime
    outcome: str  # "delivered" | "retry" | "rejected" | "expired"
    http_status: int | None
    error: str | None


@dataclass(frozen=True)
class AuditRecord:
    seq: int
    at: dt.datetime
    actor: str  # "gateway", "operator:<name>", "peer:<participant>"
    action: str  # e.g. "message.queued", "message.delivered", "queue.retry"
    message_id: str | None
    detail: str
    prev_hash: str  # hex SHA-256 of the previous record ("0" * 64 for the first)
    hash: str  # hex SHA-256 over prev_hash and this record's fields (gateway.audit.record_hash)


# Outcomes of one delivery attempt, given to Store.finish_attempt.


@dataclass(frozen=True)
class Delivered:
    receipt: bytes
    receipt_signature: bytes
    http_status: int = 200


@dataclass(frozen=True)
class Retry:
    next_attempt_at: dt.datetime
    error: str
    http_status: int | None = None


@dataclass(frozen=True)
class Rejected:
    """The peer refused it; ``notification`` (direction LOCAL) tells our local system."""

    code: str
    message: str
    notification: NewMessage
    http_status: int | None = None
    error_document: bytes | None = None


EXPIRED_CODE: Final = "delivery.expired"  # the attempt's and the failure notice's error code


@dataclass(frozen=True)
class Expired:
    notification: NewMessage
    error: str


Outcome = Delivered | Retry | Rejected | Expired


@dataclass(frozen=True)
class Accepted:
    """Result of recording an inbound message: new, or the duplicate of an earlier one."""

    new: bool
    record: MessageRecord  # for a duplicate: the ORIGINAL record, with the original receipt


@dataclass(frozen=True)
class PeerRoom:
    """How many more messages one claim may lease for each peer: ``rooms[peer]`` for the peers
    named, ``default`` for any other; and how a claim whose limit binds shares its places.

    A delivery worker passes the free places it keeps for each peer, so that one peer's backlog
    cannot take every place the worker has while letters to other peers wait behind it. When
    more messages are due within their rooms than the claim's limit, each gets a turn, the
    first of a peer with room r turn 1 - r, the next 2 - r, and so on, and the lowest turns are
    taken first (then the oldest due): the peers with the most free room are served first, one
    message each in turn, instead of the peer with the oldest backlog taking all.
    """

    default: int
    rooms: Mapping[str, int] = field(default_factory=dict)

    def of(self, peer: str) -> int:
        """The room of ``peer`` (never below 0)."""
        return max(0, self.rooms.get(peer, self.default))


@dataclass(frozen=True)
class MessageQuery:
    """What an operator searches messages by; every given field must match.

    ``text`` matches a message id or document uid exactly, or a registration number as a
    case-insensitive substring. ``since``/``until`` bound ``created_at`` (since inclusive,
    until exclusive). Results are newest first; ``before`` (a message id) pages past a result.
    """

    text: str | None = None
    peer: str | None = None
    direction: Direction | None = None
    states: tuple[State, ...] = ()
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    before: str | None = None
    limit: int = 50


class StoreError(GatewayError):
    """The gateway could not record it (disk full, database gone); nothing was changed."""

    code = "store.failed"
    http_status = 503  # the caller may try again later


SMALL_BLOB: Final = 256 * 1024  # bytes: the largest blob BlobStore.small hands over whole
WHOLE_BUDGET: Final = 16 * 1024 * 1024  # bytes of one letter's files held in memory at once


class SizedFile(Protocol):
    """A file known by its content's SHA-256 and size (a StoredFile, a model FileRef)."""

    @property
    def sha256(self) -> str: ...

    @property
    def size(self) -> int: ...


def small_contents(contents: Mapping[str, bytes] | None) -> dict[str, bytes]:
    """The ``contents`` of :meth:`Store.add_inbound`, checked: each at most SMALL_BLOB bytes."""
    files = dict(contents or {})
    for digest, data in files.items():
        if len(data) > SMALL_BLOB:
            raise ValueError(
                f"blob {digest} has {len(data):,} bytes; contents that ride with a message are "
                f"at most {SMALL_BLOB:,} bytes each (put larger files first)"
            )
    return files


def worth_fetching_whole(files: Sequence[SizedFile], budget: int = WHOLE_BUDGET) -> list[str]:
    """The digests of ``files`` to ask :meth:`BlobStore.small` for: the small ones, in order,
    while they fit in ``budget`` bytes together; every other file is streamed. A letter of
    thousands of small files thus never sits in memory whole."""
    wanted: list[str] = []
    for file in files:
        if file.size <= SMALL_BLOB and file.size <= budget:
            wanted.append(file.sha256)
            budget -= file.size
    return wanted


class BlobStore(Protocol):
    async def put(self, chunks: AsyncIterator[bytes], *, max_size: int | None = None) -> BlobRef:
        """Stream a blob in, hashing as it goes; durable (fsynced) when this returns.

        Over ``max_size`` bytes: stop reading, keep nothing, raise ValueError.
        """
        ...

    async def put_bytes(self, data: bytes) -> BlobRef: ...

    def read(self, sha256: str, *, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        """The blob's bytes in chunks (never whole); KeyError if it does not exist."""
        ...

    async def exists(self, sha256: str) -> bool: ...

    async def small(self, sha256s: Sequence[str]) -> dict[str, bytes]:
        """The whole content of those of ``sha256s`` that the store keeps in small pieces (at
        most :data:`SMALL_BLOB` bytes each), fetched together in one trip: how a letter's
        files are sent and handed off without a round per file. A blob missing from the
        answer (large, kept as a file, or unknown) is read with :meth:`read`; a store of
        files only answers ``{}``."""
        ...

    def local_path(self, sha256: str) -> Path | None:
        """The blob as a local file, for copying without the event loop; None when blobs are
        not local files (or this one does not exist)."""
        ...


class Store(Protocol):
    """A gateway's durable state. Every method may raise StoreError."""

    blobs: BlobStore

    async def close(self) -> None: ...

    # --- outbound ------------------------------------------------------------------------
    async def add_outbound(self, message: NewMessage, *, actor: str) -> MessageRecord:
        """Record a sealed outbound message as QUEUED, due now (message + queue + audit).

        A ``local_ref`` already used returns that earlier record instead (idempotent intake).
        """
        ...

    async def claim_outbound(
        self,
        owner: str,
        *,
        now: dt.datetime,
        lease: dt.timedelta,
        limit: int,
        per_peer: PeerRoom | None = None,
    ) -> list[MessageRecord]:
        """Lease up to ``limit`` QUEUED messages that are due (next attempt or expiry reached)
        and not leased by a live owner, oldest due first. With ``per_peer``, at most
        ``per_peer.of(peer)`` of them for any one peer (the oldest due of each), shared by turn
        when the limit binds (:class:`PeerRoom`). Returned oldest due first."""
        ...

    async def finish_attempt(self, message_id: str, owner: str, outcome: Outcome) -> bool:
        """Record one attempt and its outcome; releases the lease. False (and nothing written)
        when ``owner`` no longer holds the lease."""
        ...

    async def release_leases(self, owner: str | None = None) -> int:
        """Give back the leases of ``owner`` (all owners with None: single-node start-up)."""
        ...

    async def renew_leases(
        self, owner: str, message_ids: Collection[str], *, now: dt.datetime, lease: dt.timedelta
    ) -> int:
        """Extend to ``now + lease`` (never shorten) the leases that ``owner`` still holds on
        ``message_ids`` (outbound or hand-off), so work that outlasts its lease is not claimed
        a second time; how many messages it extended. A lease taken over by another owner, or
        given up when its message was finished, is left alone."""
        ...

    # --- inbound and local ---------------------------------------------------------------
    async def add_inbound(
        self,
        message: NewMessage,
        receipt: bytes,
        receipt_signature: bytes,
        *,
        actor: str,
        contents: Mapping[str, bytes] | None = None,
    ) -> Accepted:
        """Record an accepted inbound message with the receipt we give, as ACCEPTED; a message
        id seen before changes nothing and returns the original record, unless it is one of
        our own (an outbound or local message): that is a ValueError.

        ``contents`` (SHA-256 → bytes, each at most :data:`SMALL_BLOB` bytes; the caller
        computed every key from its bytes) are files of the message that were not put before:
        they are stored as blobs in the same transaction, so a letter's small files cost no
        commit of their own. Every other file of the message must be stored already."""
        ...

    async def claim_handoff(
        self, owner: str, *, now: dt.datetime, lease: dt.timedelta, limit: int
    ) -> list[MessageRecord]:
        """Lease up to ``limit`` ACCEPTED inbound/local messages for hand-off, oldest first."""
        ...

    async def mark_handed_off(self, message_id: str, owner: str, *, detail: str) -> bool: ...

    # --- correlations --------------------------------------------------------------------
    async def put_correlation(self, scope: str, key: str, value: str) -> None:
        """Keep ``value`` under (scope, key), replacing an earlier one (one transaction)."""
        ...

    async def get_correlation(self, scope: str, key: str) -> str | None: ...

    # --- reading -------------------------------------------------------------------------
    async def get(self, message_id: str) -> MessageRecord | None: ...

    async def find_inbound(self, document_uid: str) -> MessageRecord | None:
        """The newest inbound message carrying the document ``document_uid``."""
        ...

    async def list_messages(
        self,
        *,
        direction: Direction | None = None,
        states: tuple[State, ...] = (),
        limit: int = 100,
    ) -> list[MessageRecord]:
        """Newest first."""
        ...

    async def search(self, query: MessageQuery) -> list[MessageRecord]:
        """Messages matching ``query``, newest first, at most ``query.limit``; an unknown
        ``before`` id gives an empty page."""
        ...

    async def count_by_state(self) -> dict[tuple[Direction, State], int]: ...

    async def recent_states(self, peer: str, *, limit: int) -> dict[tuple[Direction, State], int]:
        """Direction and state counts of the newest ``limit`` messages with ``peer`` (a
        dashboard's view of one partner: cheap however many messages there are)."""
        ...

    async def history(self, message_id: str) -> list[HistoryEntry]: ...

    async def attempts(self, message_id: str) -> list[Attempt]: ...

    # --- operators -----------------------------------------------------------------------
    async def retry(self, message_id: str, *, actor: str, now: dt.datetime) -> MessageRecord:
        """A dead outbound letter back to QUEUED, due now (its expiry cleared). KeyError if
        unknown, ValueError if it is not an outbound dead letter."""
        ...

    async def cancel(self, message_id: str, *, actor: str) -> MessageRecord:
        """A QUEUED outbound message to CANCELLED. KeyError / ValueError as for retry."""
        ...

    # --- audit ---------------------------------------------------------------------------
    async def audit(self, *, after: int = 0, limit: int = 1000) -> list[AuditRecord]:
        """Audit records with seq > ``after``, in order."""
        ...

    # --- blob garbage collection ---------------------------------------------------------
    async def gc_blobs(self, older_than: dt.timedelta) -> int:
        """Delete the blobs that no stored message references and that nobody stored (again)
        within ``older_than``; how many were deleted. The grace period covers a blob stored
        for a message not yet committed (an intake or a receipt under way): keep it at hours.
        """
        ...
