"""Helpers for the МЭДО adapter's tests: sample files, container folders built with zipfile,
canonical packages built in code, and :func:`expected` — the one statement of what a trip
through МЭДО keeps of a canonical payload."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
from dataclasses import replace
from pathlib import Path

from adapters.api import Package, Payload
from adapters.filerefs import describe, media_type
from adapters.medo import MedoAdapter
from adapters.medo.names import NO_NUMBER, SUBSCRIPTIONS, as_guid, org_guid
from adapters.medo.people import medo_address
from adapters.reasons import REASONS, closest
from adapters.testing import MemoryContext
from gateway.model import (
    Document,
    FileRef,
    FileRole,
    Link,
    LinkKind,
    Notification,
    NotificationKind,
    Organization,
    Person,
    Registration,
    Signatory,
    Urgency,
)

SAMPLES = Path(__file__).parent / "samples" / "medo"
# the published schemas, beside the repository as ../shared (absent on most machines)
REFERENCE = Path(__file__).resolve().parents[4] / "shared" / "reference" / "medo"
T = dt.datetime(2026, 11, 21, 7, 15, tzinfo=dt.UTC)
OWN_NAME = MedoAdapter.Config(Path("o"), Path("i")).organization

ROSTOV = Organization(
    short_name="Министерство цифрового развития Ростовской области",
    uid="a4d5c6b7-1e2f-4a3b-8c9d-0e1f2a3b4c5d",
    medo_address="MINCIFRA~RO61",
    region="61",
)
SAKHA = Organization(
    short_name="Министерство инноваций Республики Саха (Якутия)",
    uid="7d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6",
    medo_address="MININNOV~SAKHA14",
    region="14",
)
MINSTROY = Organization(short_name="Минстрой России", uid="39b3deb1-9f60-49a5-8fb9-2af8020071ed")


def der(seed: str, size: int = 120) -> bytes:
    """Bytes shaped like a DER SignedData (a SEQUENCE); the adapter carries them as they are."""
    body = b"".join(hashlib.sha256(f"{seed}:{n}".encode()).digest() for n in range(size // 32 + 1))
    return b"\x30\x82" + size.to_bytes(2, "big") + body[:size]


def pdf(text: str) -> bytes:
    return f"%PDF-1.4\n% {text}\n%%EOF\n".encode()


def adapter(tmp_path: Path, **options: object) -> MedoAdapter:
    config = MedoAdapter.Config(outgoing=tmp_path / "out", incoming=tmp_path / "in", **options)  # type: ignore[arg-type]
    context = MemoryContext(tmp_path / "work")
    context.clock = T
    return MedoAdapter(config, context)


def copy_sample(name: str, target: Path) -> Path:
    target.mkdir(parents=True)
    for path in (SAMPLES / name).iterdir():
        (target / path.name).write_bytes(path.read_bytes())
    return target


def tree(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` with its bytes (None for folders): a snapshot to compare."""
    return {
        str(p.relative_to(root)): None if p.is_dir() else p.read_bytes()
        for p in sorted(root.rglob("*"))
    }


# ---- canonical packages --------------------------------------------------------------------------


def _file(
    folder: Path, name: str, data: bytes, file_id: str, role: FileRole, **kw: object
) -> FileRef:
    path = folder / name
    path.write_bytes(data)
    return describe(path, id=file_id, role=role, name=name, **kw)  # type: ignore[arg-type]


def letter(folder: Path, *, links: bool = True) -> Package:
    """A letter from Rostov to Sakha and Minstroy: signed text, a signed attachment."""
    folder.mkdir(parents=True, exist_ok=True)
    files = (
        _file(folder, "Письмо 61-02-4700.pdf", pdf("letter"), "file-1", FileRole.MAIN, pages=3),
        _file(
            folder,
            "Письмо 61-02-4700.pdf.p7s",
            der("a"),
            "file-1-sig-1",
            FileRole.SIGNATURE,
            signature_of="file-1",
        ),
        _file(
            folder,
            "Справка.pdf",
            pdf("note"),
            "file-2",
            FileRole.ATTACHMENT,
            description="Справка о ходе работ",
            pages=1,
        ),
        _file(
            folder,
            "Справка.pdf.p7s",
            base64.encodebytes(der("b")),
            "file-2-sig-1",
            FileRole.SIGNATURE,
            signature_of="file-2",
        ),
    )
    document = Document(
        uid="2c9f0e4b-8a71-4d3e-b5f6-1a2b3c4d5e6f",
        kind="Письмо",
        sender=ROSTOV,
        registration=Registration("61-02/4700", dt.date(2026, 11, 20)),
        annotation="О переходе на межрегиональный электронный документооборот",
        signatories=(
            Signatory(
                Person(
                    ROSTOV,
                    name="Петров П.П.",
                    post="Министр",
                    department="Руководство",
                    contact="+7 863 240-00-00",
                ),
                signed=dt.date(2026, 11, 20),
            ),
        ),
        addressees=(
            Person(SAKHA, name="Николаев Н.Н.", post="Министр"),
            Person(MINSTROY, department="Департамент цифровизации"),
        ),
        pages=4,
        urgency=Urgency.URGENT,
        links=(
            Link(
                LinkKind.IN_REPLY_TO,
                document_uid="a644d9ca-d2c1-c94e-8373-2f2883696a93",
                number="20-02-3/5046-ИЛ",
                date=dt.date(2026, 10, 28),
                organization=Organization("Минстрой России", medo_address="MINSTROY~MEDOGU"),
            ),
            Link(LinkKind.RELATED, document_uid="6b1f2e3d-4c5b-4a69-8778-695a4b3c2d1e"),
        )
        if links
        else (),
        subscriptions=SUBSCRIPTIONS,
        files=files,
    )
    return Package(document, {f.id: folder / f.name for f in files})


