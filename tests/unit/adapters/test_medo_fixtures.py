"""Bad and container МЭДО messages for the adapter's tests, built with zipfile in a folder
the test owns: containers as clients write them, and hostile messages with the error code each
must be refused with."""

from __future__ import annotations

import base64
import io
import stat
import warnings
import zipfile
from collections.abc import Iterable
from pathlib import Path

from tests.unit.adapters.test_medo_support import copy_sample, der, pdf

# ---- containers -------------------------------------------------------------------------------

CONTAINER_UID = "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
PASSPORT = """<?xml version="1.0" encoding="utf-8"?>
<c:container xmlns:c="{ns}" c:uid="{uid}" c:version="1.0">
  <c:requisites>
    <c:documentKind c:id="DK00000000">Письмо</c:documentKind>
    <c:classification c:id="DC00000000">Обычная информация</c:classification>
    <c:annotation>О предоставлении сведений о ходе реализации национальных проектов</c:annotation>
  </c:requisites>
  <c:authors>
    <c:author>
      <c:organization><c:title>Министерство цифрового развития Ростовской области</c:title></c:organization>
      <c:registration>
        <c:number>61-02/4700</c:number>
        <c:date>2026-11-20</c:date>
        <c:registrationStamp c:localName="reg_stamp.png">
          <c:position><c:page>1</c:page><c:topLeft><c:x>15</c:x><c:y>63</c:y></c:topLeft>
            <c:dimension><c:w>100</c:w><c:h>14</c:h></c:dimension></c:position>
        </c:registrationStamp>
      </c:registration>
      <c:sign>
        <c:person><c:post>Министр</c:post><c:name>Петров Петр Петрович</c:name></c:person>
        <c:documentSignature c:localName="mainDoc_signature_001.p7s" c:type="Утверждающая"/>
      </c:sign>
    </c:author>
  </c:authors>
  <c:addressees>
    <c:addressee><c:organization><c:title>Минстрой России</c:title></c:organization></c:addressee>
  </c:addressees>
  <c:document c:localName="mainDoc.pdf"><c:pagesQuantity>2</c:pagesQuantity></c:document>
  <c:attachments>
    <c:attachment c:localName="Приложение_001.pdf">
      <c:order>0</c:order>
      <c:description>Сведения о ходе работ</c:description>
      <c:signature c:localName="Приложение_001.pdf.p7s"/>
    </c:attachment>
  </c:attachments>
</c:container>
"""
COVERING = """<?xml version="1.0" encoding="windows-1251"?>
<xdms:communication xmlns:xdms="{ns}" xdms:version="{version}">
  <xdms:header xdms:type="Транспортный контейнер" xdms:uid="5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9" xdms:created="2026-11-20T15:00:00+03:00">
    <xdms:source xdms:uid="a4d5c6b7-1e2f-4a3b-8c9d-0e1f2a3b4c5d">
      <xdms:organization>Министерство цифрового развития Ростовской области</xdms:organization>
    </xdms:source>
  </xdms:header>
  <xdms:container>
    <xdms:body>document.edc.zip</xdms:body>
    {signature}
  </xdms:container>
  <xdms:deliveryIndex>
    <xdms:destination>
      <xdms:destination xdms:uid="39b3deb1-9f60-49a5-8fb9-2af8020071ed">
        <xdms:organization>Минстрой России</xdms:organization>
      </xdms:destination>
    </xdms:destination>
  </xdms:deliveryIndex>
</xdms:communication>
"""


def passport(version: str = "2.7", uid: str = CONTAINER_UID) -> bytes:
    ns = "urn:IEDMS:CONTAINER" if version == "2.7.1" else "http://minsvyaz.ru/container"
    return PASSPORT.format(ns=ns, uid=uid).encode()


def members(version: str = "2.7") -> dict[str, bytes]:
    return {
        "passport.xml": passport(version),
        "mainDoc.pdf": pdf("main document " * 40),
        "mainDoc_signature_001.p7s": der("main"),
        "Приложение_001.pdf": pdf("attachment"),
        "Приложение_001.pdf.p7s": base64.encodebytes(der("attachment")),
        "reg_stamp.png": b"\x89PNG\r\n\x1a\n" + bytes(64),
    }


