"""The sev adapter (EOS «ДЕЛО», СЭВ) through the conformance kit, with real package folders.

``expected()`` below is the one statement of what СЭВ cannot carry; the same function drives
the property-based round trips at the end of this module.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from adapters.api import Package, Payload
from adapters.filerefs import describe, media_type
from adapters.reasons import closest
from adapters.sev import SevAdapter, SevConfig
from adapters.sev.xmlio import schema_path
from adapters.testing import AdapterConformance, MemoryContext
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
from tests.strategies import documents, notifications

SAMPLES = Path(__file__).parent / "samples" / "sev"
# the published schemas, beside the repository as ../shared (absent on most machines)
REFERENCE = Path(__file__).resolve().parents[4] / "shared" / "reference" / "sev"
OWN = SevConfig(Path("out"), Path("in")).own_organization
T = dt.datetime(2026, 11, 21, 7, 15, tzinfo=dt.UTC)

ROSTOV = Organization(
    short_name="Минэкономразвития Ростовской области",
    full_name="Министерство экономического развития Ростовской области",
    inn="6163000001",
    ogrn="1026103165736",
    medo_address="MINEC-RO~ROSTOV",
    uid="0A7C3E51-2B94-4D6F-8E13-C5F0A9B2D746",
    region="61",
)
SAKHA = Organization(
    short_name="Минэкономики РС(Я)",
    full_name="Министерство экономики Республики Саха (Якутия)",
    inn="1435000002",
    ogrn="1021401047799",
    region="14",
)


def expected(payload: Payload) -> Payload:
    """What of a canonical payload comes back from a trip through СЭВ, and why not the rest."""
    if isinstance(payload, Notification):
        return dataclasses.replace(
            payload,
            # A Report always names its sender: this participant when the notice names none.
            author=payload.author or OWN,
            # A refusal's reason is the closed МЭДО list's (Failure carries it as text).
            reason=closest(payload.reason) if payload.kind is NotificationKind.REFUSED else None,
            error_code=(payload.error_code or "gateway.error")
            if payload.kind is NotificationKind.FAILED
            else None,
            registration=_registration(payload.registration),
        )
    wanted = set(payload.subscriptions) - {NotificationKind.FAILED}  # not a СЭВ event
    if wanted & {NotificationKind.REGISTERED, NotificationKind.REFUSED}:
        # Subscriptions/Registration asks for the answer to registration, yes or no.
        wanted |= {NotificationKind.REGISTERED, NotificationKind.REFUSED}
    return dataclasses.replace(
        payload,
        registration=_registration(payload.registration),
        # Author has no signing date; Link has no organisation.
        signatories=tuple(dataclasses.replace(s, signed=None) for s in payload.signatories),
        links=tuple(dataclasses.replace(link, organization=None) for link in payload.links),
        subscriptions=tuple(kind for kind in NotificationKind if kind in wanted),
        files=_files(payload.files),
    )


def _registration(registration: Registration | None) -> Registration | None:
    # RegistrationInfo is required: an empty (blank) number is how "no number yet" travels.
    return registration if registration and registration.number.strip() else None


def _files(files: tuple[FileRef, ...]) -> tuple[FileRef, ...]:
    """File elements carry an id, the name ДЕЛО shows and signatures nested under them: no
    description, page count, media type (the extension says it) or Streebog digest. The
    first file is the main text; a signature is named and identified by its .sig file."""
    plain = sorted(
        (f for f in files if f.role is not FileRole.SIGNATURE),
        key=lambda f: f.role is not FileRole.MAIN,
    )
    result = []
    for n, ref in enumerate(plain):
        role = FileRole.MAIN if n == 0 else FileRole.ATTACHMENT
        result.append(_lost(dataclasses.replace(ref, role=role)))
        signatures = (f for f in files if f.role is FileRole.SIGNATURE and f.signature_of == ref.id)
        for k, sig in enumerate(signatures, start=1):
            name = sig.name if sig.name.lower().endswith(".sig") else f"{sig.name}.sig"
            # an id is the file name when that is a valid envelope id (ASCII), else made up
            sig_id = name if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._:{}\-]{0,127}", name) else (
                f"{ref.id}-sig{k}")  # fmt: skip
            result.append(_lost(dataclasses.replace(sig, id=sig_id, name=name)))
    return tuple(result)


def _lost(ref: FileRef) -> FileRef:
    return dataclasses.replace(
        ref, media_type=media_type(ref.name), description=None, pages=None, streebog256=None
    )


def written_xml(folder: Path) -> Path:
    found = [p for p in (folder / "DocInfo.xml", folder / "Report.xml") if p.is_file()]
    assert len(found) == 1, f"{folder} holds {sorted(p.name for p in folder.iterdir())}"
    return found[0]


def reference_schema(root_tag: str) -> etree.XMLSchema:
    name = "DocumentInfo.xsd" if root_tag.endswith("DocInfo") else "ReportInfo.xsd"
    parser = etree.XMLParser(no_network=True, resolve_entities=False)
    return etree.XMLSchema(etree.parse(str(REFERENCE / name), parser))


def letter(folder: Path) -> Package:
    """A canonical letter with two files, three signatures and everything СЭВ can hold."""
    folder.mkdir(parents=True, exist_ok=True)
    contents = {
        "main": ("Письмо о сотрудничестве.pdf", b"%PDF-1.7\n" + bytes(range(256)) * 30),
        "plan": ("План мероприятий.docx", b"PK\x03\x04" + bytes(range(200, 0, -1)) * 50),
        "s1": ("Письмо о сотрудничестве.pdf.sig", b"0\x82\x05\x10" + b"\x01" * 700),
        "s2": ("Письмо о сотрудничестве.pdf.p7s", b"0\x82\x04\x00" + b"\x02" * 600),
        "s3": ("План мероприятий.docx.sig", b"0\x82\x03\x00" + b"\x03" * 500),
    }
    paths = {}
    for key, (name, data) in contents.items():
        paths[key] = folder / name
        paths[key].write_bytes(data)
    main = describe(
        paths["main"], id="main", role=FileRole.MAIN, description="Текст письма", pages=3
    )
    plan = describe(paths["plan"], id="plan", role=FileRole.ATTACHMENT, pages=2)
    signatures = [
        describe(paths[key], id=key, role=FileRole.SIGNATURE, signature_of=target)
        for key, target in (("s1", "main"), ("s2", "main"), ("s3", "plan"))
    ]
    signer = Person(
        ROSTOV,
        name="Иванов Иван Петрович",
        post="Министр",
        department="Руководство",
        contact="+7 (863) 240-00-00",
    )
    document = Document(
        uid="c6e81f03-9a2b-4d57-8e40-7b1f25a3d9c8",
        kind="Письмо",
        sender=ROSTOV,
        registration=Registration("01-12/345", dt.date(2026, 11, 20)),
        title="О межрегиональном сотрудничестве",
        annotation="О плане совместных мероприятий на 2027 год\nи порядке его согласования",
        signatories=(Signatory(signer, dt.date(2026, 11, 20)),),
        addressees=(
            Person(SAKHA, name="Петрова А. С.", post="Министр экономики"),
            Person(SAKHA, post="Первый заместитель министра", department="Приёмная"),
        ),
        pages=5,
        urgency=Urgency.IMMEDIATE,
        links=(
            Link(LinkKind.IN_REPLY_TO, "77d0b3e2", "14-07/998", dt.date(2026, 11, 2), SAKHA),
            Link(LinkKind.ON_NUMBER, number="14-07/1000"),
            Link(LinkKind.BASIS, date=dt.date(2026, 10, 1)),
            Link(LinkKind.RELATED, document_uid="a1b2c3"),
            Link(LinkKind.IN_EXECUTION_OF, number="Пр-123", date=dt.date(2026, 9, 9)),
            Link(LinkKind.ANSWER),
        ),
        subscriptions=(
            NotificationKind.REGISTERED,
            NotificationKind.RECEIVED,
            NotificationKind.FAILED,
        ),
        # In the order СЭВ gives them back (the kit pairs files by position; the reordering
        # is tested in test_sev_documents.py).
        files=(main, signatures[0], signatures[1], plan, signatures[2]),
    )
    files = {"main": paths["main"], "plan": paths["plan"]}
    files |= {key: paths[key] for key in ("s1", "s2", "s3")}
    return Package(document, files)


def notices() -> list[Notification]:
    base = Notification(NotificationKind.RECEIVED, "c6e81f03", "b4f1c9e2-3d57", T)
    return [
        base,
        dataclasses.replace(
            base,
            kind=NotificationKind.REGISTERED,
            time=T.replace(microsecond=250_000),
            registration=Registration("14-07/1002", dt.date(2026, 11, 21)),
            comment="Передано на рассмотрение",
            author=SAKHA,
        ),
        dataclasses.replace(
            base,
            kind=NotificationKind.REFUSED,
            reason="Ошибка адресации",
            comment="Адресовано Минфину",
            author=SAKHA,
        ),
        dataclasses.replace(base, kind=NotificationKind.REFUSED, reason="Нет подписи"),
        dataclasses.replace(
            base,
            kind=NotificationKind.FAILED,
            error_code="routing.unknown_recipient",
            comment="Получатель с ИНН 1435999999 не найден в реестре участников",
        ),
        dataclasses.replace(
            base, kind=NotificationKind.EXECUTOR_ASSIGNED, comment="Исп. Орлов", author=SAKHA
        ),
        dataclasses.replace(
            base,
            kind=NotificationKind.ANSWERED,
            registration=Registration("14-07/1100", dt.date(2026, 12, 1)),
        ),
    ]


class TestSevAdapter(AdapterConformance):
    adapter = SevAdapter

    def config(self, tmp_path: Path) -> SevConfig:
        return SevConfig(outgoing=tmp_path / "outgoing", incoming=tmp_path / "incoming")

    def native_samples(self, tmp_path: Path) -> list[Path]:
        return [SAMPLES / "letter", SAMPLES / "registered", SAMPLES / "refused-report.xml"]

    def canonical_samples(self, tmp_path: Path) -> list[Package]:
        bare = Document(uid="doc-без-файлов", kind="Справка", sender=SAKHA)
        return [letter(tmp_path / "letter-files"), Package(bare)] + [
            Package(notice) for notice in notices()
        ]

    def hostile_samples(self, tmp_path: Path) -> list[tuple[Path, str]]:
        return list(hostile(tmp_path / "hostile"))

    def check_native(self, package: Path) -> None:
        xml = written_xml(package)
        data = xml.read_bytes()
        assert data.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
        tree = etree.parse(str(xml))
        own = etree.XMLSchema(etree.parse(str(schema_path())))
        assert own.validate(tree), own.error_log
        listed = tree.getroot().iterfind(".//{http://www.eos.ru/2010/sev}Resource")
        assert {r.get("UniqueName") for r in listed} == {p.name for p in package.iterdir()}
        if REFERENCE.is_dir():  # the published schemas, where the shared folder is present
            schema = reference_schema(str(tree.getroot().tag))
            assert schema.validate(tree), schema.error_log

    def expected(self, payload: Payload) -> Payload:
        return expected(payload)

    def exported(self, config: SevConfig) -> list[Path]:
        return sorted(config.incoming.rglob("*"))


# ---- hostile packages ---------------------------------------------------------------------


def copy_letter(target: Path) -> Path:
    target.mkdir(parents=True)
    for path in (SAMPLES / "letter").iterdir():
        (target / path.name).write_bytes(path.read_bytes())
    return target


def edit(folder: Path, old: str, new: str, name: str = "DocInfo.xml") -> Path:
    path = folder / name
    text = path.read_bytes().decode("utf-8-sig")
    assert old in text, old
    path.write_bytes(text.replace(old, new, 1).encode("utf-8"))
    return folder


DECLARATION = '<?xml version="1.0" encoding="utf-8"?>'
MAIN_FILE = 'UniqueName="Письмо_01-12-345.pdf"'
# (package name, text in the letter's DocInfo.xml, replaced by, the code promised)
EDITS = [
    ("doctype", DECLARATION, DECLARATION + "<!DOCTYPE DocInfo>", "xml.doctype_forbidden"),
    ("entities", DECLARATION, DECLARATION + '<!DOCTYPE DocInfo [<!ENTITY a "aaaaaaaa">'
     '<!ENTITY b "&a;&a;&a;&a;&a;&a;">]>', "xml.entity_forbidden"),
    ("external", DECLARATION, DECLARATION + '<!DOCTYPE DocInfo SYSTEM "file:///etc/passwd">',
     "xml.external_dtd_forbidden"),
    ("malformed", "</DocumentList>", "</DocumentLis>", "format.xml"),
    ("foreign", 'xmlns="http://www.eos.ru/2010/sev"', 'xmlns="urn:other"', "format.not_sev"),
    ("traversal", MAIN_FILE, 'UniqueName="../../etc/passwd"', "format.unsafe_name"),
    ("absolute", MAIN_FILE, 'UniqueName="/etc/passwd"', "format.unsafe_name"),
    ("backslash", MAIN_FILE, 'UniqueName="..\\..\\Windows\\win.ini"', "format.unsafe_name"),
    ("drive", MAIN_FILE, 'UniqueName="C:passwd"', "format.unsafe_name"),
    ("dots", MAIN_FILE, 'UniqueName=".."', "format.unsafe_name"),
    ("signature-not-listed", '<EDS ResourceID="4"', '<EDS ResourceID="9"',
     "format.missing_signature"),
    ("file-not-listed", 'ResourceID="3" Size', 'ResourceID="7" Size', "format.missing_file"),
    ("listed-not-there", "</ResourceList>",
     '<Resource UID="5" UniqueName="Опись.pdf" /></ResourceList>', "format.missing_file"),
    ("bad-date", "<Date>2026-11-20</Date>", "<Date>20.11.2026</Date>", "format.invalid"),
]  # fmt: skip
# (file name, pattern in the refused report, replaced by, the code promised)
REPORT_EDITS = [
    ("no-return-id", r' ReturnID="[^"]*"', "", "format.invalid"),
    ("no-initial-uid", r'<InitialDoc UID="[^"]*">', "<InitialDoc>", "format.invalid"),
    ("forwarding-only", r"<Failure .*</Failure>", "<Forwarding><Contact><Organization>"
     "<ShortName>Минфин</ShortName></Organization></Contact><Date>2026-11-21T10:00:00</Date>"
     "</Forwarding>", "format.unsupported"),
    ("bad-time", r'Time="[^"]*"', 'Time="вчера"', "format.invalid"),
]  # fmt: skip


def hostile(root: Path) -> list[tuple[Path, str]]:
    cases = [(edit(copy_letter(root / name), old, new), code) for name, old, new, code in EDITS]
    for name, gone, code in (
        ("no-main-file", "Письмо_01-12-345.pdf", "format.missing_file"),
        ("no-signature", "Приложение_1.docx.sig", "format.missing_signature"),
    ):
        package = copy_letter(root / name)
        (package / gone).unlink()
        cases.append((package, code))
    linked = copy_letter(root / "symlink")
    (linked / "Приложение_1.docx").unlink()
    (linked / "Приложение_1.docx").symlink_to("/etc/hostname")
    cases.append((linked, "format.unsafe_name"))
    nothing = copy_letter(root / "no-document")
    text = (nothing / "DocInfo.xml").read_bytes().decode("utf-8-sig")
    text = re.sub(r"<DocumentList>.*</DocumentList>", "<DocumentList />", text, flags=re.DOTALL)
    (nothing / "DocInfo.xml").write_text(text, encoding="utf-8")
    cases.append((nothing, "format.invalid"))
    no_sender = copy_letter(root / "no-sender-organization")
    text = (no_sender / "DocInfo.xml").read_bytes().decode("utf-8-sig")
    text = re.sub(r"<Sender>.*?<EDMS", "<Sender><Contact /><EDMS", text, flags=re.DOTALL)
    (no_sender / "DocInfo.xml").write_text(text, encoding="utf-8")
    cases.append((no_sender, "format.invalid"))
    (root / "empty").mkdir()
    cases.append((root / "empty", "format.not_sev"))
    twice = copy_letter(root / "two-messages")
    (twice / "Report.xml").write_bytes((SAMPLES / "registered" / "Report.xml").read_bytes())
    cases.append((twice, "format.invalid"))
    report = (SAMPLES / "refused-report.xml").read_text(encoding="utf-8")
    for name, pattern, replacement, code in REPORT_EDITS:
        path = root / f"{name}.xml"
        path.write_text(re.sub(pattern, replacement, report, count=1), encoding="utf-8")
        cases.append((path, code))
    return cases


# ---- round trips of arbitrary payloads ------------------------------------------------------


def _adapter(root: Path) -> SevAdapter:
    return SevAdapter(SevConfig(root / "out", root / "in"), MemoryContext(root / "work"))


@settings(max_examples=60)
@given(documents.map(lambda d: dataclasses.replace(d, files=())))
def test_any_document_survives_what_sev_can_carry(document: Document) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "package").mkdir()
        adapter = _adapter(root)
        adapter.encode(Package(document), root / "package")
        assert adapter.decode(root / "package").payload == expected(document)


@settings(max_examples=80)
@given(notifications)
def test_any_notification_survives_what_sev_can_carry(notification: Notification) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "package").mkdir()
        adapter = _adapter(root)
        adapter.encode(Package(notification), root / "package")
        assert adapter.decode(root / "package").payload == expected(notification)


@given(st.sampled_from(list(NotificationKind)))
def test_every_kind_is_written_as_a_report_the_published_schema_accepts(
    kind: NotificationKind,
) -> None:
    if not REFERENCE.is_dir():
        pytest.skip("the published СЭВ schemas are not here")
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "package").mkdir()
        notice = dataclasses.replace(notices()[0], kind=kind, comment="Комментарий")
        _adapter(root).encode(Package(notice), root / "package")
        tree = etree.parse(str(root / "package" / "Report.xml"))
        schema = reference_schema(str(tree.getroot().tag))
        assert schema.validate(tree), schema.error_log