def notices() -> list[Package]:
    """One notification of every kind, as the gateway hands them over."""
    base = Notification(
        kind=NotificationKind.REGISTERED,
        document_uid="2c9f0e4b-8a71-4d3e-b5f6-1a2b3c4d5e6f",
        message_id="d9b2a7c4-3e51-4f60-8a9b-0c1d2e3f4a5b",
        time=dt.datetime(2026, 11, 21, 10, 30, tzinfo=dt.UTC),
        registration=Registration("14-01/889", dt.date(2026, 11, 21)),
        author=SAKHA,
    )
    variants = [
        base,
        dataclasses.replace(
            base,
            kind=NotificationKind.REFUSED,
            registration=None,
            reason="Нет подписи",
            comment="Подпись не проверяется",
        ),
        dataclasses.replace(
            base,
            kind=NotificationKind.EXECUTOR_ASSIGNED,
            registration=None,
            comment="Исполнитель: Кузнецов Д.О.",
        ),
        dataclasses.replace(base, kind=NotificationKind.ANSWERED),
        dataclasses.replace(
            base, kind=NotificationKind.RECEIVED, document_uid="", registration=None
        ),
        dataclasses.replace(
            base,
            kind=NotificationKind.FAILED,
            document_uid="",
            registration=None,
            error_code="delivery.expired",
            comment="Срок доставки истёк",
        ),
        dataclasses.replace(base, author=None),
    ]
    return [Package(n) for n in variants]


# ---- what survives ----------------------------------------------------------------------------


def _org(org: Organization | None) -> Organization | None:
    """xdms names an organisation, its МЭДО address (if shaped like one), region and GUID."""
    if org is None:
        return None
    uid = as_guid(org.uid) if org.uid else None  # xdms ids are GUIDs: others are derived
    return Organization(
        short_name=org.short_name,
        medo_address=medo_address(org.medo_address),
        uid=uid if uid != org_guid(org.short_name) else None,
        region=org.region,
    )


