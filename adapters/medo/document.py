"""The xdms «Документ»: ``document`` + ``files`` ↔ canonical Document.

What maps to what (the rest of xdms is not carried):

- ``document/@uid`` ↔ ``Document.uid``; ``kind`` ↔ ``kind``; ``num`` ↔ ``registration``
  (a number without a date is no Registration: it is kept in the context as ``medo.number``);
  ``urgency`` ↔ ``urgency``; ``pages`` ↔ ``pages`` (0 = unknown); ``annotation`` ↔
  ``annotation`` (the title is written there when there is no annotation).
- ``header/source`` ↔ ``sender`` (uid, name); ``signatories`` and ``addressees`` ↔ the people,
  see :mod:`adapters.medo.people`; ``links/link`` ↔ ``links`` (type by the МЭДО list).
- ``files/file``: group «Текст документа» → MAIN, others → ATTACHMENT; the files named by
  ``signedData/signerInfo/@signature`` → SIGNATURE of their file.

Version differences when writing: 2.2 has no ``addressee/@uid`` (the GUIDs go into
``deliveryIndex`` only), no ``signedData`` (signatures are named ``<file>.p7s`` instead), no
group «Данные» and only the file type ``pdf``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from lxml import etree

from adapters.api import FormatError
from adapters.medo import names, people
from adapters.medo.files import Entry, Planned
from adapters.medo.xdms import Builder, Node, clip
from gateway.model import (
    Document,
    FileRole,
    Link,
    LinkKind,
    Organization,
    Person,
    Registration,
    Signatory,
    Urgency,
)

ANNOTATION = 4000
NUMBER = 31


@dataclass(frozen=True)
class Draft:
    """A document read from XML, before its files are found and measured."""

    document: Document  # files=()
    entries: tuple[Entry, ...]
    context: Mapping[str, str]


def read(root: Node) -> Draft:
    header = root.required("header")
    base = people.source(header.required("source"))
    doc = root.required("document")
    uid = names.guid(doc.attr("uid"))
    if uid is None:
        raise FormatError(
            f"{root.where}: <document> needs a GUID in its uid attribute", code="format.invalid"
        )
    context: dict[str, str] = {}
    if doc.attr("id"):
        context["medo.document_id"] = doc.attr("id") or ""
    registration = _registration(doc.child("num"), context)

    signatory_nodes = _list(doc, "signatories", "signatory")
    raw = [people.organization(n) for n in signatory_nodes]
    sender = people.enrich(base, raw)
    signatories = tuple(
        Signatory(people.person(n, people.same_as(org, sender)), _date(n.text("signed")))
        for n, org in zip(signatory_nodes, raw, strict=True)
    )
    index = people.destinations(root)
    addressee_nodes = _list(doc, "addressees", "addressee")
    orgs = {n.text("organization") for n in addressee_nodes}
    addressees = tuple(_addressee(n, index, len(orgs) == 1) for n in addressee_nodes)

    document = Document(
        uid=uid,
        kind=doc.text("kind") or names.DOCUMENT,
        sender=sender,
        registration=registration,
        annotation=doc.text("annotation"),
        signatories=signatories,
        addressees=addressees,
        pages=_int(doc.text("pages")) or None,
        urgency=names.urgency(doc.text("urgency")),
        links=tuple(_link(n) for n in _list(doc, "links", "link")),
        subscriptions=names.SUBSCRIPTIONS,
    )
    files = root.child("files")
    entries = tuple(_entry(n) for n in (files.children("file") if files is not None else []))
    return Draft(document, entries, context)


def _list(parent: Node, outer: str, inner: str) -> list[Node]:
    found = parent.child(outer)
    return found.children(inner) if found is not None else []


def _registration(num: Node | None, context: dict[str, str]) -> Registration | None:
    if num is None:
        return None
    number, date = num.text("number"), _date(num.text("date"))
    if number and date:
        return Registration(number, date)
    if number:
        context["medo.number"] = number
    return None


def _addressee(node: Node, index: Mapping[str, str], single: bool) -> Person:
    name = node.text("organization")
    uid = people.addressee_uid(node.attr("uid"), name, index, single)
    org = people.organization(node, uid=uid) or Organization(
        short_name=node.text("person") or node.text("post") or "Адресат не указан", uid=uid
    )
    return people.person(node, org)


def _link(node: Node) -> Link:
    kind = names.LINK_KINDS.get(node.text("linkType") or "", LinkKind.RELATED)
    target = node.child("reference") or node.child("document")
    num = target.child("num") if target is not None else None
    number = num.text("number") if num is not None else None
    org = None
    if target is not None:
        signatory = target.child("signatories")
        first = signatory.child("signatory") if signatory is not None else None
        org = people.organization(first if first is not None else target)
    return Link(
        kind=kind,
        document_uid=names.guid(node.attr("uid")),
        number=None if number == names.NO_NUMBER else number,
        date=_date(num.text("date")) if num is not None else None,
        organization=org,
    )


def _entry(node: Node) -> Entry:
    name = node.attr("localName")
    if not name:
        raise FormatError(
            f"{node.where}: a <file> has no localName; name each file of the message",
            code="format.invalid",
        )
    signatures = tuple(
        signature
        for data in node.children("signedData")
        for info in data.children("signerInfo")
        if (signature := info.attr("signature"))
    )
    return Entry(
        name=name,
        role=FileRole.MAIN if node.text("group") == names.GROUP_TEXT else FileRole.ATTACHMENT,
        description=node.text("description"),
        pages=_int(node.text("pages")),
        signatures=signatures,
    )


def _date(text: str | None) -> dt.date | None:
    if not text:
        return None
    try:
        return names.read_date(text)
    except ValueError:
        raise FormatError(f"{text!r} is not a date (YYYY-MM-DD)", code="format.invalid") from None


def _int(text: str | None) -> int | None:
    if not text:
        return None
    try:
        return max(int(text), 0)
    except ValueError:
        raise FormatError(f"{text!r} is not a number of pages", code="format.invalid") from None


# ---- writing ---------------------------------------------------------------------------------


def write(
    doc: Document,
    planned: Sequence[Planned],
    *,
    version: str,
    header_uid: str,
    created: dt.datetime,
    context: Mapping[str, str],
) -> etree._Element:
    b = Builder(names.message_namespace(version), "xdms")
    root = b.root("communication", version=version)
    header = b.add(
        root, "header", type=names.DOCUMENT, uid=header_uid, created=names.write_datetime(created)
    )
    people.write_partner(b, header, "source", doc.sender)
    element = b.add(
        root, "document", uid=names.as_guid(doc.uid), id=context.get("medo.document_id")
    )
    b.opt(element, "kind", clip(doc.kind, people.STRING))
    write_number(b, element, "num", doc.registration, context.get("medo.number"))
    if doc.urgency is not Urgency.NORMAL:
        b.add(element, "urgency", names.URGENCY_TEXT[doc.urgency])
    signatories = b.add(element, "signatories")
    fallback = doc.registration.date if doc.registration else created.date()
    for signatory in doc.signatories or (Signatory(Person(doc.sender)),):
        signer = b.add(signatories, "signatory")
        people.write_anyone(b, signer, signatory.person)
        b.add(signer, "signed", (signatory.signed or fallback).isoformat())
    if not doc.addressees:
        raise FormatError(
            "a document without addressees cannot be written as МЭДО xdms; name at least one",
            code="format.unwritable",
        )
    addressees = b.add(element, "addressees")
    for person in doc.addressees:
        org = person.organization
        uid = names.as_guid(org.uid) if org.uid and version != "2.2" else None
        people.write_anyone(b, b.add(addressees, "addressee", uid=uid), person)
    b.add(element, "pages", str(doc.pages or 0))
    b.add(element, "annotation", clip(doc.annotation or doc.title or "", ANNOTATION))
    if doc.links:
        links = b.add(element, "links")
        for link in doc.links:
            _write_link(b, links, link)
    files = b.add(root, "files")
    for number, item in enumerate(planned):
        _write_file(b, files, item, number, version, created)
    people.write_destinations(b, root, [p.organization for p in doc.addressees])
    return root


def write_number(
    b: Builder, parent: etree._Element, tag: str, reg: Registration | None, number: str | None
) -> None:
    """A documentNumber; xdms requires a number, "б/н" stands for none."""
    text = " ".join((reg.number if reg else number or names.NO_NUMBER).split())
    if len(text) > NUMBER:
        raise FormatError(
            f"the registration number {text!r} is longer than the {NUMBER} characters МЭДО allows",
            code="format.unwritable",
        )
    num = b.add(parent, tag)
    b.add(num, "number", text)
    if reg is not None:
        b.add(num, "date", reg.date.isoformat())


def _write_link(b: Builder, parent: etree._Element, link: Link) -> None:
    uid = names.as_guid(link.document_uid) if link.document_uid else None
    element = b.add(parent, "link", uid=uid)
    b.add(element, "linkType", names.LINK_TYPES[link.kind])
    reference = b.add(element, "reference")
    if link.organization is not None:
        people.write_anyone(b, reference, link.organization)
    num = b.add(reference, "num")
    b.add(num, "number", clip(link.number, NUMBER) or names.NO_NUMBER)
    if link.date is not None:
        b.add(num, "date", link.date.isoformat())


def _write_file(
    b: Builder,
    parent: etree._Element,
    item: Planned,
    number: int,
    version: str,
    created: dt.datetime,
) -> None:
    kind = names.FILE_TYPES.get(_suffix(item.name))
    element = b.add(
        parent,
        "file",
        localName=item.name,
        localId=str(number),
        type=kind if version != "2.2" or kind == "pdf" else None,
    )
    if item.ref.role is FileRole.MAIN:
        group = names.GROUP_TEXT
    elif item.ref.role is FileRole.SIGNATURE and version != "2.2":
        group = names.GROUP_DATA  # a signature of nothing in this document
    else:
        group = names.GROUP_ENCLOSURE
    b.add(element, "group", group)
    b.opt(element, "description", clip(item.ref.description, people.STRING))
    if item.ref.pages is not None:
        b.add(element, "pages", str(item.ref.pages))
    if version == "2.2":
        return  # no signedData in 2.2: the signatures are named after the file
    for _, signature in item.signatures:
        info = b.add(b.add(element, "signedData"), "signerInfo", signature=signature)
        # Required, but the gateway does not know when or by whom: the .p7s itself says.
        b.add(info, "digestTime", names.write_datetime(created))
        b.add(info, "signer")


def _suffix(name: str) -> str:
    dot = name.rfind(".")
    return name[dot:].lower() if dot >= 0 else ""
