"""What the operator API shows: messages, one timeline per message, partners, alerts — as JSON.

Pure shaping of store records and configuration into dictionaries; no HTTP here and no secret
ever: envelopes and receipts are downloaded whole through their own routes, private keys and
tokens are never read.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509

from gateway import envelope
from gateway.config import Participant
from gateway.crypto import load_certificates
from gateway.errors import GatewayError
from gateway.metrics import PeerStatus
from gateway.model import Document, FileRef, Message, Notification
from gateway.store.api import Attempt, HistoryEntry, MessageRecord, State

EXPIRY_WARNING = dt.timedelta(days=30)

JSON = dict[str, Any]


def when(at: dt.datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def decoded(record: MessageRecord) -> Message | None:
    """The envelope's content; None when it cannot be read back (it was checked on the way in)."""
    try:
        return envelope.decode(record.envelope)
    except GatewayError:
        return None


def summary(record: MessageRecord) -> JSON:
    """One row of a message list."""
    return {
        "message_id": record.message_id,
        "direction": record.direction.value,
        "peer": record.peer,
        "type": record.type.value,
        "state": record.state.value,
        "dead": record.state.dead,
        "created_at": when(record.created_at),
        "updated_at": when(record.updated_at),
        "registration_number": record.registration_number,
        "document_uid": record.document_uid,
        "attempts": record.attempts,
        "next_attempt_at": when(record.next_attempt_at),
        "expires_at": when(record.expires_at),
        "error_code": record.error_code,
        "error_message": record.error_message,
        "has_receipt": record.receipt is not None,
    }


def _payload(message: Message | None) -> JSON | None:
    if message is None:
        return None
    payload = message.payload
    if isinstance(payload, Document):
        return {
            "kind": "document",
            "document_kind": payload.kind,
            "title": payload.title,
            "annotation": payload.annotation,
            "sender": payload.sender.short_name,
            "addressees": [p.organization.short_name for p in payload.addressees],
            "registration_number": payload.registration.number if payload.registration else None,
            "registration_date": (
                payload.registration.date.isoformat() if payload.registration else None
            ),
        }
    assert isinstance(payload, Notification)
    return {
        "kind": "notification",
        "notification_kind": payload.kind.value,
        "about_message": payload.message_id,
        "document_uid": payload.document_uid,
        "registration_number": payload.registration.number if payload.registration else None,
        "reason": payload.reason,
        "error_code": payload.error_code,
        "comment": payload.comment,
    }


def _files(record: MessageRecord, message: Message | None) -> list[JSON]:
    refs: dict[str, FileRef] = {}
    if message is not None and isinstance(message.payload, Document):
        refs = {f.id: f for f in message.payload.files}
    out = []
    for stored in record.files:
        ref = refs.get(stored.file_id)
        out.append({
            "id": stored.file_id,
            "name": stored.name,
            "size": stored.size,
            "sha256": stored.sha256,
            "media_type": ref.media_type if ref else None,
            "role": ref.role.value if ref else None,
            "signature_of": ref.signature_of if ref else None,
        })  # fmt: skip
    return out


def timeline(
    record: MessageRecord,
    history: list[HistoryEntry],
    attempts: list[Attempt],
    related: list[MessageRecord],
) -> list[JSON]:
    """Every event of one message in time order: its states, each delivery attempt with its
    error, the receipt, the hand-off, and the messages about the same document."""
    events: list[tuple[dt.datetime, int, JSON]] = []
    for entry in history:
        kind = "state"
        if entry.state is State.DELIVERED:
            kind = "receipt"
        elif entry.state is State.HANDED_OFF:
            kind = "handoff"
        elif entry is history[0]:
            kind = "accepted"
        events.append((entry.at, 0, {
            "at": when(entry.at), "kind": kind, "state": entry.state.value,
            "detail": entry.detail,
        }))  # fmt: skip
    for attempt in attempts:
        events.append((attempt.at, 1, {
            "at": when(attempt.at), "kind": "attempt", "outcome": attempt.outcome,
            "http_status": attempt.http_status, "error": attempt.error,
        }))  # fmt: skip
    for other in related:
        message = decoded(other)
        payload = _payload(message)
        what = (payload or {}).get("notification_kind") or other.type.value
        events.append((other.created_at, 2, {
            "at": when(other.created_at), "kind": "related", "message_id": other.message_id,
            "direction": other.direction.value, "state": other.state.value,
            "detail": str(what), "registration_number": (payload or {}).get(
                "registration_number"),
            "reason": (payload or {}).get("reason"),
        }))  # fmt: skip
    events.sort(key=lambda e: (e[0], e[1]))
    return [event for _, _, event in events]