def expected(payload: Payload, version: str = "2.6", container: bool = False) -> Payload:
    """What of a canonical payload comes back from a trip through МЭДО, and why not the rest."""
    if isinstance(payload, Notification):
        return _expected_notice(payload, version)
    files = tuple(
        dataclasses.replace(f, media_type=media_type(f.name), streebog256=None)
        for f in payload.files
    )
    doc = dataclasses.replace(
        payload,
        uid=as_guid(payload.uid),  # a GUID in xdms: other ids are written as a derived GUID
        title=None,
        annotation=_clip(payload.annotation or payload.title, 4000),  # one text: the annotation
        subscriptions=SUBSCRIPTIONS,  # what МЭДО always reports
        pages=payload.pages or None,  # 0 stands for unknown
        urgency=payload.urgency,
        files=files,
    )
    plain = _org(payload.sender)
    assert plain is not None
    if container:  # a passport: authors, signs without a date, addressees by name only
        author = Organization(plain.short_name, uid=plain.uid)
        main = [f.id for f in files if f.role is FileRole.MAIN][:1]
        index = _index(payload.addressees)
        return dataclasses.replace(
            doc,
            sender=author,
            signatories=tuple(
                Signatory(Person(author, name=s.person.name, post=s.person.post))
                for s in payload.signatories
                if s.person.name or s.person.post
            ),
            addressees=tuple(
                Person(
                    Organization(a.organization.short_name, uid=_uid_of(a, index, payload, False))
                )
                for a in payload.addressees
            ),
            urgency=Urgency.NORMAL,
            links=(),
            files=tuple(
                dataclasses.replace(
                    f, pages=None, description=None if f.id in main else f.description
                )
                for f in files
            ),
        )
    # xdms needs a signatory and a signing date: the sender, the registration day or today.
    fallback = payload.registration.date if payload.registration else T.date()
    signatories = payload.signatories or (Signatory(Person(payload.sender)),)
    # The header names the sender by uid and name; its address and region are those of the
    # first signatory organisation of that name.
    named = [_org(s.person.organization) for s in signatories]
    twin = next((o for o in named if o is not None and o.short_name == plain.short_name), None)
    sender = Organization(
        plain.short_name,
        uid=plain.uid,
        medo_address=twin.medo_address if twin else None,
        region=twin.region if twin else None,
    )

    def same(org: Organization) -> Organization:  # named like the sender: it is the sender
        found = _org(org)
        assert found is not None  # a signatory has no GUID of its own in xdms
        return sender if found.short_name == sender.short_name else replace(found, uid=None)

    index = _index(payload.addressees)
    return dataclasses.replace(
        doc,
        sender=sender,
        signatories=tuple(
            Signatory(
                dataclasses.replace(s.person, organization=same(s.person.organization)),
                s.signed or fallback,
            )
            for s in signatories
        ),
        addressees=tuple(
            dataclasses.replace(
                a,
                organization=dataclasses.replace(
                    _org(a.organization),  # type: ignore[arg-type]
                    uid=_uid_of(a, index, payload, own=version != "2.2"),  # 2.2: by name
                ),
            )
            for a in payload.addressees
        ),
        links=tuple(
            dataclasses.replace(
                link,
                organization=_link_org(link.organization),
                document_uid=as_guid(link.document_uid) if link.document_uid else None,
                number=None if link.number == NO_NUMBER else link.number,
            )
            for link in payload.links
        ),
    )


def _index(addressees: tuple[Person, ...]) -> dict[str, str]:
    """The delivery index: organisation name → GUID of the first such organisation with one."""
    index: dict[str, str] = {}
    for person in addressees:
        org = _org(person.organization)
        if org is not None and org.uid:
            index.setdefault(org.short_name, org.uid)
    return index


def _uid_of(person: Person, index: dict[str, str], doc: Document, own: bool = True) -> str | None:
    """An addressee's GUID as read back: its own (not in a passport), else by name from the
    delivery index, else the only destination of a document addressed to one organisation."""
    org = _org(person.organization)
    assert org is not None
    if org.uid and own:
        return org.uid
    single = len({a.organization.short_name for a in doc.addressees}) == 1
    return index.get(org.short_name) or (
        next(iter(index.values())) if single and len(index) == 1 else None
    )


def _clip(text: str | None, limit: int) -> str | None:
    if not text:
        return None
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _link_org(org: Organization | None) -> Organization | None:
    found = _org(org)
    return dataclasses.replace(found, uid=None) if found else None  # a reference has no GUID


def _expected_notice(note: Notification, version: str) -> Notification:
    author = _org(note.author) or Organization(OWN_NAME)  # the header always names someone
    if note.kind in (NotificationKind.RECEIVED, NotificationKind.FAILED):
        failed = note.kind is NotificationKind.FAILED
        return dataclasses.replace(
            note,
            document_uid="",  # a Квитанция answers a message, not a document
            message_id=as_guid(note.message_id).lower(),
            registration=None,
            reason=None,
            error_code=(note.error_code or "medo.not_accepted") if failed else None,
            comment=_clip(note.comment, 2047),
            author=Organization(author.short_name, uid=author.uid),  # only its header names it
        )
    reason = None
    comment = note.comment
    if note.kind is NotificationKind.REFUSED:
        reason = note.reason if note.reason in REASONS else closest(note.reason)
        if reason != note.reason:
            comment = "; ".join(p for p in (note.reason, comment) if p) or None
        if version == "2.2" and reason not in REASONS[:9]:
            comment = "; ".join(p for p in (reason, comment) if p)
            reason = REASONS[0]
    registration = note.registration  # none is written as "б/н" and read back as none
    if registration is not None and registration.number == NO_NUMBER:
        registration = None
    if note.kind not in (NotificationKind.REGISTERED, NotificationKind.ANSWERED):
        registration = None
    no_mid = version == "2.2" or not note.message_id  # 2.2 has no @mid
    return dataclasses.replace(
        note,
        document_uid=as_guid(note.document_uid),
        message_id="" if no_mid else as_guid(note.message_id).lower(),
        registration=registration,
        reason=reason,
        error_code=None,
        comment=_clip(comment, 2047),
        author=author,
    )
