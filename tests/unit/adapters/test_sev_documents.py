"""The sev adapter's DocInfo mapping: what a ДЕЛО letter becomes, and what the gateway writes."""

from __future__ import annotations

import datetime as dt
import filecmp
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from adapters.api import AdapterError, Package
from adapters.filerefs import describe
from adapters.sev import SevAdapter, SevConfig
from adapters.sev.folder import portable
from adapters.testing import MemoryContext
from gateway.model import (
    Document,
    FileRole,
    LinkKind,
    NotificationKind,
    Organization,
    Person,
    Registration,
    Urgency,
)

SAMPLES = Path(__file__).parent / "samples" / "sev"
NS = {"s": "http://www.eos.ru/2010/sev"}
SAKHA = Organization("Минэкономики РС(Я)", inn="1435000002")


def make(root: Path) -> SevAdapter:
    return SevAdapter(SevConfig(root / "out", root / "in"), MemoryContext(root / "work"))


def written(adapter: SevAdapter, package: Package, target: Path) -> etree._Element:
    target.mkdir(parents=True)
    adapter.encode(package, target)
    return etree.parse(str(target / "DocInfo.xml")).getroot()


def test_a_dело_letter_becomes_a_routable_document(tmp_path: Path) -> None:
    package = make(tmp_path).decode(SAMPLES / "letter")
    doc = package.payload
    assert isinstance(doc, Document)
    assert doc.uid == "C6E81F03-9A2B-4D57-8E40-7B1F25A3D9C8"
    assert doc.kind == "Письмо"
    assert doc.registration == Registration("01-12/345", dt.date(2026, 11, 20))
    assert doc.annotation is not None and doc.annotation.startswith("О межрегиональном")
    assert doc.pages == 3  # "3 л., прил. на 2 л."
    assert doc.urgency is Urgency.URGENT
    # The ids the gateway routes by: UID and INN from Organization, OGRN from a typed Econtact.
    assert (doc.sender.uid, doc.sender.inn, doc.sender.ogrn, doc.sender.region) == (
        "0A7C3E51-2B94-4D6F-8E13-C5F0A9B2D746",
        "6163000001",
        "1026103165736",
        "61",
    )
    [addressee] = doc.addressees
    assert addressee.organization.inn == "1435000002"
    assert addressee.organization.ogrn == "1021401047799"
    assert addressee.organization.region == "14"
    assert addressee.name == "Петрова А.С."
    # The signer is the Author; the Writer (the executor) is not a signatory.
    [signatory] = doc.signatories
    assert signatory.person.name == "Иванов И.П."
    assert signatory.person.post == "Министр экономического развития Ростовской области"
    [link] = doc.links
    assert (link.kind, link.document_uid, link.number, link.date) == (
        LinkKind.IN_REPLY_TO,
        "77D0B3E2-5F19-4A8C-9C64-0E2B7A1F58D3",
        "14-07/998",
        dt.date(2026, 11, 2),
    )
    assert doc.subscriptions == (
        NotificationKind.RECEIVED,
        NotificationKind.REGISTERED,
        NotificationKind.REFUSED,
        NotificationKind.ANSWERED,
    )
    roles = [(f.role, f.name, f.signature_of) for f in doc.files]
    assert roles == [
        (FileRole.MAIN, "Письмо о сотрудничестве.pdf", None),
        (FileRole.SIGNATURE, "Письмо_01-12-345.pdf.sig", "5B0E9D72-1C46-4F83-A2D5-E87C3091B6F4"),
        (FileRole.ATTACHMENT, "План мероприятий.docx", None),
        (FileRole.SIGNATURE, "Приложение_1.docx.sig", "E4A27C15-83D9-4B60-9F1E-2C5D8A07B3E9"),
    ]
    # Files are measured, not believed; every path is inside the package folder.
    main = doc.files[0]
    assert main.size == (SAMPLES / "letter" / "Письмо_01-12-345.pdf").stat().st_size
    assert all(path.parent == SAMPLES / "letter" for path in package.files.values())
    assert package.context["sev.return_id"] == "F3A90C1E-77B2-4E0D-A5C8-61D2E4B7F905"
    assert package.context["sev.message_id"] == "8D1B6E2C-4F0A-4C51-9B7E-2A6D3F19C0E4"
    assert package.context["sev.document_id"] == "2146983"
    assert package.context["sev.number"] == "01-12/345"
    assert package.context["sev.sender_inn"] == "6163000001"


