"""What maps to what between МЭДО xdms and the canonical model, read and written."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
import uuid
from pathlib import Path

import pytest
from lxml import etree

from adapters.api import FormatError, Package
from adapters.medo import envelope_ini
from adapters.medo.names import MOSCOW, NOT_ACCEPTED, as_guid, org_guid
from gateway.model import (
    Document,
    FileRole,
    Notification,
    NotificationKind,
    Organization,
    Registration,
)
from tests.unit.adapters.test_medo_fixtures import edit
from tests.unit.adapters.test_medo_support import (
    REFERENCE,
    ROSTOV,
    SAMPLES,
    adapter,
    copy_sample,
    letter,
    notices,
)

X = "{http://www.infpres.com/IEDMS}"


def written(folder: Path) -> etree._Element:
    return etree.parse(str(folder / "document.xml")).getroot()


def encode(tmp_path: Path, package: Package, name: str = "out", **options: object) -> Path:
    target = tmp_path / name
    target.mkdir()
    adapter(tmp_path, **options).encode(package, target)
    return target


# ---- reading ----------------------------------------------------------------------------------


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="../shared/reference/medo is missing")
def test_the_published_refusal_becomes_a_refused_notification(tmp_path: Path) -> None:
    note = adapter(tmp_path).decode(REFERENCE / "medo22_notification_refused.xml").payload
    assert note == Notification(
        kind=NotificationKind.REFUSED,
        document_uid="e175cfcf-8ba9-6f4a-88df-eab5f390c0f2",
        message_id="",  # 2.2 has no @mid: the gateway finds the document by its uid
        time=dt.datetime(2018, 3, 30, 10, 10, 39, 159000, tzinfo=MOSCOW),
        reason="Не подлежит регистрации",
        comment="по договоренности",
        author=Organization(
            short_name="Министерство строительства и жилищно-коммунального хозяйства "
            "(Минстрой России)",
            uid="39b3deb1-9f60-49a5-8fb9-2af8020071ed",
            region="г. Москва",
        ),
    )


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="../shared/reference/medo is missing")
def test_the_published_registration_carries_the_receivers_number(tmp_path: Path) -> None:
    package = adapter(tmp_path).decode(REFERENCE / "medo22_notification_registered.xml")
    note = package.payload
    assert isinstance(note, Notification)
    assert note.kind is NotificationKind.REGISTERED
    assert note.document_uid == "a644d9ca-d2c1-c94e-8373-2f2883696a93"
    assert note.registration == Registration("33306/МС", dt.date(2018, 3, 30))
    assert note.time == dt.datetime(2018, 3, 30, 7, 41, 12, 503000, tzinfo=dt.UTC)  # Moscow
    assert package.context["medo.version"] == "2.2"
    assert "medo.header_uid" not in package.context  # only documents are answered


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="../shared/reference/medo is missing")
def test_a_271_acknowledgment_is_received_for_the_message_it_names(tmp_path: Path) -> None:
    note = adapter(tmp_path).decode(REFERENCE / "medo271_acknowledgment_template.xml").payload
    assert isinstance(note, Notification)
    assert note.kind is NotificationKind.RECEIVED
    assert note.message_id == "00000000-0000-0000-0000-0000000000aa"  # = a gateway message id
    assert note.document_uid == ""


def test_windows_1251_envelope_and_xml_are_read(tmp_path: Path) -> None:
    folder = SAMPLES / "doc-2.2-cp1251"
    assert b"\xcf\xc8\xd1\xdc\xcc\xce" in (folder / "envelope.ini").read_bytes()  # ПИСЬМО
    envelope = envelope_ini.read(folder / "envelope.ini")
    assert envelope.subject.startswith("ЭСД МЭДО (01-15/2231 от 14.03.2024")
    assert envelope.files[2] == "Приложение 1.pdf"
    package = adapter(tmp_path).decode(folder)
    doc = package.payload
    assert isinstance(doc, Document)
    assert package.context["medo.charset"] == "windows-1251"
    assert doc.sender.short_name == "Правительство Ростовской области"
    assert doc.signatories[0].person.name == "Голубев В.Ю."
    assert doc.files[2].name == "Приложение 1.pdf"
    assert doc.files[2].description == "Расчёт потребности в средствах"
    # 2.2 has no addressee/@uid: the GUID comes from the delivery index.
    assert doc.addressees[0].organization.uid == "c0a80101-0000-4000-8000-00000000a001"
    # 2.2 has no signedData: the signature is paired with its file by name.
    assert doc.files[1].role is FileRole.SIGNATURE and doc.files[1].signature_of == "file-1"
    # Delphi writes GUIDs in braces; they are read without.
    assert doc.uid == "3F2504E0-4F89-41D3-9A0C-0305E82C3301"
    assert package.context["medo.header_uid"] == "9F50BC3D-47AC-4446-B528-678BB8FB0C30"


def test_a_26_document_maps_every_carried_field(tmp_path: Path) -> None:
    package = adapter(tmp_path).decode(SAMPLES / "doc-2.6")
    doc = package.payload
    assert isinstance(doc, Document)
    assert doc.sender.medo_address == "MINCIFRA~RO61" and doc.sender.region == "61"
    assert doc.signatories[0].person.organization == doc.sender
    assert doc.addressees[0].organization.medo_address == "MININNOV~SAKHA14"
    assert [f.role for f in doc.files] == [
        FileRole.MAIN,
        FileRole.SIGNATURE,
        FileRole.SIGNATURE,
        FileRole.ATTACHMENT,  # group «Данные»
        FileRole.ATTACHMENT,
    ]
    assert doc.links[0].number == "20-02-3/5046-ИЛ"
    assert package.context["medo.document_id"] == "4512"
    # a base64 signature is carried byte for byte
    assert package.files["file-1-sig-2"].read_bytes().startswith(b"MIIA")


def test_a_negative_acknowledgment_is_a_failure(tmp_path: Path) -> None:
    note = adapter(tmp_path).decode(SAMPLES / "ack-negative-2.6").payload
    assert isinstance(note, Notification)
    assert note.kind is NotificationKind.FAILED
    assert note.error_code == NOT_ACCEPTED
    assert note.comment == "Не удалось проверить электронную подпись файла"


def test_an_executor_is_named_in_the_comment(tmp_path: Path) -> None:
    note = adapter(tmp_path).decode(SAMPLES / "notice-executor-2.6").payload
    assert isinstance(note, Notification)
    assert note.kind is NotificationKind.EXECUTOR_ASSIGNED
    assert note.comment == "Исполнитель: Кузнецов Д.О., Консультант, Минстрой России"
    assert note.message_id == "0f6a1e36-5d3b-4f7c-9b1e-2a7c4e8d9f10"  # @mid, lower case


def test_a_free_text_refusal_gets_a_listed_reason_and_keeps_its_text(tmp_path: Path) -> None:
    folder = copy_sample("notice-refused-2.2", tmp_path / "refused")
    edit(
        folder,
        "<xdms:reason>Не подлежит регистрации</xdms:reason>",
        "<xdms:reason>Нет подписи руководителя на второй странице</xdms:reason>",
    )
    note = adapter(tmp_path).decode(folder).payload
    assert isinstance(note, Notification)
    assert note.reason == "Нет подписи"
    assert note.comment == "Нет подписи руководителя на второй странице; по договоренности"


def test_a_folder_without_envelope_and_with_other_case_names_is_read(tmp_path: Path) -> None:
    folder = copy_sample("doc-2.6", tmp_path / "doc")
    (folder / "envelope.ini").unlink()
    (folder / "svedeniya.xml").rename(folder / "SVEDENIYA.XML")
    doc = adapter(tmp_path).decode(folder).payload
    assert isinstance(doc, Document)
    assert doc.files[3].name == "svedeniya.xml"


def test_a_number_without_a_date_is_kept_for_the_rewrite(tmp_path: Path) -> None:
    folder = copy_sample("doc-2.6", tmp_path / "doc")
    edit(folder, "<xdms:date>2024-04-02</xdms:date>", "")
    first = adapter(tmp_path).decode(folder)
    assert isinstance(first.payload, Document) and first.payload.registration is None
    assert first.context["medo.number"] == "61-02/4512"
    target = encode(tmp_path, first)
    assert written(target).findtext(f"{X}document/{X}num/{X}number") == "61-02/4512"


def test_a_document_xml_alone_is_not_a_message(tmp_path: Path) -> None:
    with pytest.raises(FormatError) as caught:
        adapter(tmp_path).decode(SAMPLES / "doc-2.6" / "document.xml")
    assert caught.value.code == "format.not_medo"
    assert "folder" in caught.value.message


def test_an_envelope_without_its_section_is_refused(tmp_path: Path) -> None:
    folder = copy_sample("doc-2.6", tmp_path / "doc")
    (folder / "envelope.ini").write_text("[FILES]\n0=document.xml\n", encoding="utf-8")
    with pytest.raises(FormatError) as caught:
        adapter(tmp_path).decode(folder)
    assert caught.value.code == "format.envelope"


def test_envelope_reading_is_lenient(tmp_path: Path) -> None:
    path = tmp_path / "ENVELOPE.INI"
    path.write_bytes(
        "\ufeff; comment\r\n[письмо кп пс сзи]\r\nтема = 100% готово\r\nЭЦП=1\r\n"
        "[ФАЙЛЫ]\r\n1=b.pdf\r\n0=a.pdf\r\n2=\r\n".encode("utf-8-sig")[3:]
    )
    assert envelope_ini.find(tmp_path) == path
    envelope = envelope_ini.read(path)
    assert envelope.subject == "100% готово"
    assert envelope.files == ("a.pdf", "b.pdf")
    assert envelope.signed


# ---- writing ----------------------------------------------------------------------------------


def test_windows_1251_is_written_when_configured(tmp_path: Path) -> None:
    package = letter(tmp_path / "letter")
    doc = package.payload
    assert isinstance(doc, Document)
    tatar = dataclasses.replace(doc, annotation="Төзелеш планы — план строительства")
    target = encode(tmp_path, Package(tatar, package.files), charset="windows-1251")
    data = (target / "document.xml").read_bytes()
    assert data.startswith(b'<?xml version="1.0" encoding="windows-1251"?>')
    assert "план строительства".encode("cp1251") in data
    assert b"&#1257;" in data  # ө is not in windows-1251: a character reference, not "?"
    assert (target / "envelope.ini").read_bytes().decode("cp1251").startswith("[ПИСЬМО КП ПС СЗИ]")
    back = adapter(tmp_path).decode(target).payload
    assert isinstance(back, Document) and back.annotation == tatar.annotation


def test_an_envelope_falls_back_to_utf8_for_names_windows_1251_lacks(tmp_path: Path) -> None:
    package = letter(tmp_path / "letter")
    doc = package.payload
    assert isinstance(doc, Document)
    main = dataclasses.replace(doc.files[0], name="Төзелеш.pdf")
    tatar = dataclasses.replace(doc, files=(main, *doc.files[1:]))
    target = encode(tmp_path, Package(tatar, {**package.files}))
    assert envelope_ini.read(target / "envelope.ini").files[0] == "Төзелеш.pdf"
    assert (target / "Төзелеш.pdf").read_bytes() == package.files["file-1"].read_bytes()


def test_header_uid_is_the_gateway_message_id_else_the_documents_own(tmp_path: Path) -> None:
    package = letter(tmp_path / "letter")
    message_id = str(uuid.uuid4())
    exported = encode(
        tmp_path,
        Package(package.payload, package.files, {"gateway.message_id": message_id}),
        "exported",
    )
    assert written(exported).find(f"{X}header").get(f"{X}uid") == message_id
    again = adapter(tmp_path).decode(exported)
    assert again.context["medo.header_uid"] == message_id
    rewritten = encode(tmp_path, again, "rewritten")
    assert written(rewritten).find(f"{X}header").get(f"{X}uid") == message_id


def test_notifications_quote_the_header_uid_the_client_knows(tmp_path: Path) -> None:
    received, registered = notices()[4], notices()[0]
    context = {"medo.header_uid": "9F50BC3D-47AC-4446-B528-678BB8FB0C30", "medo.document_id": "77"}
    ack = written(encode(tmp_path, Package(received.payload, {}, context), "ack"))
    assert ack.find(f"{X}acknowledgment").get(f"{X}uid") == context["medo.header_uid"]
    note = written(encode(tmp_path, Package(registered.payload, {}, context), "note"))
    element = note.find(f"{X}notification")
    assert element.get(f"{X}mid") == context["medo.header_uid"]
    assert element.get(f"{X}id") == "77"
    # Without that context: the notification's own message id (= the header uid we wrote).
    plain = written(encode(tmp_path, registered, "plain")).find(f"{X}notification")
    assert isinstance(registered.payload, Notification)
    assert plain.get(f"{X}mid") == registered.payload.message_id


def test_a_failure_is_a_negative_acknowledgment_with_its_code(tmp_path: Path) -> None:
    failed = notices()[5]
    ack = written(encode(tmp_path, failed)).find(f"{X}acknowledgment")
    assert ack.findtext(f"{X}accepted") == "false"
    assert ack.findtext(f"{X}comment") == "[delivery.expired] Срок доставки истёк"


def test_a_refusal_outside_the_list_is_written_with_the_general_reason(tmp_path: Path) -> None:
    note = notices()[1].payload
    assert isinstance(note, Notification)
    odd = dataclasses.replace(note, reason="Плохое качество скана", comment=None)
    event = written(encode(tmp_path, Package(odd))).find(f"{X}notification")
    assert event.findtext(f"{X}documentRefused/{X}reason") == "Не подлежит регистрации"
    assert event.findtext(f"{X}comment") == "Плохое качество скана"


def test_version_22_names_signatures_after_their_file_and_drops_what_it_lacks(
    tmp_path: Path,
) -> None:
    first = adapter(tmp_path).decode(SAMPLES / "doc-2.7.1")
    target = encode(tmp_path, first, version="2.2")
    root = written(target)
    assert root.get(f"{X}version") == "2.2"
    assert root.find(f".//{X}signedData") is None
    assert (target / "Распоряжение 112-р.pdf.p7s").read_bytes() == (
        SAMPLES / "doc-2.7.1" / "ЭП Иванов.p7s"
    ).read_bytes()
    assert root.find(f".//{X}addressee").get(f"{X}uid") is None
    assert root.find(f".//{X}deliveryIndex//{X}destination/{X}destination").get(f"{X}uid") == (
        "39b3deb1-9f60-49a5-8fb9-2af8020071ed"
    )
    back = adapter(tmp_path).decode(target).payload
    assert isinstance(back, Document) and isinstance(first.payload, Document)
    assert back.files[1].signature_of == "file-1"
    assert back.addressees == first.payload.addressees
    note = dataclasses.replace(notices()[1].payload, reason="Документ ДСП")  # type: ignore[type-var]
    refused = written(encode(tmp_path, Package(note), "refused", version="2.2"))
    assert refused.findtext(f".//{X}reason") == "Не подлежит регистрации"  # 2.2 lists nine
    assert refused.findtext(f".//{X}comment").startswith("Документ ДСП")  # type: ignore[union-attr]
    assert refused.find(f"{X}notification").get(f"{X}mid") is None


def test_an_organisation_without_a_guid_gets_one_derived_and_loses_it_again(
    tmp_path: Path,
) -> None:
    package = letter(tmp_path / "letter")
    doc = package.payload
    assert isinstance(doc, Document)
    nameless = dataclasses.replace(ROSTOV, uid=None)
    anonymous = dataclasses.replace(
        doc,
        uid="ДЕЛО-4711",  # not a GUID
        sender=nameless,
        signatories=tuple(
            dataclasses.replace(s, person=dataclasses.replace(s.person, organization=nameless))
            for s in doc.signatories
        ),
    )
    target = encode(tmp_path, Package(anonymous, package.files))
    root = written(target)
    assert root.find(f"{X}header/{X}source").get(f"{X}uid") == org_guid(ROSTOV.short_name)
    assert root.find(f"{X}document").get(f"{X}uid") == as_guid("ДЕЛО-4711")
    back = adapter(tmp_path).decode(target).payload
    assert isinstance(back, Document)
    assert back.sender.uid is None
    assert back.uid == as_guid("ДЕЛО-4711") == as_guid("ДЕЛО-4711".strip())


def test_file_names_are_made_unique_and_safe(tmp_path: Path) -> None:
    package = letter(tmp_path / "letter")
    doc = package.payload
    assert isinstance(doc, Document)
    renamed = (
        dataclasses.replace(doc.files[0], name="../../Письмо.pdf"),
        doc.files[1],
        dataclasses.replace(doc.files[2], name="document.xml"),
        doc.files[3],
    )
    extra = dataclasses.replace(doc.files[2], id="file-3", name="письмо.PDF")
    files = dict(package.files) | {"file-3": package.files["file-2"]}
    target = encode(tmp_path, Package(dataclasses.replace(doc, files=(*renamed, extra)), files))
    back = adapter(tmp_path).decode(target).payload
    assert isinstance(back, Document)
    assert [f.name for f in back.files] == [
        "Письмо.pdf",
        "Письмо 61-02-4700.pdf.p7s",
        "document (2).xml",
        "Справка.pdf.p7s",
        "письмо (2).PDF",
    ]
    assert sorted(p.name for p in target.iterdir() if p.parent == target) == sorted(
        [*(f.name for f in back.files), "document.xml", "envelope.ini"]
    )


def test_a_document_that_xdms_cannot_hold_is_refused_when_written(tmp_path: Path) -> None:
    package = letter(tmp_path / "letter")
    doc = package.payload
    assert isinstance(doc, Document)
    for broken, words in [
        (dataclasses.replace(doc, addressees=()), "addressees"),
        (dataclasses.replace(doc, registration=Registration("1" * 40, dt.date(2026, 1, 1))), "31"),
    ]:
        target = tmp_path / words
        target.mkdir()
        with pytest.raises(FormatError) as caught:
            adapter(tmp_path).encode(Package(broken, package.files), target)
        assert caught.value.code == "format.unwritable"
        assert words in caught.value.message


def test_a_notification_without_its_document_cannot_be_written(tmp_path: Path) -> None:
    note = notices()[0].payload
    assert isinstance(note, Notification)
    target = tmp_path / "t"
    target.mkdir()
    with pytest.raises(FormatError) as caught:
        adapter(tmp_path).encode(Package(dataclasses.replace(note, document_uid="")), target)
    assert caught.value.code == "format.unwritable"


def test_long_texts_are_cut_to_what_xdms_allows(tmp_path: Path) -> None:
    package = letter(tmp_path / "letter")
    doc = package.payload
    assert isinstance(doc, Document)
    long = dataclasses.replace(doc, annotation="а" * 5000)
    back = adapter(tmp_path).decode(encode(tmp_path, Package(long, package.files))).payload
    assert isinstance(back, Document) and back.annotation is not None
    assert len(back.annotation) == 4000 and back.annotation.endswith("…")


def test_files_missing_from_the_package_are_named(tmp_path: Path) -> None:
    package = letter(tmp_path / "letter")
    target = tmp_path / "t"
    target.mkdir()
    with pytest.raises(FormatError) as caught:
        adapter(tmp_path).encode(Package(package.payload, {}), target)
    assert caught.value.code == "format.missing_file"
    assert "Письмо 61-02-4700.pdf" in caught.value.message


def test_samples_are_not_modified_by_decoding(tmp_path: Path) -> None:
    copy = tmp_path / "samples"
    shutil.copytree(SAMPLES, copy)
    medo = adapter(tmp_path)
    for folder in sorted(copy.iterdir()):
        before = sorted((p, p.read_bytes()) for p in folder.rglob("*") if p.is_file())
        medo.decode(folder)
        assert sorted((p, p.read_bytes()) for p in folder.rglob("*") if p.is_file()) == before
