"""Notifications ↔ СЭВ ``Report`` (ГОСТ Р 53898-2013); docs/adapters/sev.md has the table.

- ``Notification/InitialDoc/@UID`` ↔ document uid; ``Header/@ReturnID`` ↔ the message id the
  notification answers (the gateway writes documents with ``ReturnID`` = its message id, and
  ДЕЛО copies it into its reports). A report about a document ДЕЛО sent carries ДЕЛО's own
  ``ReturnID`` instead (``sev.return_id``, kept at intake), so that ДЕЛО finds its document.
- ``Reception`` ↔ RECEIVED, ``Registration`` ↔ REGISTERED, ``Consideration`` ↔
  EXECUTOR_ASSIGNED, ``Answer`` ↔ ANSWERED, ``Failure`` ↔ REFUSED or FAILED.
- The reporting side's registration (number, date) and a comment travel as
  ``DocumentList/Document`` (``RegistrationInfo``, ``Note``) — where ДЕЛО puts the
  registration of the document it registered.
- ``Failure``: free text and a numeric ``Code``. Read: the reason is the closed МЭДО list's
  :func:`adapters.reasons.closest` to the text, and the comment keeps the original text and
  code. Written: "<reason>" or "<reason>: <comment>" with ``Code`` = the reason's place in
  that list (1-28), which reads back exactly; the gateway's own "not delivered" is
  "[<error code>] <comment>" with ``Code="0"``.
- ``Header/Sender/Contact`` ↔ author (this participant, ``Config.organization``, when the
  notification names none: a report must name its sender).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from pathlib import Path
from typing import Final

from lxml import etree

from adapters.api import FormatError, Package
from adapters.reasons import REASONS, closest
from adapters.sev.config import SevConfig
from adapters.sev.contacts import read_organization
from adapters.sev.folder import REPORT, Message
from adapters.sev.header import MESSAGE_RESOURCE, read_ids, write_header
from adapters.sev.xmlio import (
    attr,
    find,
    format_time,
    local,
    need,
    opt,
    parse_date,
    parse_time,
    root,
    serialize,
    sub,
    text,
    zone_of,
)
from gateway.model import Notification, NotificationKind, Organization, Registration

UNDELIVERED: Final = 0  # Failure/@Code of the gateway's own "could not deliver"
DELIVERY_TYPE: Final = "СЭВ"  # Answer/Type we write
_FAILED = re.compile(r"\[(?P<code>[a-z0-9_]+(?:\.[a-z0-9_]+)*)\](?: (?P<comment>.*))?", re.DOTALL)
_FAILURES = (NotificationKind.REFUSED, NotificationKind.FAILED)
_MESSAGE_TYPE: Final = {
    NotificationKind.RECEIVED: "Reception",
    NotificationKind.REFUSED: "Failure",
    NotificationKind.FAILED: "Failure",
}


# ---- reading ------------------------------------------------------------------------------


def read_report(message: Message, config: SevConfig) -> Package:
    tree = message.root
    header = need(tree, "Header", "Report")
    zone = zone_of(header, config.zone)
    notice = need(tree, "Notification", "Report")
    initial = need(notice, "InitialDoc", "Report/Notification")
    document_uid = attr(initial, "UID")
    if document_uid is None:
        raise FormatError(
            "Report/Notification/InitialDoc has no UID; it names the document the report is about"
        )
    return_id = attr(header, "ReturnID")
    if return_id is None:
        raise FormatError(
            "Report/Header has no ReturnID; a report copies it from the document "
            "it answers, and cannot be matched without it"
        )
    header_time = parse_time(attr(header, "Time"), "Report/Header/@Time", zone)
    contact = find(header, "Sender/Contact")
    author = None
    if contact is not None and find(contact, "Organization") is not None:
        author = read_organization(contact, "Report/Header/Sender/Contact")
    held = find(tree, "DocumentList/Document")
    registration = None
    number = text(held, "RegistrationInfo/Number") if held is not None else None
    if held is not None and number is not None and number.strip():
        day = parse_date(text(held, "RegistrationInfo/Date"), "DocumentList/Document/Date")
        registration = Registration(number, day)
    note = text(held, "Note") if held is not None else None
    kind, time, reason, error_code, comment = _event(notice, zone, header_time, note)
    notification = Notification(
        kind=kind,
        document_uid=document_uid,
        message_id=return_id,
        time=time,
        registration=registration,
        reason=reason,
        error_code=error_code,
        comment=comment,
        author=author,
    )
    context = read_ids(header) | {
        key: value
        for key, value in (
            ("sev.number", (text(initial, "Number") or "").strip()),
            ("sev.date", (text(initial, "Date") or "").strip()),
            ("sev.group", text(initial, "Group")),
        )
        if value
    }
    return Package(notification, {}, context)


def _event(
    notice: etree._Element, zone: dt.tzinfo, header_time: dt.datetime, note: str | None
) -> tuple[NotificationKind, dt.datetime, str | None, str | None, str | None]:
    """(kind, time, reason, error code, comment) of the report's one event."""
    failure = find(notice, "Failure")
    if failure is not None:
        kind, reason, error_code, comment = read_failure(failure)
        return kind, header_time, reason, error_code, comment
    where = "Report/Notification"
    registered = find(notice, "Registration")
    if registered is not None:
        at = attr(registered, "SystemDate")
        time = parse_time(at, f"{where}/Registration/@SystemDate", zone) if at else header_time
        return NotificationKind.REGISTERED, time, None, None, note
    answer = find(notice, "Answer")
    if answer is not None:
        at = text(answer, "Date")
        time = parse_time(at, f"{where}/Answer/Date", zone) if at else header_time
        return NotificationKind.ANSWERED, time, None, None, note
    if find(notice, "Consideration") is not None:
        return NotificationKind.EXECUTOR_ASSIGNED, header_time, None, None, note
    received = find(notice, "Reception")
    if received is not None:
        at = received.text
        time = parse_time(at, f"{where}/Reception", zone) if at else header_time
        return NotificationKind.RECEIVED, time, None, None, note
    events = [name for child in notice if (name := etree.QName(child).localname) != "InitialDoc"]
    raise FormatError(
        f"the report carries {', '.join(events) or 'no event'}, which the gateway passes on "
        "to nobody: it takes Reception, Registration, Failure, Consideration and Answer",
        code="format.unsupported",
    )


