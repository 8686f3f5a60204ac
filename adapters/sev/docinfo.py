"""Documents ↔ СЭВ ``DocInfo`` (ГОСТ Р 53898-2013); docs/adapters/sev.md has the full table.

- ``Document/@UID`` (else ``@DocumentID``) ↔ uid; ``RegistrationInfo`` ↔ registration (an
  empty ``Number`` means "not registered yet": the element itself is required); ``Group`` ↔
  kind; ``Annotation``; ``Consists`` ("3 л.") ↔ pages.
- ``Header/Sender/Contact`` ↔ sender; ``Author`` ↔ signatories (``Writer`` when no Author
  names anyone: some exports name the signer only there); ``Addressee`` ↔ addressees.
- ``AdditionalField`` "Заголовок" / "Срочность" ↔ title / urgency: СЭВ has no element for
  either, and additional fields are how ДЕЛО carries requisites of its own.
- ``Link``: ``LinkType`` text ↔ kind, ``@DocumentID`` ↔ uid, ``@Description`` "№ N от
  DD.MM.YYYY" ↔ number and date.
- ``Subscriptions`` ↔ subscriptions; ``Registration`` stands for registered and refused
  alike (a refusal is the negative answer to the same question).
- ``File`` ↔ a FileRef (id = ``File/@UID``, name = ``Description`` + ``.Extension``; the
  first file is the MAIN text, the others ATTACHMENTs); each ``EDS`` under it ↔ a SIGNATURE
  FileRef whose id and name are its ``.sig`` file's name.

СЭВ cannot carry a signatory's signing date, a link's organisation, a file's description,
page count, media type or Streebog digest (tests/unit/adapters/test_sev.py states this in
``expected()``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from lxml import etree

from adapters.api import AdapterError, FormatError, Package
from adapters.folders import copy_file
from adapters.sev.config import SevConfig
from adapters.sev.contacts import read_organization, read_person, write_contact
from adapters.sev.files import Plan, place, read_files, write_files
from adapters.sev.folder import DOCINFO, Message, Names, resources
from adapters.sev.header import MESSAGE_RESOURCE, ids_for, read_ids, write_header
from adapters.sev.xmlio import (
    attr,
    find,
    find_all,
    need,
    opt,
    parse_date,
    root,
    serialize,
    sub,
    text,
)
from gateway.model import (
    Document,
    Link,
    LinkKind,
    NotificationKind,
    Person,
    Registration,
    Signatory,
    Urgency,
)

DEFAULT_KIND: Final = "Документ"  # a package without a Group
TITLE: Final = "Заголовок"
URGENCY: Final = "Срочность"
STOP_DAYS: Final = "30"  # Subscriptions/@StopDayCount we write

_URGENCY_TEXT: Final = {Urgency.URGENT: "Срочно", Urgency.IMMEDIATE: "Весьма срочно"}
_URGENCY_READ: Final = {
    "срочно": Urgency.URGENT,
    "весьма срочно": Urgency.IMMEDIATE,
    "оперативно": Urgency.IMMEDIATE,
}
_LINK_TEXT: Final = {
    LinkKind.IN_REPLY_TO: "В ответ на",
    LinkKind.IN_EXECUTION_OF: "Во исполнение",
    LinkKind.BASIS: "Документ-основание",
    LinkKind.ON_NUMBER: "На №",
    LinkKind.ANSWER: "Ответ",
    LinkKind.RELATED: "Связан с",
}
_LINK_READ: Final = {text.casefold(): kind for kind, text in _LINK_TEXT.items()} | {
    "ответ на": LinkKind.IN_REPLY_TO,
    "исполнено": LinkKind.ANSWER,
    "основание": LinkKind.BASIS,
}
# The events of Subscriptions, in the order the schema requires, with what each stands for.
EVENTS: Final[tuple[tuple[str, frozenset[NotificationKind]], ...]] = (
    ("Reception", frozenset({NotificationKind.RECEIVED})),
    ("Registration", frozenset({NotificationKind.REGISTERED, NotificationKind.REFUSED})),
    ("Forwarding", frozenset()),
    ("Consideration", frozenset({NotificationKind.EXECUTOR_ASSIGNED})),
    ("Report", frozenset()),
    ("Redirection", frozenset()),
    ("Answer", frozenset({NotificationKind.ANSWERED})),
)
# Link/@Description as we write it ("№ 14-07/998 от 02.11.2026"), read back exactly; ДЕЛО
# writes the same, sometimes without the space after "№".
_REFERENCE = re.compile(r"№ ?(?P<number>.*?)(?: от (?P<date>\d{2}\.\d{2}\.\d{4}))?", re.DOTALL)
_DATE_ONLY = re.compile(r"от\s+(?P<date>\d{2}\.\d{2}\.\d{4})")


# ---- reading ------------------------------------------------------------------------------


def read_docinfo(message: Message) -> Package:
    tree = message.root
    header = need(tree, "Header", "DocInfo")
    sender = read_organization(need(header, "Sender/Contact", "Header"), "Header/Sender/Contact")
    listed = resources(header, message)
    document, where = _main_document(tree)
    uid = attr(document, "UID") or attr(document, "DocumentID")
    if uid is None:
        raise FormatError(f"{where} has neither UID nor DocumentID; the document needs an id")
    files, paths = read_files(document, where, listed, message)
    registration = _registration(document, where)
    fields = {
        (field.get("Name") or "").strip().casefold(): field.text or ""
        for field in find_all(document, "AdditionalField")
    }
    result = Document(
        uid=uid,
        kind=text(document, "Group") or DEFAULT_KIND,
        sender=sender,
        registration=registration,
        title=fields.get(TITLE.casefold()) or None,
        annotation=text(document, "Annotation"),
        signatories=tuple(Signatory(person) for person in _signers(document, where)),
        addressees=tuple(
            read_person(contact, f"{where}/Addressee[{n}]/Contact")
            for n, addressee in enumerate(find_all(document, "Addressee"), start=1)
            if (contact := find(addressee, "Contact")) is not None  # a citizen: not routable
        ),
        pages=_pages(text(document, "Consists")),
        urgency=_URGENCY_READ.get(
            fields.get(URGENCY.casefold(), "").strip().casefold(), Urgency.NORMAL
        ),
        links=tuple(_read_link(link) for link in find_all(document, "Link")),
        subscriptions=_read_subscriptions(tree),
        files=tuple(files),
    )
    context = read_ids(header) | {
        key: value
        for key, value in (
            ("sev.document_id", attr(document, "DocumentID")),
            ("sev.number", registration.number if registration else None),
            ("sev.date", registration.date.isoformat() if registration else None),
            ("sev.group", text(document, "Group")),
            ("sev.sender_name", sender.short_name),
            ("sev.sender_uid", sender.uid),
            ("sev.sender_inn", sender.inn),
        )
        if value
    }
    return Package(result, paths, context)


def _main_document(tree: etree._Element) -> tuple[etree._Element, str]:
    documents = find_all(tree, "DocumentList/Document")
    if not documents:
        raise FormatError("DocInfo/DocumentList has no Document; there is nothing to send")
    for n, document in enumerate(documents, start=1):
        if (document.get("MainDocument") or "").strip() in ("true", "1"):
            return document, f"DocumentList/Document[{n}]"
    return documents[0], "DocumentList/Document[1]"


def _registration(document: etree._Element, where: str) -> Registration | None:
    info = need(document, "RegistrationInfo", where)
    number = text(info, "Number")
    if number is None or not number.strip():
        return None
    return Registration(number, parse_date(text(info, "Date"), f"{where}/RegistrationInfo/Date"))


def _signers(document: etree._Element, where: str) -> list[Person]:
    for role in ("Author", "Writer"):
        people = [
            read_person(contact, f"{where}/{role}[{n}]/Contact")
            for n, element in enumerate(find_all(document, role), start=1)
            if (contact := find(element, "Contact")) is not None
        ]
        if people:
            return people
    return []


def _pages(consists: str | None) -> int | None:
    found = re.search(r"\d+", consists or "")
    return int(found.group()) if found else None


def _read_link(element: etree._Element) -> Link:
    label = (text(element, "LinkType") or "").strip().casefold()
    described = attr(element, "Description") or ""
    found = _REFERENCE.fullmatch(described) or _DATE_ONLY.fullmatch(described.strip())
    number = found.groupdict().get("number") if found else None
    date = None
    if found and found.group("date"):
        day, month, year = found.group("date").split(".")
        try:
            date = dt.date(int(year), int(month), int(day))
        except ValueError:
            date = None
    return Link(
        kind=_LINK_READ.get(label, LinkKind.RELATED),
        document_uid=attr(element, "DocumentID"),
        number=number or None,
        date=date,
    )


def _read_subscriptions(tree: etree._Element) -> tuple[NotificationKind, ...]:
    subscriptions = find(tree, "Subscriptions")
    if subscriptions is None:
        return ()
    wanted: set[NotificationKind] = set()
    for name, kinds in EVENTS:
        event = find(subscriptions, name)
        if event is not None and (event.get("Include") or "").strip() in ("true", "1"):
            wanted |= kinds
    return tuple(kind for kind in NotificationKind if kind in wanted)


# ---- writing ------------------------------------------------------------------------------


def write_docinfo(package: Package, target: Path, config: SevConfig) -> None:
    """``DocInfo.xml`` and the document's files, copied byte for byte, into ``target``."""
    document = package.payload
    assert isinstance(document, Document)
    plan = place(document.files, Names(DOCINFO), MESSAGE_RESOURCE + 1)
    listing = [(MESSAGE_RESOURCE, DOCINFO)]
    for file, signatures in plan:
        listing += [(p.number, p.disk) for p in (file, *signatures)]
    message_id, return_id = ids_for(package.context)
    tree = root("DocInfo")
    write_header(
        tree,
        message_type="MainDoc",
        message_id=message_id,
        return_id=return_id,
        time=dt.datetime.now(dt.UTC),
        sender=document.sender,
        recipients=[person.organization for person in document.addressees],
        config=config,
        files=listing,
    )
    _write_document(tree, document, plan, package.context.get("sev.document_id"), config)
    _write_subscriptions(tree, document.subscriptions)
    data = serialize(tree)  # before any file is copied: a bad document leaves nothing behind
    for file, signatures in plan:
        for p in (file, *signatures):
            source = package.files.get(p.ref.id)
            if source is None:
                raise AdapterError(
                    f"the package has no file for {p.ref.id!r} ({p.ref.name})",
                    code="sev.cannot_encode",
                )
            copy_file(source, target / p.disk)
    (target / DOCINFO).write_bytes(data)


