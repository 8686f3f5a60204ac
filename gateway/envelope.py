"""The envelope codec: :class:`~gateway.model.Message` ⇄ the exact XML bytes that get signed.

``encode`` builds the XML, validates it against ``xsd/envelope-1.xsd`` and serialises it;
``decode`` parses untrusted bytes through :mod:`gateway.xmlsafe`, validates them and rebuilds the
model, so that ``decode(encode(m)) == m`` for every valid message. The codec never signs and
never touches files or the network; signing the returned bytes is :mod:`gateway.crypto`'s job.
"""

from __future__ import annotations

import datetime as dt
import functools

from lxml import etree

from gateway import schemas, xmlsafe
from gateway.errors import SchemaError
from gateway.model import (
    Document,
    FileRef,
    FileRole,
    Link,
    LinkKind,
    Message,
    MessageType,
    Notification,
    NotificationKind,
    Organization,
    Person,
    Registration,
    Signatory,
    Urgency,
)
from gateway.xmltools import (
    Fields,
    Writer,
    day,
    instant,
    int_or_none,
    parse_day,
    parse_instant,
)

__all__ = ["decode", "decode_root", "encode"]


def encode(message: Message) -> bytes:
    """The envelope's bytes, validated; raises EnvelopeError or SchemaError for a bad message."""
    w = Writer("Envelope")
    w.start("Header")
    w.leaf("MessageId", message.message_id)
    w.leaf("Type", message.type.value)
    w.leaf("Created", instant(message.created))
    if message.expires is not None:
        w.leaf("Expires", instant(message.expires))
    w.leaf("Sender", participant=message.sender)
    w.leaf("Recipient", participant=message.recipient)
    w.opt("CorrelationId", message.correlation_id)
    w.opt("InReplyTo", message.in_reply_to)
    w.end("Header")
    if message.files:
        w.start("Manifest")
        for file in message.files:
            _write_file(w, file)
        w.end("Manifest")
    if isinstance(message.payload, Document):
        _write_document(w, message.payload)
    else:
        _write_notification(w, message.payload)
    data, tree = w.finish()
    schemas.validate(tree, schemas.Kind.ENVELOPE)
    return data


def decode(data: bytes, *, max_bytes: int = xmlsafe.DEFAULT_MAX_BYTES) -> Message:
    """Parse, validate and read an envelope from untrusted bytes."""
    return decode_root(xmlsafe.parse(data, max_bytes=max_bytes))


def decode_root(envelope: etree._Element) -> Message:
    """Validate and read an already safely parsed envelope element."""
    if schemas.kind_of(envelope) is not schemas.Kind.ENVELOPE:
        raise SchemaError(f"expected an Envelope, got {etree.QName(envelope).localname}")
    schemas.validate(envelope, schemas.Kind.ENVELOPE)
    parts = Fields(envelope)
    header = Fields(envelope[0])
    declared = MessageType(header.required("Type"))
    document, manifest = parts.child("Document"), parts.child("Manifest")
    payload: Document | Notification
    if document is not None:
        files = tuple(_read_file(f) for f in manifest) if manifest is not None else ()
        payload = _read_document(document, files)
    else:
        if manifest is not None:
            raise SchemaError(
                "a notification envelope carries no files, but this one has a Manifest",
                code="envelope.unexpected_manifest",
            )
        payload = _read_notification(_present(parts.child("Notification")))
    message = Message(
        message_id=header.required("MessageId"),
        created=parse_instant(header.required("Created")),
        expires=_opt_instant(header.text("Expires")),
        sender=_participant(header, "Sender"),
        recipient=_participant(header, "Recipient"),
        correlation_id=header.text("CorrelationId"),
        in_reply_to=header.text("InReplyTo"),
        payload=payload,
    )
    if message.type is not declared:
        raise SchemaError(
            f"the header says Type={declared.value} but the envelope carries a "
            f"{message.type.value}",
            code="envelope.type_mismatch",
        )
    return message


