"""The sev adapter never reads outside a package and never lets a DTD through."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.api import FormatError
from adapters.sev import SevAdapter, SevConfig
from adapters.testing import MemoryContext
from gateway.model import Document

SAMPLES = Path(__file__).parent / "samples" / "sev"
DECLARATION = '<?xml version="1.0" encoding="utf-8"?>'


def make(root: Path) -> SevAdapter:
    return SevAdapter(SevConfig(root / "out", root / "in"), MemoryContext(root / "work"))


def letter(target: Path, xml: str | None = None, *, name: str = "DocInfo.xml") -> Path:
    """A copy of the letter sample, its XML replaced when given."""
    target.mkdir(parents=True)
    for path in (SAMPLES / "letter").iterdir():
        if path.name != "DocInfo.xml":
            (target / path.name).write_bytes(path.read_bytes())
    original = (SAMPLES / "letter" / "DocInfo.xml").read_bytes().decode("utf-8-sig")
    (target / name).write_text(xml if xml is not None else original, encoding="utf-8")
    return target


def sample_xml() -> str:
    return (SAMPLES / "letter" / "DocInfo.xml").read_bytes().decode("utf-8-sig")


def refused(adapter: SevAdapter, source: Path) -> FormatError:
    with pytest.raises(FormatError) as caught:
        adapter.decode(source)
    return caught.value


@pytest.mark.parametrize(
    ("doctype", "code"),
    [
        ("<!DOCTYPE DocInfo>", "xml.doctype_forbidden"),
        (
            '<!DOCTYPE DocInfo [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>',
            "xml.entity_forbidden",
        ),
        ('<!DOCTYPE DocInfo [<!ENTITY x SYSTEM "file:///etc/passwd">]>', "xml.entity_forbidden"),
        ('<!DOCTYPE DocInfo SYSTEM "http://example.org/evil.dtd">', "xml.external_dtd_forbidden"),
    ],
)
def test_a_doctype_is_refused_with_a_clear_code(tmp_path: Path, doctype: str, code: str) -> None:
    xml = sample_xml().replace(DECLARATION, DECLARATION + doctype)
    problem = refused(make(tmp_path), letter(tmp_path / "p", xml))

    assert problem.code == code
    assert "DocInfo.xml" in problem.message
    assert "without a DOCTYPE" in problem.message


def test_a_resource_outside_the_package_is_never_opened(tmp_path: Path) -> None:
    secret = tmp_path / "secret.pdf"
    secret.write_bytes(b"not for the gateway")
    for n, name in enumerate(["../secret.pdf", "../../etc/passwd", str(secret)]):
        xml = sample_xml().replace('UniqueName="Письмо_01-12-345.pdf"', f'UniqueName="{name}"')
        problem = refused(make(tmp_path), letter(tmp_path / f"p{n}", xml))

        assert problem.code == "format.unsafe_name"
        assert repr(name) in problem.message
        assert "Header/ResourceList/Resource[1]/@UniqueName" in problem.message


def test_links_are_refused_for_resources_the_message_and_the_package(tmp_path: Path) -> None:
    outside = tmp_path / "outside.pdf"
    outside.write_bytes(b"%PDF outside")
    linked = letter(tmp_path / "resource-link")
    (linked / "Письмо_01-12-345.pdf").unlink()
    (linked / "Письмо_01-12-345.pdf").symlink_to(outside)
    assert refused(make(tmp_path), linked).code == "format.unsafe_name"

    message_link = letter(tmp_path / "message-link")
    (message_link / "DocInfo.xml").rename(tmp_path / "elsewhere.xml")
    (message_link / "DocInfo.xml").symlink_to(tmp_path / "elsewhere.xml")
    assert refused(make(tmp_path), message_link).code == "format.unsafe_name"

    (tmp_path / "package-link").symlink_to(letter(tmp_path / "real"))
    assert refused(make(tmp_path), tmp_path / "package-link").code == "format.unsafe_name"


def test_a_byte_order_mark_is_read_unless_it_contradicts_the_declaration(tmp_path: Path) -> None:
    adapter = make(tmp_path)
    assert (SAMPLES / "letter" / "DocInfo.xml").read_bytes().startswith(b"\xef\xbb\xbf")
    assert isinstance(adapter.decode(SAMPLES / "letter").payload, Document)

    lying = letter(tmp_path / "lying")
    xml = sample_xml().replace('encoding="utf-8"', 'encoding="windows-1251"')
    (lying / "DocInfo.xml").write_bytes(b"\xef\xbb\xbf" + xml.encode("utf-8"))
    assert refused(adapter, lying).code == "xml.encoding_forbidden"

    utf16 = letter(tmp_path / "utf16")
    (utf16 / "DocInfo.xml").write_bytes(sample_xml().replace("utf-8", "utf-16").encode("utf-16"))
    assert isinstance(adapter.decode(utf16).payload, Document)


def test_an_oversized_message_is_refused_before_parsing(tmp_path: Path) -> None:
    xml = sample_xml().replace("<Note>", "<Note>" + "Ж" * (9 * 1024 * 1024))
    assert refused(make(tmp_path), letter(tmp_path / "big", xml)).code == "xml.too_large"


def test_the_message_is_found_among_other_xml_files(tmp_path: Path) -> None:
    package = letter(tmp_path / "p", name="8D1B6E2C-4F0A-4C51-9B7E-2A6D3F19C0E4.xml")
    message = package / "8D1B6E2C-4F0A-4C51-9B7E-2A6D3F19C0E4.xml"
    message.write_bytes(b"\xef\xbb\xbf" + message.read_bytes())  # as EOS tools write it
    (package / "данные.xml").write_text("<?xml version='1.0'?><Данные/>", encoding="utf-8")
    (package / "с-доктайпом.xml").write_text("<!DOCTYPE html><html/>", encoding="utf-8")

    doc = make(tmp_path).decode(package).payload

    assert isinstance(doc, Document) and doc.uid == "C6E81F03-9A2B-4D57-8E40-7B1F25A3D9C8"


def test_an_xml_file_that_is_not_sev_says_what_a_package_is(tmp_path: Path) -> None:
    path = tmp_path / "message.xml"
    path.write_text("<?xml version='1.0'?><communication/>", encoding="utf-8")

    problem = refused(make(tmp_path), path)

    assert problem.code == "format.not_sev"
    assert "DocInfo.xml" in problem.message and "http://www.eos.ru/2010/sev" in problem.message


def test_a_lone_xml_file_cannot_name_files(tmp_path: Path) -> None:
    path = tmp_path / "DocInfo.xml"
    path.write_text(sample_xml(), encoding="utf-8")

    problem = refused(make(tmp_path), path)

    assert problem.code == "format.missing_file"
    assert "lone XML file" in problem.message