def detail(
    record: MessageRecord,
    history: list[HistoryEntry],
    attempts: list[Attempt],
    related: list[MessageRecord],
) -> JSON:
    """The message page: summary, content, files, timeline."""
    message = decoded(record)
    return {
        **summary(record),
        "envelope_sha256": record.envelope_sha256,
        "envelope_size": len(record.envelope),
        "correlation_id": record.correlation_id,
        "payload": _payload(message),
        "files": _files(record, message),
        "timeline": timeline(record, history, attempts, related),
    }


@dataclass(frozen=True)
class CertificateView:
    subject: str
    serial: str
    not_before: dt.datetime
    not_after: dt.datetime
    file: str

    def as_json(self, now: dt.datetime) -> JSON:
        left = self.not_after - now
        return {
            "subject": self.subject,
            "serial": self.serial,
            "not_before": when(self.not_before),
            "not_after": when(self.not_after),
            "days_left": left.days,
            "expiring": dt.timedelta(0) <= left <= EXPIRY_WARNING,
            "expired": left < dt.timedelta(0) or self.not_before > now,
            "file": self.file,
        }


def certificates(paths: tuple[Path, ...]) -> list[CertificateView]:
    """The certificates in ``paths`` (public data only); unreadable files are skipped. A file
    is read again only when it changed (the dashboard asks every few seconds)."""
    found = []
    for path in paths:
        try:
            status = path.stat()
            found += _read(path, status.st_mtime_ns, status.st_size)
        except (GatewayError, OSError, ValueError):
            continue
    return found


@functools.lru_cache(maxsize=256)
def _read(path: Path, mtime_ns: int, size: int) -> list[CertificateView]:
    return [_certificate(cert, path) for cert in load_certificates(path)]


def _certificate(cert: x509.Certificate, path: Path) -> CertificateView:
    return CertificateView(
        subject=cert.subject.rfc4514_string(),
        serial=format(cert.serial_number, "x"),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        file=path.name,
    )


def partner(
    participant: Participant,
    certs: list[CertificateView],
    states: dict[str, int],
    health: PeerStatus | None,
    last_contact: dt.datetime | None,
    now: dt.datetime,
) -> JSON:
    return {
        "id": participant.id,
        "name": participant.name,
        "endpoint": participant.endpoint,
        "profile": participant.profile,
        "serves": {kind: list(ids) for kind, ids in participant.serves.items()},
        "certificates": [c.as_json(now) for c in certs],
        "recent_states": states,  # of its latest 500 messages
        "last_contact": when(last_contact),
        "last_failure": when(health.last_failure) if health else None,
        "last_error": health.last_error if health else None,
        "unreachable": bool(health and health.unreachable),
    }


def alerts(
    own: list[CertificateView],
    partners: list[JSON],
    dead_letters: int,
    now: dt.datetime,
) -> list[JSON]:
    """What an operator must act on: certificates expiring within 30 days (ours and partners'),
    dead letters, peers that do not answer."""
    found: list[JSON] = []
    for cert in own:
        view = cert.as_json(now)
        if view["expiring"] or view["expired"]:
            found.append({
                "kind": "certificate", "severity": "critical" if view["expired"] else "warning",
                "subject": "own", "text": f"{cert.subject}: {view['days_left']} days left",
                "not_after": view["not_after"],
            })  # fmt: skip
    for peer in partners:
        for view in peer["certificates"]:
            if view["expiring"] or view["expired"]:
                found.append({
                    "kind": "certificate",
                    "severity": "critical" if view["expired"] else "warning",
                    "subject": peer["id"],
                    "text": f"{view['subject']}: {view['days_left']} days left",
                    "not_after": view["not_after"],
                })  # fmt: skip
        if peer["unreachable"]:
            found.append({
                "kind": "unreachable", "severity": "critical", "subject": peer["id"],
                "text": peer["last_error"] or "no answer", "since": peer["last_failure"],
            })  # fmt: skip
    if dead_letters:
        found.append({
            "kind": "dead_letters", "severity": "warning", "subject": "queue",
            "text": f"{dead_letters} dead letters", "count": dead_letters,
        })  # fmt: skip
    return found