# --- writing ---------------------------------------------------------------------------------


def _write_file(w: Writer, file: FileRef) -> None:
    attrs = {
        "id": file.id,
        "role": file.role.value,
        "name": file.name,
        "mediaType": file.media_type,
        "size": str(file.size),
        "sha256": file.sha256,
        "streebog256": file.streebog256,
        "signatureOf": file.signature_of,
        "pages": None if file.pages is None else str(file.pages),
    }
    if file.description is None:
        w.leaf("File", **attrs)
    else:
        w.start("File", **attrs)
        w.leaf("Description", file.description)
        w.end("File")


def _write_organization(w: Writer, name: str, org: Organization) -> None:
    w.fragment(_organization_xml(name, org))


@functools.lru_cache(maxsize=1024)
def _organization_xml(name: str, org: Organization) -> str:
    # The same ministries appear in letter after letter (and often several times in one):
    # an organisation always renders to the same text, so it is rendered once.
    w = Writer(None)
    w.start(
        name,
        uid=org.uid,
        inn=org.inn,
        ogrn=org.ogrn,
        medo=org.medo_address,
        region=org.region,
    )
    w.leaf("ShortName", org.short_name)
    w.opt("FullName", org.full_name)
    w.end(name)
    return w.text()


def _write_person(w: Writer, person: Person) -> None:
    _write_organization(w, "Organization", person.organization)
    w.opt("Name", person.name)
    w.opt("Post", person.post)
    w.opt("Department", person.department)
    w.opt("Contact", person.contact)


def _write_registration(w: Writer, registration: Registration | None) -> None:
    if registration is not None:
        w.leaf("Registration", number=registration.number, date=day(registration.date))


def _write_document(w: Writer, doc: Document) -> None:
    w.start("Document", uid=doc.uid)
    w.leaf("Kind", doc.kind)
    _write_organization(w, "Sender", doc.sender)
    _write_registration(w, doc.registration)
    w.opt("Title", doc.title)
    w.opt("Annotation", doc.annotation)
    if doc.signatories:
        w.start("Signatories")
        for signatory in doc.signatories:
            w.start("Signatory", signed=day(signatory.signed))
            _write_person(w, signatory.person)
            w.end("Signatory")
        w.end("Signatories")
    if doc.addressees:
        w.start("Addressees")
        for person in doc.addressees:
            w.start("Addressee")
            _write_person(w, person)
            w.end("Addressee")
        w.end("Addressees")
    if doc.pages is not None:
        w.leaf("Pages", str(doc.pages))
    if doc.urgency is not Urgency.NORMAL:
        w.leaf("Urgency", doc.urgency.value)
    if doc.links:
        w.start("Links")
        for link in doc.links:
            attrs = {
                "kind": link.kind.value,
                "documentUid": link.document_uid,
                "number": link.number,
                "date": day(link.date),
            }
            if link.organization is None:
                w.leaf("Link", **attrs)
            else:
                w.start("Link", **attrs)
                _write_organization(w, "Organization", link.organization)
                w.end("Link")
        w.end("Links")
    if doc.subscriptions:
        w.start("Subscriptions")
        for kind in doc.subscriptions:
            w.leaf("Event", kind.value)
        w.end("Subscriptions")
    w.end("Document")


def _write_notification(w: Writer, note: Notification) -> None:
    w.start(
        "Notification",
        kind=note.kind.value,
        documentUid=note.document_uid,
        messageId=note.message_id,
    )
    w.leaf("Time", instant(note.time))
    _write_registration(w, note.registration)
    w.opt("Reason", note.reason)
    w.opt("ErrorCode", note.error_code)
    w.opt("Comment", note.comment)
    if note.author is not None:
        _write_organization(w, "Author", note.author)
    w.end("Notification")


# --- reading ---------------------------------------------------------------------------------
# Readers run only after schema validation, so required parts are present; _present guards
# against the codec and the schema drifting apart rather than against input.


