"""xdms «Уведомление» and «Квитанция» ↔ canonical Notification.

Reading:

- ``documentAccepted`` → REGISTERED with the receiver's ``num`` (no date: the event's day);
  ``documentRefused`` → REFUSED with ``reason`` (a text outside the closed list is mapped with
  :func:`adapters.reasons.closest` and kept in the comment); ``executorAssigned`` →
  EXECUTOR_ASSIGNED (the executor named in the comment when there is none); ``reportSent`` →
  ANSWERED with the report's number. ``reportPrepared``, ``courseChanged`` and
  ``documentPublished`` have no canonical kind and are refused (``format.unsupported``).
- ``notification/@uid`` is the document uid; ``@mid`` (2.6+) the header uid of the message that
  carried the document → ``Notification.message_id`` ("" when absent: the gateway then finds
  the document by its uid).
- A Квитанция answers a message, not a document: ``acknowledgment/@uid`` →
  ``message_id``, ``document_uid`` is "". ``accepted=true`` → RECEIVED; ``accepted=false`` →
  FAILED, the comment ``[code] text`` giving ``error_code`` (``medo.not_accepted`` if none).

Writing is the mirror image: RECEIVED and FAILED become a Квитанция (FAILED with
``accepted=false`` and ``[error code] comment``), the others an Уведомление. The uid quoted is
the one the МЭДО client knows: ``medo.header_uid`` of the context (the header uid of the
document it sent us), else the notification's message id (the header uid we wrote when we
exported the document).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping

from lxml import etree

from adapters import reasons
from adapters.api import FormatError
from adapters.medo import names, people
from adapters.medo.document import write_number
from adapters.medo.xdms import Builder, Node, clip
from gateway.model import Notification, NotificationKind, Organization, Registration

COMMENT = 2047
_CODED = re.compile(r"\[([a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*)\]\s*(.*)", re.S)
#: The 2.2 schema lists only the first nine reasons; others are written as the general one.
REASONS_22 = frozenset(reasons.REASONS[:9])


def read_notification(root: Node) -> Notification:
    author = people.source(root.required("header").required("source"))
    note = root.required("notification")
    document_uid = names.guid(note.attr("uid"))
    if document_uid is None:
        raise FormatError(
            f"{root.where}: <notification> needs the document's GUID in its uid attribute",
            code="format.invalid",
        )
    events = [e for e in note.elements() if e.name != "comment"]
    if not events:
        raise FormatError(f"{root.where}: the notification names no event", code="format.invalid")
    event = events[0]
    kind = names.NOTICE_KINDS.get(event.name)
    if kind is None:
        known = names.UNCARRIED_NOTICES.get(event.name, event.name)
        raise FormatError(
            f"{root.where}: the notification «{known}» has no counterpart in the gateway; it "
            "carries registered, refused, executor assigned and report sent",
            code="format.unsupported",
        )
    time = _time(event, root.where)
    correspondent = event.child("correspondent")
    if correspondent is not None:
        author = people.enrich(author, [people.organization(correspondent)])
    comment = note.text("comment")
    registration = reason = None
    if kind is NotificationKind.REGISTERED:
        registration = _number(event.child("num"), time)
    elif kind is NotificationKind.ANSWERED:
        report = event.child("report")
        registration = _number(report.child("num") if report is not None else None, time)
    elif kind is NotificationKind.REFUSED:
        reason, comment = refusal(event.text("reason"), comment)
    elif kind is NotificationKind.EXECUTOR_ASSIGNED and comment is None:
        comment = _executor(event.child("executor"))
    return Notification(
        kind=kind,
        document_uid=document_uid,
        message_id=names.message_guid(note.attr("mid")) or "",
        time=time,
        registration=registration,
        reason=reason,
        comment=comment,
        author=author,
    )


def read_acknowledgment(root: Node) -> Notification:
    author = people.source(root.required("header").required("source"))
    ack = root.required("acknowledgment")
    uid = names.message_guid(ack.attr("uid"))
    if uid is None:
        raise FormatError(
            f"{root.where}: <acknowledgment> needs the GUID of the acknowledged message in its "
            "uid attribute",
            code="format.invalid",
        )
    time = _time(ack, root.where)
    comment = ack.text("comment")
    if (ack.text("accepted") or "").lower() in ("true", "1"):
        return Notification(
            NotificationKind.RECEIVED, "", uid, time, comment=comment, author=author
        )
    coded = _CODED.fullmatch(comment or "")
    code, text = (
        (coded.group(1), coded.group(2) or None) if coded else (names.NOT_ACCEPTED, comment)
    )
    return Notification(
        NotificationKind.FAILED, "", uid, time, error_code=code, comment=text, author=author
    )


def refusal(text: str | None, comment: str | None) -> tuple[str, str | None]:
    """A reason of the closed list, and the comment (with a free-text reason kept in it)."""
    if text and reasons.is_reason(text):
        return text, comment
    reason = reasons.closest(text)
    kept = "; ".join(part for part in (text, comment) if part)
    return reason, kept or None


def _time(node: Node, where: str) -> dt.datetime:
    text = node.text("time")
    try:
        return names.read_datetime(text or "")
    except ValueError:
        raise FormatError(
            f"{where}: <{node.name}> needs a <time> (xsd:dateTime), not {text!r}",
            code="format.invalid",
        ) from None


def _number(num: Node | None, time: dt.datetime) -> Registration | None:
    number = num.text("number") if num is not None else None
    if num is None or not number or number == names.NO_NUMBER:
        return None
    date = num.text("date")
    try:
        day = names.read_date(date) if date else time.date()
    except ValueError:
        raise FormatError(f"{date!r} is not a date (YYYY-MM-DD)", code="format.invalid") from None
    return Registration(number, day)


def _executor(node: Node | None) -> str | None:
    if node is None:
        return None
    parts = [node.text(n) for n in ("person", "post", "department", "organization")]
    named = ", ".join(p for p in parts if p)
    return f"Исполнитель: {named}" if named else None


# ---- writing ---------------------------------------------------------------------------------


def write(
    note: Notification,
    *,
    version: str,
    header_uid: str,
    created: dt.datetime,
    context: Mapping[str, str],
    fallback: Organization,
) -> etree._Element:
    """An Уведомление, or a Квитанция for RECEIVED and FAILED."""
    b = Builder(names.message_namespace(version), "xdms")
    root = b.root("communication", version=version)
    receipt = note.kind in (NotificationKind.RECEIVED, NotificationKind.FAILED)
    header = b.add(
        root,
        "header",
        type=names.ACKNOWLEDGMENT if receipt else names.NOTIFICATION,
        uid=header_uid,
        created=names.write_datetime(created),
    )
    people.write_partner(b, header, "source", note.author or fallback)
    answered = context.get("medo.header_uid") or note.message_id
    if receipt:
        if not answered:
            raise FormatError(
                "a Квитанция must name the message it acknowledges; the notification has no "
                "message id",
                code="format.unwritable",
            )
        ack = b.add(root, "acknowledgment", uid=names.as_guid(answered))
        b.add(ack, "time", names.write_datetime(note.time))
        b.add(ack, "accepted", "true" if note.kind is NotificationKind.RECEIVED else "false")
        comment = note.comment
        if note.kind is NotificationKind.FAILED:
            coded = f"[{note.error_code or names.NOT_ACCEPTED}]"
            comment = f"{coded} {comment}" if comment else coded
        b.opt(ack, "comment", clip(comment, COMMENT))
        return root
    if not note.document_uid:
        raise FormatError(
            "an Уведомление must name its document; the notification has no document uid",
            code="format.unwritable",
        )
    element, label = names.NOTICE_ELEMENTS[note.kind]
    notification = b.add(
        root,
        "notification",
        type=label,
        uid=names.as_guid(note.document_uid),
        id=context.get("medo.document_id"),
        mid=names.as_guid(answered) if answered and version != "2.2" else None,
    )
    event = b.add(notification, element)
    b.add(event, "time", names.write_datetime(note.time))
    if note.author is not None:
        uid = names.as_guid(note.author.uid) if note.author.uid and version != "2.2" else None
        people.write_anyone(b, b.add(event, "correspondent", uid=uid), note.author)
    comment = note.comment
    if note.kind is NotificationKind.REGISTERED:
        write_number(b, event, "num", _or_today(note), None)
    elif note.kind is NotificationKind.ANSWERED:
        report = b.add(event, "report")
        write_number(b, report, "num", note.registration, None)
    elif note.kind is NotificationKind.REFUSED:
        reason, comment = refusal(note.reason, comment)
        if version == "2.2" and reason not in REASONS_22:
            comment = "; ".join(p for p in (reason, comment) if p)
            reason = reasons.DEFAULT
        b.add(event, "reason", reason)
    elif note.kind is NotificationKind.EXECUTOR_ASSIGNED:
        for role in ("secretary", "manager", "executor"):
            b.add(event, role)
    b.opt(notification, "comment", clip(comment, COMMENT))
    return root


def _or_today(note: Notification) -> Registration:
    """documentAccepted requires the receiver's number: "б/н" of the event's day if unknown."""
    return note.registration or Registration(names.NO_NUMBER, note.time.date())
