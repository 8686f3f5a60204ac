"""The envelope codec: :class:`~gateway.model.Message` ⇄ the exact XML bytes that get signed.

``encode`` builds the XML, validates it against ``xsd/envelope-1.xsd`` and serialises it;
``decode`` parses untrusted bytes through :mod:`gateway.xmlsafe`, validates them and rebuilds the
model, so that ``decode(encode(m)) == m`` for every valid message. The codec never signs and
never touches files or the network; signing the returned bytes is :mod:`gateway.crypto`'s job.
"""

from __future__ import annotations

import datetime as dt

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
    child,
    day,
    instant,
    int_or_none,
    opt,
    parse_day,
    parse_instant,
    required_text,
    root,
    sub,
    text_of,
    to_bytes,
)

__all__ = ["decode", "decode_root", "encode"]


def encode(message: Message) -> bytes:
    """The envelope's bytes, validated; raises EnvelopeError or SchemaError for a bad message."""
    envelope = root("Envelope")
    header = sub(envelope, "Header")
    sub(header, "MessageId", message.message_id)
    sub(header, "Type", message.type.value)
    sub(header, "Created", instant(message.created))
    if message.expires is not None:
        sub(header, "Expires", instant(message.expires))
    sub(header, "Sender", participant=message.sender)
    sub(header, "Recipient", participant=message.recipient)
    opt(header, "CorrelationId", message.correlation_id)
    opt(header, "InReplyTo", message.in_reply_to)
    if message.files:
        manifest = sub(envelope, "Manifest")
        for file in message.files:
            _write_file(manifest, file)
    if isinstance(message.payload, Document):
        _write_document(envelope, message.payload)
    else:
        _write_notification(envelope, message.payload)
    schemas.validate(envelope, schemas.Kind.ENVELOPE)
    return to_bytes(envelope)


def decode(data: bytes, *, max_bytes: int = xmlsafe.DEFAULT_MAX_BYTES) -> Message:
    """Parse, validate and read an envelope from untrusted bytes."""
    return decode_root(xmlsafe.parse(data, max_bytes=max_bytes))