def container_folder(
    folder: Path,
    *,
    version: str = "2.7",
    entries: Iterable[tuple[str | zipfile.ZipInfo, bytes]] | None = None,
    signed: bool = True,
) -> Path:
    """An МЭДО 2.7 container message as a client writes it (windows-1251 envelope and XML)."""
    folder.mkdir(parents=True)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries if entries is not None else members(version).items():
            archive.writestr(name, data)
    (folder / "document.edc.zip").write_bytes(buffer.getvalue())
    ns = "urn:IEDMS:MESSAGE" if version == "2.7.1" else "http://www.infpres.com/IEDMS"
    signature = "<xdms:signature>containerSign.p7s</xdms:signature>" if signed else ""
    covering = COVERING.format(ns=ns, version=version, signature=signature)
    (folder / "document.xml").write_bytes(covering.encode("cp1251"))
    listed = ["document.edc.zip", "document.xml"] + (["containerSign.p7s"] if signed else [])
    if signed:
        (folder / "containerSign.p7s").write_bytes(der("container"))
    lines = [
        "[ПИСЬМО КП ПС СЗИ]",
        "ТЕМА=ЭСД МЭДО (61-02/4700 от 20.11.2026)",
        "ЭЦП=1",
        "",
        "[АДРЕСАТЫ]",
        "0=MINSTROY~MEDOGU",
        "",
        "[ФАЙЛЫ]",
        *(f"{n}={name}" for n, name in enumerate(listed)),
    ]
    (folder / "envelope.ini").write_bytes("\r\n".join(lines).encode("cp1251"))
    return folder


def link_entry(name: str, target: str = "/etc/passwd") -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info, target.encode()


def without(name: str, version: str = "2.7") -> list[tuple[str | zipfile.ZipInfo, bytes]]:
    return [(n, d) for n, d in members(version).items() if n != name]


# ---- hostile packages ---------------------------------------------------------------------------


def edit(
    folder: Path, old: str, new: str, name: str = "document.xml", encoding: str = "utf-8"
) -> Path:
    path = folder / name
    text = path.read_bytes().decode(encoding)
    assert old in text, old
    path.write_bytes(text.replace(old, new, 1).encode(encoding))
    return folder


def stored_with_bad_crc(folder: Path) -> Path:
    """A container whose main document's bytes differ from the CRC-32 its ZIP states."""
    entries: list[tuple[str | zipfile.ZipInfo, bytes]] = []
    for name, data in members().items():
        info = zipfile.ZipInfo(name, (2026, 11, 20, 12, 0, 0))
        info.compress_type = zipfile.ZIP_STORED
        entries.append((info, data))
    container_folder(folder, entries=entries)
    archive = folder / "document.edc.zip"
    data = bytearray(archive.read_bytes())
    at = data.find(b"main document")
    data[at] ^= 0x20  # one letter's case: same size, other CRC
    archive.write_bytes(bytes(data))
    return folder


def duplicate_names(folder: Path) -> Path:
    entries: list[tuple[str | zipfile.ZipInfo, bytes]] = [*members().items(), ("MAINDOC.PDF", b"x")]
    with warnings.catch_warnings():  # zipfile warns about a duplicate only for equal case
        warnings.simplefilter("ignore")
        return container_folder(folder, entries=entries)