def _write_document(
    tree: etree._Element,
    document: Document,
    plan: Plan,
    document_id: str | None,
    config: SevConfig,
) -> None:
    element = sub(
        sub(tree, "DocumentList"),
        "Document",
        UID=document.uid,
        DocumentID=document_id or document.uid,
        Type="Created",
        MainDocument="true",
    )
    info = sub(element, "RegistrationInfo")
    registration = document.registration
    sub(info, "Number", registration.number if registration else "")
    day = registration.date if registration else dt.datetime.now(config.zone).date()
    sub(info, "Date", day.isoformat())
    opt(element, "Group", document.kind)
    if document.pages is not None:
        sub(element, "Consists", f"{document.pages} л.")
    opt(element, "Annotation", document.annotation)
    write_files(element, plan)
    for signatory in document.signatories:
        write_contact(sub(element, "Author"), signatory.person)
    for person in document.addressees:
        write_contact(sub(element, "Addressee"), person)
    if document.title:
        sub(element, "AdditionalField", document.title, Name=TITLE, Type="Text")
    if document.urgency is not Urgency.NORMAL:
        sub(element, "AdditionalField", _URGENCY_TEXT[document.urgency], Name=URGENCY, Type="Text")
    for link in document.links:
        described = " ".join(
            part
            for part in (
                f"№ {link.number}" if link.number else "",
                f"от {link.date:%d.%m.%Y}" if link.date else "",
            )
            if part
        )
        attrs = {"DocumentID": link.document_uid or "", "Description": described}
        written = sub(element, "Link", **{k: v for k, v in attrs.items() if v})
        sub(written, "LinkType", _LINK_TEXT[link.kind])


def _write_subscriptions(tree: etree._Element, kinds: Sequence[NotificationKind]) -> None:
    wanted = set(kinds)
    if not any(wanted & stands_for for _, stands_for in EVENTS):
        return
    element = sub(tree, "Subscriptions", StopDayCount=STOP_DAYS)
    for name, stands_for in EVENTS:
        sub(element, name, Include="true" if wanted & stands_for else "false")