def decode_root(envelope: etree._Element) -> Message:
    """Validate and read an already safely parsed envelope element."""
    if schemas.kind_of(envelope) is not schemas.Kind.ENVELOPE:
        raise SchemaError(f"expected an Envelope, got {etree.QName(envelope).localname}")
    schemas.validate(envelope, schemas.Kind.ENVELOPE)
    header = envelope[0]
    declared = MessageType(required_text(header, "Type"))
    payload_element = child(envelope, "Document")
    payload: Document | Notification
    if payload_element is not None:
        manifest = child(envelope, "Manifest")
        files = tuple(_read_file(f) for f in manifest) if manifest is not None else ()
        payload = _read_document(payload_element, files)
    else:
        notification = child(envelope, "Notification")
        assert notification is not None  # the schema's choice guarantees one of the two
        if child(envelope, "Manifest") is not None:
            raise SchemaError(
                "a notification envelope carries no files, but this one has a Manifest",
                code="envelope.unexpected_manifest",
            )
        payload = _read_notification(notification)
    message = Message(
        message_id=required_text(header, "MessageId"),
        created=parse_instant(required_text(header, "Created")),
        expires=_opt_instant(text_of(header, "Expires")),
        sender=_participant(header, "Sender"),
        recipient=_participant(header, "Recipient"),
        correlation_id=text_of(header, "CorrelationId"),
        in_reply_to=text_of(header, "InReplyTo"),
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


def _write_file(parent: etree._Element, file: FileRef) -> None:
    element = sub(
        parent,
        "File",
        id=file.id,
        role=file.role.value,
        name=file.name,
        mediaType=file.media_type,
        size=str(file.size),
        sha256=file.sha256,
        streebog256=file.streebog256,
        signatureOf=file.signature_of,
        pages=None if file.pages is None else str(file.pages),
    )
    opt(element, "Description", file.description)


def _write_organization(parent: etree._Element, name: str, org: Organization) -> None:
    element = sub(
        parent,
        name,
        uid=org.uid,
        inn=org.inn,
        ogrn=org.ogrn,
        medo=org.medo_address,
        region=org.region,
    )
    sub(element, "ShortName", org.short_name)
    opt(element, "FullName", org.full_name)


def _write_person(element: etree._Element, person: Person) -> None:
    _write_organization(element, "Organization", person.organization)
    opt(element, "Name", person.name)
    opt(element, "Post", person.post)
    opt(element, "Department", person.department)
    opt(element, "Contact", person.contact)


def _write_registration(parent: etree._Element, registration: Registration | None) -> None:
    if registration is not None:
        sub(parent, "Registration", number=registration.number, date=day(registration.date))


def _write_document(envelope: etree._Element, doc: Document) -> None:
    element = sub(envelope, "Document", uid=doc.uid)
    sub(element, "Kind", doc.kind)
    _write_organization(element, "Sender", doc.sender)
    _write_registration(element, doc.registration)
    opt(element, "Title", doc.title)
    opt(element, "Annotation", doc.annotation)
    if doc.signatories:
        signatories = sub(element, "Signatories")
        for signatory in doc.signatories:
            s = sub(signatories, "Signatory", signed=day(signatory.signed))
            _write_person(s, signatory.person)
    if doc.addressees:
        addressees = sub(element, "Addressees")
        for person in doc.addressees:
            _write_person(sub(addressees, "Addressee"), person)
    if doc.pages is not None:
        sub(element, "Pages", str(doc.pages))
    if doc.urgency is not Urgency.NORMAL:
        sub(element, "Urgency", doc.urgency.value)
    if doc.links:
        links = sub(element, "Links")
        for link in doc.links:
            le = sub(
                links,
                "Link",
                kind=link.kind.value,
                documentUid=link.document_uid,
                number=link.number,
                date=day(link.date),
            )
            if link.organization is not None:
                _write_organization(le, "Organization", link.organization)
    if doc.subscriptions:
        subscriptions = sub(element, "Subscriptions")
        for kind in doc.subscriptions:
            sub(subscriptions, "Event", kind.value)


def _write_notification(envelope: etree._Element, note: Notification) -> None:
    element = sub(
        envelope,
        "Notification",
        kind=note.kind.value,
        documentUid=note.document_uid,
        messageId=note.message_id,
    )
    sub(element, "Time", instant(note.time))
    _write_registration(element, note.registration)
    opt(element, "Reason", note.reason)
    opt(element, "ErrorCode", note.error_code)
    opt(element, "Comment", note.comment)
    if note.author is not None:
        _write_organization(element, "Author", note.author)


# --- reading ---------------------------------------------------------------------------------


def _opt_instant(text: str | None) -> dt.datetime | None:
    return None if text is None else parse_instant(text)


def _participant(header: etree._Element, name: str) -> str:
    element = child(header, name)
    assert element is not None  # required by the schema
    return element.get("participant", "")


def _read_file(element: etree._Element) -> FileRef:
    return FileRef(
        id=element.get("id", ""),
        role=FileRole(element.get("role", "")),
        name=element.get("name", ""),
        media_type=element.get("mediaType", ""),
        size=int(element.get("size", "0")),
        sha256=element.get("sha256", ""),
        streebog256=element.get("streebog256"),
        signature_of=element.get("signatureOf"),
        description=text_of(element, "Description"),
        pages=int_or_none(element.get("pages")),
    )


def _read_organization(element: etree._Element) -> Organization:
    return Organization(
        short_name=required_text(element, "ShortName"),
        full_name=text_of(element, "FullName"),
        inn=element.get("inn"),
        ogrn=element.get("ogrn"),
        medo_address=element.get("medo"),
        uid=element.get("uid"),
        region=element.get("region"),
    )


def _read_person(element: etree._Element) -> Person:
    org = child(element, "Organization")
    assert org is not None  # required by the schema
    return Person(
        organization=_read_organization(org),
        name=text_of(element, "Name"),
        post=text_of(element, "Post"),
        department=text_of(element, "Department"),
        contact=text_of(element, "Contact"),
    )


def _read_registration(parent: etree._Element) -> Registration | None:
    element = child(parent, "Registration")
    if element is None:
        return None
    date = parse_day(element.get("date"))
    assert date is not None  # required by the schema
    return Registration(number=element.get("number", ""), date=date)


def _read_document(element: etree._Element, files: tuple[FileRef, ...]) -> Document:
    sender = child(element, "Sender")
    assert sender is not None  # required by the schema
    signatories = child(element, "Signatories")
    addressees = child(element, "Addressees")
    links = child(element, "Links")
    subscriptions = child(element, "Subscriptions")
    urgency = text_of(element, "Urgency")
    return Document(
        uid=element.get("uid", ""),
        kind=required_text(element, "Kind"),
        sender=_read_organization(sender),
        registration=_read_registration(element),
        title=text_of(element, "Title"),
        annotation=text_of(element, "Annotation"),
        signatories=tuple(
            Signatory(person=_read_person(s), signed=parse_day(s.get("signed")))
            for s in (signatories if signatories is not None else ())
        ),
        addressees=tuple(_read_person(a) for a in (addressees if addressees is not None else ())),
        pages=int_or_none(text_of(element, "Pages")),
        urgency=Urgency(urgency) if urgency is not None else Urgency.NORMAL,
        links=tuple(_read_link(link) for link in (links if links is not None else ())),
        subscriptions=tuple(
            NotificationKind(e.text or "")
            for e in (subscriptions if subscriptions is not None else ())
        ),
        files=files,
    )


def _read_link(element: etree._Element) -> Link:
    org = child(element, "Organization")
    return Link(
        kind=LinkKind(element.get("kind", "")),
        document_uid=element.get("documentUid"),
        number=element.get("number"),
        date=parse_day(element.get("date")),
        organization=_read_organization(org) if org is not None else None,
    )


def _read_notification(element: etree._Element) -> Notification:
    author = child(element, "Author")
    return Notification(
        kind=NotificationKind(element.get("kind", "")),
        document_uid=element.get("documentUid", ""),
        message_id=element.get("messageId", ""),
        time=parse_instant(required_text(element, "Time")),
        registration=_read_registration(element),
        reason=text_of(element, "Reason"),
        error_code=text_of(element, "ErrorCode"),
        comment=text_of(element, "Comment"),
        author=_read_organization(author) if author is not None else None,
    )