def test_the_signer_is_taken_from_writer_when_no_author_names_one(tmp_path: Path) -> None:
    folder = tmp_path / "letter"
    folder.mkdir()
    for path in (SAMPLES / "letter").iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    xml = (folder / "DocInfo.xml").read_bytes().decode("utf-8-sig")
    start, end = xml.index("<Author>"), xml.index("</Author>") + len("</Author>")
    (folder / "DocInfo.xml").write_text(xml[:start] + xml[end:], encoding="utf-8")

    doc = make(tmp_path).decode(folder).payload

    assert isinstance(doc, Document)
    assert [s.person.name for s in doc.signatories] == ["Сидорова Е.В."]
    assert doc.signatories[0].person.contact == "+7 (863) 240-00-00"


def files_package(root: Path, names: list[tuple[str, FileRole, str | None]]) -> Package:
    root.mkdir(parents=True)
    refs, paths = [], {}
    for n, (name, role, signs) in enumerate(names):
        path = root / f"source-{n}"
        path.write_bytes(f"содержимое {n}: {name}".encode())
        refs.append(describe(path, id=f"f{n}", role=role, name=name, signature_of=signs))
        paths[f"f{n}"] = path
    return Package(Document("doc-1", "Письмо", SAKHA, files=tuple(refs)), paths)


def test_files_come_back_main_first_each_with_its_signatures(tmp_path: Path) -> None:
    package = files_package(
        tmp_path / "src",
        [
            ("подпись приложения.p7s", FileRole.SIGNATURE, "f1"),
            ("приложение.pdf", FileRole.ATTACHMENT, None),
            ("письмо.pdf", FileRole.MAIN, None),
            ("письмо.pdf.sig", FileRole.SIGNATURE, "f2"),
            ("подпись письма.sig", FileRole.SIGNATURE, "f2"),
        ],
    )
    adapter = make(tmp_path)
    written(adapter, package, tmp_path / "out")

    back = adapter.decode(tmp_path / "out")

    assert isinstance(back.payload, Document)
    got = [(f.id, f.role, f.name, f.signature_of) for f in back.payload.files]
    assert got == [
        ("f2", FileRole.MAIN, "письмо.pdf", None),
        # a signature is known by its file name; its id is made up when the name is not a
        # valid envelope id (ASCII only)
        ("f2-sig1", FileRole.SIGNATURE, "письмо.pdf.sig", "f2"),
        ("f2-sig2", FileRole.SIGNATURE, "подпись письма.sig", "f2"),
        ("f1", FileRole.ATTACHMENT, "приложение.pdf", None),
        # ДЕЛО takes detached signatures as .sig files: a .p7s gets the suffix added.
        ("f1-sig1", FileRole.SIGNATURE, "подпись приложения.p7s.sig", "f1"),
    ]
    sources = {"f2": "f2", "f2-sig1": "f3", "f2-sig2": "f4", "f1": "f1", "f1-sig1": "f0"}
    for ref in back.payload.files:  # byte for byte, each from its own source
        assert filecmp.cmp(back.files[ref.id], package.files[sources[ref.id]], shallow=False)


def test_unsafe_or_clashing_file_names_get_safe_names_on_disk(tmp_path: Path) -> None:
    package = files_package(
        tmp_path / "src",
        [
            ("../../etc/passwd.pdf", FileRole.MAIN, None),
            ("CON.txt", FileRole.ATTACHMENT, None),
            ("Отчёт.PDF", FileRole.ATTACHMENT, None),
            ("отчёт.pdf", FileRole.ATTACHMENT, None),
            ("DocInfo.xml", FileRole.ATTACHMENT, None),
            ("a:b|c?.sig", FileRole.SIGNATURE, "f0"),
        ],
    )
    adapter = make(tmp_path)
    written(adapter, package, tmp_path / "out")

    on_disk = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert all(portable(name) for name in on_disk)
    assert len({name.casefold() for name in on_disk}) == len(on_disk) == 7
    back = adapter.decode(tmp_path / "out").payload
    assert isinstance(back, Document)
    # The names ДЕЛО shows (Description + Extension) are kept, whatever the disk names are.
    plain = [f.name for f in back.files if f.role is not FileRole.SIGNATURE]
    assert plain == ["../../etc/passwd.pdf", "CON.txt", "Отчёт.PDF", "отчёт.pdf", "DocInfo.xml"]


