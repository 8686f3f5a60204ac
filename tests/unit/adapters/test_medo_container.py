"""The 2.7 transport container: what a passport becomes, and the ZIP checks that come first."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import struct
import zipfile
from pathlib import Path

import pytest

from adapters.api import FormatError, Package
from adapters.medo.container import UNPACKED, remove_scratch, scratch
from gateway.model import Document, FileRole, Organization, Person, Registration
from tests.unit.adapters.test_medo_fixtures import (
    CONTAINER_UID,
    container_folder,
    hostile_containers,
    members,
)
from tests.unit.adapters.test_medo_support import adapter, letter, tree


def test_a_container_becomes_the_document_its_passport_describes(tmp_path: Path) -> None:
    folder = container_folder(tmp_path / "inbox" / "msg")
    package = adapter(tmp_path).decode(folder)
    doc = package.payload
    assert isinstance(doc, Document)
    rostov = Organization(
        "Министерство цифрового развития Ростовской области",
        uid="a4d5c6b7-1e2f-4a3b-8c9d-0e1f2a3b4c5d",
    )
    assert doc.uid == CONTAINER_UID
    assert doc.kind == "Письмо"
    assert doc.sender == rostov
    assert doc.registration == Registration("61-02/4700", dt.date(2026, 11, 20))
    assert doc.signatories[0].person == Person(rostov, name="Петров Петр Петрович", post="Министр")
    # The addressee's GUID comes from the covering message's delivery index.
    assert doc.addressees == (
        Person(Organization("Минстрой России", uid="39b3deb1-9f60-49a5-8fb9-2af8020071ed")),
    )
    assert doc.pages == 2
    assert [(f.name, f.role, f.signature_of) for f in doc.files] == [
        ("mainDoc.pdf", FileRole.MAIN, None),
        ("mainDoc_signature_001.p7s", FileRole.SIGNATURE, "file-1"),
        ("Приложение_001.pdf", FileRole.ATTACHMENT, None),
        ("Приложение_001.pdf.p7s", FileRole.SIGNATURE, "file-2"),
        ("reg_stamp.png", FileRole.ATTACHMENT, None),
    ]
    assert doc.files[4].description == "Штамп регистрации"
    assert package.context["medo.container"] == "true"
    assert package.context["medo.header_uid"] == "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9"
    # Extracted into a scratch folder next to the message, never into or beside other items.
    for path in package.files.values():
        assert path.parent.name == UNPACKED
        assert path.parent.parent.parent == folder.parent
        assert path.parent.parent.name.startswith(".msg.medo-")
    # base64 signatures are carried as they are
    assert package.files["file-2-sig-1"].read_bytes() == members()["Приложение_001.pdf.p7s"]
    remove_scratch(folder)
    assert sorted(p.name for p in folder.parent.iterdir()) == ["msg"]


@pytest.mark.parametrize("index", range(13))
def test_a_refused_container_leaves_nothing_written(tmp_path: Path, index: int) -> None:
    medo = adapter(tmp_path)
    cases = hostile_containers(tmp_path / "cases")
    folder, code = cases[index]
    before = tree(tmp_path)
    with pytest.raises(FormatError) as caught:
        medo.decode(folder)
    assert caught.value.code == code
    assert tree(tmp_path) == before, "a refused container must leave no file behind"


def test_a_zip_larger_than_allowed_is_refused_before_reading(tmp_path: Path) -> None:
    big = [*members().items(), ("scan.pdf", bytes(300_000))]
    folder = container_folder(tmp_path / "msg", entries=big)
    with pytest.raises(FormatError) as caught:
        adapter(tmp_path, max_container_bytes=200_000).decode(folder)
    assert caught.value.code == "format.zip_bomb"
    assert "200,000" in caught.value.message
    adapter(tmp_path).decode(folder)  # within the default limit


def test_the_expansion_ratio_is_configurable(tmp_path: Path) -> None:
    folder = container_folder(
        tmp_path / "msg", entries=[*members().items(), ("z.pdf", bytes(3 << 20))]
    )
    adapter(tmp_path, max_expansion_ratio=5000.0).decode(folder)
    with pytest.raises(FormatError) as caught:
        adapter(tmp_path).decode(folder)
    assert caught.value.code == "format.zip_bomb"


def _declare(data: bytearray, name: bytes, extra: int) -> None:
    """Make the entry ``name`` declare ``extra`` bytes more than it holds, in both headers."""
    for signature, name_at, size_at in ((b"PK\x03\x04", 30, 22), (b"PK\x01\x02", 46, 24)):
        at = data.find(signature)
        while at >= 0:
            if data[at + name_at : at + name_at + len(name)] == name:
                size = struct.unpack_from("<I", data, at + size_at)[0]
                struct.pack_into("<I", data, at + size_at, size + extra)
            at = data.find(signature, at + 4)


def test_an_entry_holding_less_than_it_declares_is_refused(tmp_path: Path) -> None:
    folder = container_folder(tmp_path / "msg")
    archive = folder / "document.edc.zip"
    data = bytearray(archive.read_bytes())
    _declare(data, b"mainDoc.pdf", 1000)
    archive.write_bytes(bytes(data))
    medo = adapter(tmp_path)
    before = tree(tmp_path)
    with pytest.raises(FormatError) as caught:
        medo.decode(folder)
    assert caught.value.code == "format.zip_size"
    assert tree(tmp_path) == before


def test_names_without_the_utf8_flag_are_read_as_russian_windows_writes_them(
    tmp_path: Path,
) -> None:
    # Windows' own zip writes names in the OEM code page (cp866) without the UTF-8 flag;
    # zipfile would flag any non-ASCII name, so the names are patched in afterwards.
    russian = "Приложение_001.pdf"
    placeholder = "X" * len("Приложение") + "_001.pdf"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members().items():
            archive.writestr(name.replace(russian, placeholder), data)
    raw = buffer.getvalue().replace(placeholder.encode(), russian.encode("cp866"))
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        assert not any(i.flag_bits & 0x800 for i in archive.infolist())
    folder = container_folder(tmp_path / "msg")
    (folder / "document.edc.zip").write_bytes(raw)
    doc = adapter(tmp_path).decode(folder).payload
    assert isinstance(doc, Document)
    assert [f.name for f in doc.files][2:4] == [russian, russian + ".p7s"]


def test_a_container_is_written_with_a_passport_and_read_back(tmp_path: Path) -> None:
    package = letter(tmp_path / "letter", links=False)
    for version, ns in (("2.7", "http://minsvyaz.ru/container"), ("2.7.1", "urn:IEDMS:CONTAINER")):
        target = tmp_path / version
        target.mkdir()
        adapter(tmp_path, version=version, container=True).encode(package, target)
        assert sorted(p.name for p in target.iterdir()) == [
            "document.edc.zip",
            "document.xml",
            "envelope.ini",
        ]
        with zipfile.ZipFile(target / "document.edc.zip") as archive:
            assert archive.namelist() == [
                "passport.xml",
                "Письмо 61-02-4700.pdf",
                "Письмо 61-02-4700.pdf.p7s",
                "Справка.pdf",
                "Справка.pdf.p7s",
            ]
            assert ns.encode() in archive.read("passport.xml")
            assert archive.read("Справка.pdf") == package.files["file-2"].read_bytes()
        assert "Транспортный контейнер".encode() in (target / "document.xml").read_bytes()
        back = adapter(tmp_path).decode(target).payload
        assert isinstance(back, Document) and isinstance(package.payload, Document)
        assert [f.sha256 for f in back.files] == [f.sha256 for f in package.payload.files]


def test_a_document_without_a_main_text_is_written_as_a_plain_message(tmp_path: Path) -> None:
    package = letter(tmp_path / "letter")
    doc = package.payload
    assert isinstance(doc, Document)
    attachments_only = Package(
        dataclasses.replace(doc, files=tuple(f for f in doc.files if f.id.startswith("file-2"))),
        package.files,
    )
    target = tmp_path / "out"
    target.mkdir()
    adapter(tmp_path, version="2.7.1", container=True).encode(attachments_only, target)
    assert not (target / "document.edc.zip").exists()
    assert (target / "Справка.pdf").is_file()


def test_scratch_removal_touches_only_the_items_own_folders(tmp_path: Path) -> None:
    item, other = tmp_path / "a[1]", tmp_path / "a[1].medo-x"
    item.mkdir()
    other.mkdir()
    mine, theirs = scratch(item), scratch(other)
    assert mine.name.startswith(".a[1].medo-") and (mine / UNPACKED).is_dir()
    remove_scratch(item)
    assert not mine.exists()
    assert theirs.exists(), "another item's scratch folder is left alone"
