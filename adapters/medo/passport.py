"""``passport.xml`` of a 2.7 transport container ↔ canonical Document.

No official schema of the passport is public; its shape is reconstructed from public
integration code (namespace ``http://minsvyaz.ru/container``, 2.7.1 ``urn:IEDMS:CONTAINER``):
``requisites`` (documentKind, annotation), ``authors/author`` (organization/title,
registration number/date, ``sign`` with person and ``documentSignature``), ``addressees``,
``document`` (the main file, pagesQuantity) and ``attachments/attachment`` (order, description,
signature). This module reads that shape leniently and writes it exactly, checked against
``xsd/medo/container.xsd``.

What maps: ``container/@uid`` ↔ ``Document.uid``; documentKind ↔ kind; annotation ↔
annotation; the first author ↔ sender and registration; each ``sign`` ↔ a signatory (no date:
the passport has none) and its ``documentSignature`` ↔ a SIGNATURE of the main file;
addressees ↔ addressees by name (GUIDs from the covering message's ``deliveryIndex``).
Registration and signature stamp images travel as attachments. Urgency, links, and the
addressees' people are not in a passport.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from lxml import etree

from adapters.api import FormatError
from adapters.medo import names, people
from adapters.medo.document import Draft
from adapters.medo.files import Entry, Planned
from adapters.medo.xdms import Builder, Node, clip
from gateway.model import (
    Document,
    FileRole,
    Organization,
    Person,
    Registration,
    Signatory,
)

REG_STAMP = "Штамп регистрации"
SIGN_STAMP = "Штамп подписи"


def read(root: Node, source: Organization, index: Mapping[str, str]) -> Draft:
    uid = names.guid(root.attr("uid"))
    if uid is None:
        raise FormatError(
            "passport.xml: <container> needs the document's GUID in its uid attribute",
            code="format.invalid",
        )
    requisites = root.child("requisites")
    authors = _list(root, "authors", "author")
    title = _title(authors[0]) if authors else None
    sender = source if title in (None, source.short_name) else Organization(short_name=title or "")
    registration = _registration(authors[0]) if authors else None

    signatories: list[Signatory] = []
    main_signatures: list[str] = []
    stamps: list[Entry] = []
    for author in authors:
        org = people.same_as(_org(author), sender)
        stamps += _stamps(author.child("registration"), "registrationStamp", REG_STAMP)
        for sign in author.children("sign"):
            person = sign.child("person")
            if person is not None and (person.text("name") or person.text("post")):
                signatories.append(
                    Signatory(Person(org, name=person.text("name"), post=person.text("post")))
                )
            for signature in sign.children("documentSignature"):
                main_signatures += [n for n in [signature.attr("localName")] if n]
                stamps += _stamps(signature, "signatureStamp", SIGN_STAMP)

    addressee_orgs = [_org(a) for a in _list(root, "addressees", "addressee")]
    named = {o.short_name for o in addressee_orgs if o}
    addressees = tuple(
        Person(_with_uid(org, index, len(named) == 1)) for org in addressee_orgs if org is not None
    )

    main = root.required("document")
    main_name = main.attr("localName")
    if not main_name:
        raise FormatError(
            "passport.xml: <document> names no file (localName); name the main document",
            code="format.invalid",
        )
    entries = [Entry(main_name, FileRole.MAIN, signatures=tuple(main_signatures))]
    for attachment in sorted(_list(root, "attachments", "attachment"), key=_order):
        name = attachment.attr("localName")
        if not name:
            raise FormatError(
                "passport.xml: an <attachment> names no file (localName)", code="format.invalid"
            )
        signatures = tuple(
            n for s in attachment.children("signature") if (n := s.attr("localName"))
        )
        entries.append(
            Entry(name, FileRole.ATTACHMENT, attachment.text("description"), None, signatures)
        )
    document = Document(
        uid=uid,
        kind=(requisites.text("documentKind") if requisites is not None else None)
        or names.DOCUMENT,
        sender=sender,
        registration=registration,
        annotation=requisites.text("annotation") if requisites is not None else None,
        signatories=tuple(signatories),
        addressees=addressees,
        pages=_pages(main.text("pagesQuantity")),
        subscriptions=names.SUBSCRIPTIONS,
    )
    return Draft(document, tuple(entries + stamps), {"medo.container": "true"})


def _list(parent: Node, outer: str, inner: str) -> list[Node]:
    found = parent.child(outer)
    return found.children(inner) if found is not None else []


def _title(node: Node) -> str | None:
    org = node.child("organization")
    return org.text("title") if org is not None else None


def _org(node: Node) -> Organization | None:
    title = _title(node)
    return Organization(short_name=title) if title else None


def _with_uid(org: Organization, index: Mapping[str, str], single: bool) -> Organization:
    uid = people.addressee_uid(None, org.short_name, index, single)
    return Organization(short_name=org.short_name, uid=uid)


def _registration(author: Node) -> Registration | None:
    reg = author.child("registration")
    number = reg.text("number") if reg is not None else None
    date = reg.text("date") if reg is not None else None
    if not (number and date):
        return None
    try:
        return Registration(number, names.read_date(date))
    except ValueError:
        raise FormatError(
            f"passport.xml: the registration date {date!r} is not a date (YYYY-MM-DD)",
            code="format.invalid",
        ) from None


def _stamps(node: Node | None, tag: str, description: str) -> list[Entry]:
    stamp = node.child(tag) if node is not None else None
    name = stamp.attr("localName") if stamp is not None else None
    return [Entry(name, FileRole.ATTACHMENT, description)] if name else []


def _order(node: Node) -> int:
    text = node.text("order") or ""
    return int(text) if text.isdigit() else 1 << 30


def _pages(text: str | None) -> int | None:
    return int(text) or None if text and text.isdigit() else None


# ---- writing ---------------------------------------------------------------------------------


def write(
    doc: Document, main: Planned, attachments: Sequence[Planned], *, version: str
) -> etree._Element:
    b = Builder(names.passport_namespace(version), "c")
    root = b.root("container", uid=names.as_guid(doc.uid), version="1.0")
    requisites = b.add(root, "requisites")
    b.add(requisites, "documentKind", clip(doc.kind, people.STRING))
    b.opt(requisites, "annotation", clip(doc.annotation or doc.title, 4000))
    author = b.add(b.add(root, "authors"), "author")
    b.add(b.add(author, "organization"), "title", clip(doc.sender.short_name, people.STRING))
    if doc.registration is not None:
        registration = b.add(author, "registration")
        b.add(registration, "number", doc.registration.number)
        b.add(registration, "date", doc.registration.date.isoformat())
    signatures = [name for _, name in main.signatures]
    for index in range(max(len(doc.signatories), len(signatures))):
        sign = b.add(author, "sign")
        if index < len(doc.signatories):
            official = doc.signatories[index].person
            person = b.add(sign, "person")
            b.opt(person, "post", clip(official.post, people.STRING))
            b.opt(person, "name", clip(official.name, people.STRING))
        if index < len(signatures):
            b.add(sign, "documentSignature", localName=signatures[index], type="Утверждающая")
    if doc.addressees:
        addressees = b.add(root, "addressees")
        for addressee in doc.addressees:
            org = b.add(b.add(addressees, "addressee"), "organization")
            b.add(org, "title", clip(addressee.organization.short_name, people.STRING))
    document = b.add(root, "document", localName=main.name)
    if doc.pages:
        b.add(document, "pagesQuantity", str(doc.pages))
    if attachments:
        element = b.add(root, "attachments")
        for order, item in enumerate(attachments):
            attachment = b.add(element, "attachment", localName=item.name)
            b.add(attachment, "order", str(order))
            b.opt(attachment, "description", clip(item.ref.description, people.STRING))
            for _, name in item.signatures:
                b.add(attachment, "signature", localName=name)
    return root