@settings(max_examples=60)
@given(st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=80))
def test_any_file_name_comes_back_as_ДЕЛО_shows_it(name: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        package = files_package(root / "src", [(name, FileRole.MAIN, None)])
        adapter = make(root)
        written(adapter, package, root / "out")
        back = adapter.decode(root / "out").payload
        assert isinstance(back, Document)
        assert back.files[0].name == name


def test_a_signature_of_a_file_not_in_the_document_cannot_be_written(tmp_path: Path) -> None:
    package = files_package(
        tmp_path / "src",
        [
            ("письмо.pdf", FileRole.MAIN, None),
            ("подпись.sig", FileRole.SIGNATURE, "nowhere"),
        ],
    )
    with pytest.raises(AdapterError) as caught:
        written(make(tmp_path), package, tmp_path / "out")
    assert caught.value.code == "sev.cannot_encode"
    assert "подпись.sig" in caught.value.message
    assert list((tmp_path / "out").iterdir()) == []  # nothing half-written


def test_the_header_carries_the_gateway_message_id_both_ways(tmp_path: Path) -> None:
    package = Package(Document("doc-1", "Письмо", SAKHA), context={"gateway.message_id": "m-77"})
    tree = written(make(tmp_path), package, tmp_path / "out")

    header = tree.find("s:Header", NS)
    assert header is not None
    assert (header.get("MessageID"), header.get("ReturnID")) == ("m-77", "m-77")
    assert header.get("MessageType") == "MainDoc"
    assert tree.findtext("s:Header/s:Sender/s:EDMS", namespaces=NS) == SevConfig.edms_name
    # No addressees: this participant is the recipient; no number yet: an empty Number.
    assert (
        tree.findtext(".//s:Recipient/s:Contact/s:Organization/s:ShortName", namespaces=NS)
        == SevConfig.organization
    )
    assert tree.findtext(".//s:RegistrationInfo/s:Number", namespaces=NS) == ""
    assert make(tmp_path).decode(tmp_path / "out").payload == package.payload


def test_without_a_gateway_id_the_ids_read_are_kept_or_made_fresh(tmp_path: Path) -> None:
    adapter = make(tmp_path)
    kept = written(adapter, adapter.decode(SAMPLES / "letter"), tmp_path / "kept")
    fresh = written(adapter, Package(Document("d", "Письмо", SAKHA)), tmp_path / "fresh")

    header = kept.find("s:Header", NS)
    assert header is not None and header.get("ReturnID") == "F3A90C1E-77B2-4E0D-A5C8-61D2E4B7F905"
    assert kept.find(".//s:Document", NS).get("DocumentID") == "2146983"  # type: ignore[union-attr]
    other = fresh.find("s:Header", NS)
    assert other is not None and len(other.get("MessageID") or "") == 32


def test_a_person_reachable_by_phone_and_an_organisation_by_its_medo_address(
    tmp_path: Path,
) -> None:
    org = Organization(
        "Минфин РС(Я)", ogrn="1021401047799", medo_address="MINFIN~SAKHA", region="14"
    )
    person = Person(org, name="Орлов О. О.", department="Бюджетный отдел", contact="+7 4112 000")
    tree = written(
        make(tmp_path),
        Package(Document("d", "Письмо", org, addressees=(person,))),
        tmp_path / "out",
    )

    contact = tree.find(".//s:Addressee/s:Contact", NS)
    assert contact is not None
    econtacts = [(e.get("Type"), e.text) for e in contact.iterfind("s:Econtact", NS)]
    assert econtacts == [("ОГРН", "1021401047799"), ("МЭДО", "MINFIN~SAKHA"), (None, "+7 4112 000")]
    assert contact.find("s:Address/s:Region", NS).get("UID") == "14"  # type: ignore[union-attr]
    back = make(tmp_path).decode(tmp_path / "out").payload
    assert isinstance(back, Document) and back.addressees == (person,)