def read_failure(
    failure: etree._Element,
) -> tuple[NotificationKind, str | None, str | None, str | None]:
    """(kind, reason, error code, comment) of a ``Failure``."""
    said = failure.text or ""
    code = (failure.get("Code") or "").strip()
    failed = _FAILED.fullmatch(said)
    if failed and code == str(UNDELIVERED):
        return NotificationKind.FAILED, None, failed.group("code"), failed.group("comment")
    for reason in sorted(REASONS, key=len, reverse=True):
        ours = code == str(_code_of(reason))  # written by write_failure: exact, read exactly
        if ours and (said == reason or said.startswith(f"{reason}: ")):
            return NotificationKind.REFUSED, reason, None, said[len(reason) + 2 :] or None
    kept = f"{said} (код {code})" if code else said
    return NotificationKind.REFUSED, closest(said), None, kept or None


def _code_of(reason: str) -> int:
    return REASONS.index(reason) + 1


# ---- writing ------------------------------------------------------------------------------


def write_report(package: Package, target: Path, config: SevConfig) -> None:
    """``Report.xml`` about the notification into ``target``."""
    notice = package.payload
    assert isinstance(notice, Notification)
    context = package.context
    zone = config.zone
    tree = root("Report")
    recipient = (
        Organization(
            short_name=context["sev.sender_name"],
            uid=context.get("sev.sender_uid"),
            inn=context.get("sev.sender_inn"),
        )
        if context.get("sev.sender_name")
        else config.own_organization
    )
    write_header(
        tree,
        message_type=_MESSAGE_TYPE.get(notice.kind, "Report"),
        message_id=context.get("gateway.message_id") or uuid.uuid4().hex.upper(),
        return_id=context.get("sev.return_id") or notice.message_id,
        time=notice.time,
        sender=notice.author or config.own_organization,
        recipients=[recipient],
        config=config,
        files=[(MESSAGE_RESOURCE, REPORT)],
    )
    element = sub(tree, "Notification")
    initial = sub(element, "InitialDoc", UID=notice.document_uid)
    sub(initial, "Number", context.get("sev.number") or "")
    sub(initial, "Date", _day(context.get("sev.date"), notice, zone))
    opt(initial, "Group", context.get("sev.group"))
    moment = format_time(notice.time, zone)
    if notice.kind is NotificationKind.RECEIVED:
        sub(element, "Reception", moment)
    elif notice.kind is NotificationKind.REGISTERED:
        sub(element, "Registration", SystemDate=moment)
    elif notice.kind in _FAILURES:
        write_failure(element, notice)
    elif notice.kind is NotificationKind.EXECUTOR_ASSIGNED:
        sub(element, "Consideration")
    else:
        answer = sub(element, "Answer", DocumentID="")  # the answer's id is not ours to know
        sub(answer, "Date", moment)
        sub(answer, "Type", DELIVERY_TYPE)
    note = notice.comment if notice.kind not in _FAILURES else None
    if notice.registration or note:
        held = sub(
            sub(tree, "DocumentList"),
            "Document",
            UID=notice.document_uid,
            DocumentID=notice.document_uid,
            Type="Incoming",
            MainDocument="false",
        )
        info = sub(held, "RegistrationInfo")
        registration = notice.registration
        sub(info, "Number", registration.number if registration else "")
        sub(
            info,
            "Date",
            (registration.date if registration else local(notice.time, zone).date()).isoformat(),
        )
        opt(held, "Note", note)
    (target / REPORT).write_bytes(serialize(tree))


def write_failure(element: etree._Element, notice: Notification) -> None:
    if notice.kind is NotificationKind.FAILED:
        said = f"[{notice.error_code or 'gateway.error'}]"
        if notice.comment:
            said += f" {notice.comment}"
        sub(element, "Failure", said, Code=str(UNDELIVERED))
        return
    reason = closest(notice.reason)
    said = f"{reason}: {notice.comment}" if notice.comment else reason
    sub(element, "Failure", said, Code=str(_code_of(reason)))


def _day(kept: str | None, notice: Notification, zone: dt.tzinfo) -> str:
    """InitialDoc/Date: the document's own date when kept at intake, else the event's day."""
    if kept:
        try:
            return dt.date.fromisoformat(kept).isoformat()
        except ValueError:
            pass
    return local(notice.time, zone).date().isoformat()