def hostile(root: Path) -> list[tuple[Path, str]]:
    """Bad МЭДО messages, each with the error code it must be refused with."""
    cases: list[tuple[Path, str]] = []

    def sample(name: str, base: str = "doc-2.6") -> Path:
        return copy_sample(base, root / name)

    cases.append(
        (
            edit(
                sample("doctype"),
                '<?xml version="1.0" encoding="utf-8"?>',
                '<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE x [<!ENTITY e "boom">]>',
            ),
            "format.xml",
        )
    )
    cases.append((edit(sample("utf7"), 'encoding="utf-8"', 'encoding="UTF-7"'), "format.encoding"))
    cases.append((edit(sample("broken-xml"), "</xdms:communication>", ""), "format.xml"))
    missing = sample("missing-file")
    (missing / "Схема.tif").unlink()
    cases.append((missing, "format.missing_file"))
    unsigned = sample("missing-signature")
    (unsigned / "Письмо 61-02-4512.pdf.2.p7s").unlink()
    cases.append((unsigned, "format.missing_signature"))
    cases.append(
        (
            edit(
                sample("slip-name"),
                'xdms:localName="Схема.tif"',
                'xdms:localName="../../Схема.tif"',
            ),
            "format.unsafe_name",
        )
    )
    linked = sample("linked-file")
    (linked / "Схема.tif").unlink()
    (linked / "Схема.tif").symlink_to("/etc/passwd")
    cases.append((linked, "format.link"))
    not_signature = sample("not-a-signature")
    (not_signature / "Письмо 61-02-4512.pdf.p7s").write_bytes(pdf("not a signature"))
    cases.append((not_signature, "format.bad_signature"))
    cases.append(
        (
            edit(sample("no-uid"), 'xdms:uid="e4595e23-16f9-4a17-ae0b-e2a2385640d7" ', ""),
            "format.invalid",
        )
    )
    envelope = sample("envelope-encoding")
    (envelope / "envelope.ini").write_bytes(
        b"[\x98\x98]\r\n" + (envelope / "envelope.ini").read_bytes()
    )
    cases.append((envelope, "format.encoding"))
    cases.append(
        (
            edit(sample("not-medo"), "http://www.infpres.com/IEDMS", "urn:example:other"),
            "format.not_medo",
        )
    )
    course = copy_sample("notice-executor-2.6", root / "course-changed")
    edit(course, "<xdms:executorAssigned>", "<xdms:courseChanged>")
    edit(course, "</xdms:executorAssigned>", "</xdms:courseChanged>")
    cases.append((course, "format.unsupported"))
    stray = root / "stray.txt"
    stray.write_text("not a message")
    cases.append((stray, "format.not_medo"))
    cases += hostile_containers(root / "containers")
    return cases


def hostile_containers(root: Path) -> list[tuple[Path, str]]:
    bomb = [*members().items(), ("bomb.pdf", bytes(20 * 1024 * 1024))]
    return [
        (
            container_folder(root / "slip", entries=[*members().items(), ("../evil.pdf", b"x")]),
            "format.zip_slip",
        ),
        (
            container_folder(
                root / "absolute", entries=[*members().items(), ("/tmp/evil.pdf", b"x")]
            ),
            "format.zip_slip",
        ),
        (
            container_folder(
                root / "backslash", entries=[*members().items(), ("..\\evil.pdf", b"x")]
            ),
            "format.zip_slip",
        ),
        (
            container_folder(root / "drive", entries=[*members().items(), ("C:/evil.pdf", b"x")]),
            "format.zip_slip",
        ),
        (
            container_folder(
                root / "link", entries=[*members().items(), link_entry("mainDoc2.pdf")]
            ),
            "format.zip_link",
        ),
        (container_folder(root / "bomb", entries=bomb), "format.zip_bomb"),
        (duplicate_names(root / "duplicate"), "format.zip_duplicate"),
        (
            container_folder(root / "no-passport", entries=without("passport.xml")),
            "format.missing_passport",
        ),
        (container_folder(root / "no-main", entries=without("mainDoc.pdf")), "format.missing_file"),
        (
            container_folder(root / "no-signature", entries=without("mainDoc_signature_001.p7s")),
            "format.missing_signature",
        ),
        (stored_with_bad_crc(root / "bad-crc"), "format.digest_mismatch"),
        (_not_a_zip(container_folder(root / "not-zip")), "format.zip_invalid"),
        (
            _unlink(container_folder(root / "no-container-signature"), "containerSign.p7s"),
            "format.missing_signature",
        ),
    ]


def _not_a_zip(folder: Path) -> Path:
    (folder / "document.edc.zip").write_bytes(pdf("this is not a zip"))
    return folder


def _unlink(folder: Path, name: str) -> Path:
    (folder / name).unlink()
    return folder