def _present(element: etree._Element | None) -> etree._Element:
    if element is None:
        raise SchemaError("the envelope lacks a part its schema requires", code="envelope.invalid")
    return element


def _opt_instant(text: str | None) -> dt.datetime | None:
    return None if text is None else parse_instant(text)


def _participant(header: Fields, name: str) -> str:
    return _present(header.child(name)).get("participant", "")


def _read_file(element: etree._Element) -> FileRef:
    get = element.get
    description = element[0].text if len(element) else None
    return FileRef(
        id=get("id", ""),
        role=FileRole(get("role", "")),
        name=get("name", ""),
        media_type=get("mediaType", ""),
        size=int(get("size", "0")),
        sha256=get("sha256", ""),
        streebog256=get("streebog256"),
        signature_of=get("signatureOf"),
        description=description,
        pages=int_or_none(get("pages")),
    )


def _read_organization(element: etree._Element) -> Organization:
    parts = Fields(element)
    get = element.get
    return Organization(
        short_name=parts.required("ShortName"),
        full_name=parts.text("FullName"),
        inn=get("inn"),
        ogrn=get("ogrn"),
        medo_address=get("medo"),
        uid=get("uid"),
        region=get("region"),
    )


def _read_person(element: etree._Element) -> Person:
    parts = Fields(element)
    return Person(
        organization=_read_organization(_present(parts.child("Organization"))),
        name=parts.text("Name"),
        post=parts.text("Post"),
        department=parts.text("Department"),
        contact=parts.text("Contact"),
    )


def _read_registration(parts: Fields) -> Registration | None:
    element = parts.child("Registration")
    if element is None:
        return None
    return Registration(number=element.get("number", ""), date=_present_day(element.get("date")))


def _present_day(text: str | None) -> dt.date:
    value = parse_day(text)
    if value is None:
        raise SchemaError("a required date is missing", code="envelope.invalid")
    return value


def _items(element: etree._Element | None) -> etree._Element | tuple[()]:
    return element if element is not None else ()


def _read_document(element: etree._Element, files: tuple[FileRef, ...]) -> Document:
    parts = Fields(element)
    urgency = parts.text("Urgency")
    return Document(
        uid=element.get("uid", ""),
        kind=parts.required("Kind"),
        sender=_read_organization(_present(parts.child("Sender"))),
        registration=_read_registration(parts),
        title=parts.text("Title"),
        annotation=parts.text("Annotation"),
        signatories=tuple(
            Signatory(person=_read_person(s), signed=parse_day(s.get("signed")))
            for s in _items(parts.child("Signatories"))
        ),
        addressees=tuple(_read_person(a) for a in _items(parts.child("Addressees"))),
        pages=int_or_none(parts.text("Pages")),
        urgency=Urgency(urgency) if urgency is not None else Urgency.NORMAL,
        links=tuple(_read_link(link) for link in _items(parts.child("Links"))),
        subscriptions=tuple(
            NotificationKind(e.text or "") for e in _items(parts.child("Subscriptions"))
        ),
        files=files,
    )


def _read_link(element: etree._Element) -> Link:
    org = element[0] if len(element) else None  # the schema allows only an Organization
    return Link(
        kind=LinkKind(element.get("kind", "")),
        document_uid=element.get("documentUid"),
        number=element.get("number"),
        date=parse_day(element.get("date")),
        organization=_read_organization(org) if org is not None else None,
    )


def _read_notification(element: etree._Element) -> Notification:
    parts = Fields(element)
    author = parts.child("Author")
    return Notification(
        kind=NotificationKind(element.get("kind", "")),
        document_uid=element.get("documentUid", ""),
        message_id=element.get("messageId", ""),
        time=parse_instant(parts.required("Time")),
        registration=_read_registration(parts),
        reason=parts.text("Reason"),
        error_code=parts.text("ErrorCode"),
        comment=parts.text("Comment"),
        author=_read_organization(author) if author is not None else None,
    )
