"""The canonical model: what every adapter translates to and from.

Frozen dataclasses and enums only, no I/O. Modelled on the union of МЭДО xdms and EOS СЭВ
(ГОСТ Р 53898-2013): an adapter maps its format onto these types and back, the envelope codec
writes them to the wire. Optional fields are ``None`` (or an empty tuple), never a sentinel, so
that ``decode(encode(x)) == x`` holds exactly.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterator
from dataclasses import dataclass, field


class OrgIdKind(enum.StrEnum):
    """Kinds of organisation identifier a participant can serve (routing keys)."""

    UID = "uid"  # organisation GUID (МЭДО source/@uid, СЭВ Organization/@UID)
    INN = "inn"
    OGRN = "ogrn"
    MEDO = "medo"  # МЭДО address, e.g. "WH-MEDO~APRF"


@dataclass(frozen=True)
class Organization:
    """A legal body taking part in correspondence, identified by any of its ids."""

    short_name: str
    full_name: str | None = None
    inn: str | None = None
    ogrn: str | None = None
    medo_address: str | None = None
    uid: str | None = None
    region: str | None = None  # region code, e.g. "61" for Rostov oblast

    def identifiers(self) -> Iterator[tuple[OrgIdKind, str]]:
        """The ids by which a router may find this organisation, most specific first."""
        for kind, value in (
            (OrgIdKind.UID, self.uid),
            (OrgIdKind.INN, self.inn),
            (OrgIdKind.OGRN, self.ogrn),
            (OrgIdKind.MEDO, self.medo_address),
        ):
            if value:
                yield kind, value


@dataclass(frozen=True)
class Person:
    """An official: a signatory, an addressee or an executor, within an organisation."""

    organization: Organization
    name: str | None = None
    post: str | None = None
    department: str | None = None
    contact: str | None = None


@dataclass(frozen=True)
class Signatory:
    """Someone who signed the document, and when."""

    person: Person
    signed: dt.date | None = None


class FileRole(enum.StrEnum):
    MAIN = "main"  # the text of the document
    ATTACHMENT = "attachment"
    SIGNATURE = "signature"  # an official's detached signature of another file


@dataclass(frozen=True)
class FileRef:
    """One file travelling with a document, named in the signed manifest by ``id``.

    ``sha256`` (and ``streebog256`` under the GOST profile) are lower-case hex digests of the
    exact bytes. A signature file points at the file it signs with ``signature_of``.
    """

    id: str
    role: FileRole
    name: str
    media_type: str
    size: int
    sha256: str
    streebog256: str | None = None
    signature_of: str | None = None
    description: str | None = None
    pages: int | None = None


class Urgency(enum.StrEnum):
    NORMAL = "normal"
    URGENT = "urgent"  # Срочно
    IMMEDIATE = "immediate"  # Весьма срочно / Оперативно


class LinkKind(enum.StrEnum):
    """Document link types (the МЭДО list; СЭВ links map onto it)."""

    IN_REPLY_TO = "in-reply-to"  # В ответ на
    IN_EXECUTION_OF = "in-execution-of"  # Во исполнение
    BASIS = "basis"  # Документ-основание
    ON_NUMBER = "on-number"  # На №
    ANSWER = "answer"  # Ответ
    RELATED = "related"  # Связан с


@dataclass(frozen=True)
class Link:
    """A reference to another document, by uid and/or by its registration number and date."""

    kind: LinkKind
    document_uid: str | None = None
    number: str | None = None
    date: dt.date | None = None
    organization: Organization | None = None


class NotificationKind(enum.StrEnum):
    RECEIVED = "received"  # delivered to the recipient's system (СЭВ Reception)
    REGISTERED = "registered"  # МЭДО documentAccepted, СЭВ Registration
    REFUSED = "refused"  # МЭДО documentRefused, СЭВ Failure
    EXECUTOR_ASSIGNED = "executor-assigned"
    ANSWERED = "answered"
    FAILED = "failed"  # the gateway could not deliver (rejected or expired)


@dataclass(frozen=True)
class Registration:
    """A registration number and date in some organisation's register."""

    number: str
    date: dt.date


@dataclass(frozen=True)
class Document:
    """An official document: the letter, report or order that travels between participants."""

    uid: str  # stable across every message about this document
    kind: str  # e.g. "Письмо", "Доклад", "Распоряжение"
    sender: Organization
    registration: Registration | None = None
    title: str | None = None
    annotation: str | None = None
    signatories: tuple[Signatory, ...] = ()
    addressees: tuple[Person, ...] = ()
    pages: int | None = None
    urgency: Urgency = Urgency.NORMAL
    links: tuple[Link, ...] = ()
    subscriptions: tuple[NotificationKind, ...] = ()  # what the sender wants reported back
    files: tuple[FileRef, ...] = ()


@dataclass(frozen=True)
class Notification:
    """A business event about a document, travelling back to its sender."""

    kind: NotificationKind
    document_uid: str
    message_id: str  # the message that carried the document
    time: dt.datetime
    registration: Registration | None = None  # the receiver's number and date
    reason: str | None = None  # for REFUSED: a value of the closed МЭДО list
    error_code: str | None = None  # for FAILED: the gateway error code
    comment: str | None = None
    author: Organization | None = None


class MessageType(enum.StrEnum):
    DOCUMENT = "document"
    NOTIFICATION = "notification"


@dataclass(frozen=True)
class Message:
    """What one envelope carries from one participant to another.

    ``sender`` and ``recipient`` are participant ids (gateways), not organisations; the
    organisations are inside the payload. ``correlation_id`` ties every message about one
    exchange together (a notification copies it from the document's message).
    """

    message_id: str
    created: dt.datetime
    sender: str
    recipient: str
    payload: Document | Notification
    expires: dt.datetime | None = None
    correlation_id: str | None = None
    in_reply_to: str | None = None  # message id this one answers

    @property
    def type(self) -> MessageType:
        if isinstance(self.payload, Document):
            return MessageType.DOCUMENT
        return MessageType.NOTIFICATION

    @property
    def files(self) -> tuple[FileRef, ...]:
        return self.payload.files if isinstance(self.payload, Document) else ()


@dataclass(frozen=True)
class FileDigest:
    file_id: str
    sha256: str


@dataclass(frozen=True)
class Receipt:
    """Transport-level proof of acceptance, signed by the receiving gateway."""

    message_id: str
    time: dt.datetime
    sender: str  # the participant that issues the receipt (the receiver of the message)
    recipient: str  # the participant the receipt goes to (the sender of the message)
    accepted: bool
    envelope_sha256: str  # digest of the exact envelope bytes received
    files: tuple[FileDigest, ...] = field(default=())


@dataclass(frozen=True)
class ErrorReport:
    """A signed refusal: a stable machine-readable code and a text a person can act on."""

    code: str
    message: str
    time: dt.datetime
    sender: str
    message_id: str | None = None  # the refused message, when it could be read
