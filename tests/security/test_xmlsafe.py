"""Hostile XML: each attack is refused with its own code, reads nothing, harms nothing."""

from __future__ import annotations

import datetime as dt
import os
import resource
import socket
import threading
import time
from pathlib import Path

import pytest

from gateway import envelope, receipts, xmlsafe
from gateway.errors import XmlSecurityError
from gateway.model import ErrorReport

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<Envelope xmlns="urn:interregional-gateway:1" version="1.0">&lol9;</Envelope>"""


def refused(data: bytes, **kwargs: int) -> XmlSecurityError:
    with pytest.raises(XmlSecurityError) as info:
        xmlsafe.parse(data, **kwargs)
    return info.value


def test_billion_laughs_is_refused_without_expanding() -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    error = refused(BILLION_LAUGHS)
    assert error.code == "xml.entity_forbidden"
    assert time.perf_counter() - started < 1.0
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50_000  # KiB


def test_an_external_entity_does_not_read_a_local_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    xxe = (
        f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file://{secret}">]><r>&x;</r>'
    ).encode()
    error = refused(xxe)
    assert error.code == "xml.entity_forbidden"
    assert "TOP-SECRET" not in str(error)


def _parse_in_thread(data: bytes) -> tuple[threading.Thread, list[BaseException]]:
    caught: list[BaseException] = []

    def run() -> None:
        try:
            xmlsafe.parse(data)
        except BaseException as exc:
            caught.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout=5)
    return thread, caught


def test_an_external_dtd_on_disk_is_never_opened(tmp_path: Path) -> None:
    # A FIFO blocks whoever opens it for reading: if the parser tried, the thread would hang.
    fifo = tmp_path / "external.dtd"
    os.mkfifo(fifo)
    thread, caught = _parse_in_thread(
        f'<?xml version="1.0"?><!DOCTYPE r SYSTEM "{fifo}"><r/>'.encode()
    )
    try:
        assert not thread.is_alive(), "the parser opened the external DTD"
        assert isinstance(caught[0], XmlSecurityError)
        assert caught[0].code == "xml.external_dtd_forbidden"
    finally:
        if thread.is_alive():  # unblock the reader so the test run can end
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))


def test_an_external_dtd_over_the_network_is_never_fetched() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.5)
    port = server.getsockname()[1]
    try:
        for doc in (
            f'<!DOCTYPE r SYSTEM "http://127.0.0.1:{port}/x.dtd"><r/>',
            f'<!DOCTYPE r PUBLIC "-//X//EN" "http://127.0.0.1:{port}/x.dtd"><r/>',
            f'<!DOCTYPE r [<!ENTITY % p SYSTEM "http://127.0.0.1:{port}/p">%p;]><r/>',
        ):
            with pytest.raises(XmlSecurityError) as info:
                xmlsafe.parse(doc.encode())
            assert info.value.code in {"xml.external_dtd_forbidden", "xml.entity_forbidden"}
        with pytest.raises(TimeoutError):
            server.accept()  # nobody connected
    finally:
        server.close()


def _utf7(text: str) -> bytes:
    """Every character in modified base64, as hostile UTF-7 writers do."""
    import base64

    return ("+" + base64.b64encode(text.encode("utf-16-be")).decode().rstrip("=") + "-").encode()


def test_a_doctype_hidden_in_utf7_never_opens_a_file(tmp_path: Path) -> None:
    fifo = tmp_path / "external.dtd"
    os.mkfifo(fifo)
    data = (
        b'<?xml version="1.0" encoding="UTF-7"?>' + _utf7(f'<!DOCTYPE r SYSTEM "{fifo}">') + b"<r/>"
    )
    thread, caught = _parse_in_thread(data)
    try:
        assert not thread.is_alive(), "the parser opened the external DTD"
        assert isinstance(caught[0], XmlSecurityError)
        assert caught[0].code == "xml.encoding_forbidden"
        assert "UTF-7" in caught[0].message
    finally:
        if thread.is_alive():
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))


def test_an_ebcdic_document_is_refused() -> None:
    data = '<?xml version="1.0" encoding="IBM037"?><r/>'.encode("cp037")
    assert refused(data).code == "xml.encoding_forbidden"


@pytest.mark.parametrize("name", ["windows-1251", "KOI8-R", "utf-16", "UTF-8", "ISO-8859-5"])
def test_known_encodings_are_read(name: str) -> None:
    codec = name.replace("_", "-")
    data = f'<?xml version="1.0" encoding="{name}"?><r>письмо</r>'.encode(codec)
    assert xmlsafe.parse(data).text == "письмо"


def test_the_parser_itself_opens_nothing_even_without_the_scan(tmp_path: Path) -> None:
    # Behind the scan: the parser's own settings and resolver must not touch the file either.
    fifo = tmp_path / "external.dtd"
    os.mkfifo(fifo)
    from lxml import etree

    result: list[object] = []

    def run() -> None:
        try:
            result.append(
                etree.fromstring(f'<!DOCTYPE r SYSTEM "{fifo}"><r/>'.encode(), xmlsafe.parser())
            )
        except BaseException as exc:
            result.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout=5)
    try:
        assert not thread.is_alive(), "the parser opened the external DTD"
        root = result[0]
        assert isinstance(root, etree._Element)
        with pytest.raises(XmlSecurityError) as info:
            xmlsafe.refuse_dtd_in(root)  # and the backstop refuses what got through
        assert info.value.code == "xml.doctype_forbidden"
    finally:
        if thread.is_alive():
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))


def test_a_plain_doctype_is_refused() -> None:
    assert refused(b"<!DOCTYPE r><r/>").code == "xml.doctype_forbidden"


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_a_doctype_in_a_wide_encoding_is_refused(codec: str) -> None:
    text = (
        f'<?xml version="1.0" encoding="{codec.upper()}"?><!DOCTYPE r [<!ENTITY x "y">]><r>&x;</r>'
    )
    data = text.encode(codec)
    assert refused(data).code == "xml.entity_forbidden"


def test_an_oversized_document_is_refused_before_parsing() -> None:
    data = b"<r>" + b"x" * (2 * 1024 * 1024) + b"</r>"
    error = refused(data, max_bytes=1024 * 1024)
    assert error.code == "xml.too_large"
    assert "1,048,576" in error.message


def test_the_default_size_cap_is_sixteen_mebibytes() -> None:
    data = b"<r>" + b"x" * xmlsafe.DEFAULT_MAX_BYTES + b"</r>"
    assert refused(data).code == "xml.too_large"


def test_deep_nesting_is_refused() -> None:
    depth = 100_000
    data = b"<a>" * depth + b"</a>" * depth
    error = refused(data)
    assert error.code == "xml.too_deep"


def test_malformed_xml_gets_its_own_code_and_the_position() -> None:
    error = refused(b"<r><a></r>")
    assert error.code == "xml.malformed"
    assert "line 1" in error.message
    assert "\n" not in error.message  # one line, for logs and the CLI


def test_text_is_not_accepted_in_place_of_bytes() -> None:
    with pytest.raises(TypeError):
        xmlsafe.parse("<r/>")  # type: ignore[arg-type]


def test_every_codec_goes_through_the_guard() -> None:
    for decode in (envelope.decode, receipts.decode_receipt, receipts.decode_error, receipts.read):
        with pytest.raises(XmlSecurityError) as info:
            decode(BILLION_LAUGHS)
        assert info.value.code == "xml.entity_forbidden"


def test_the_process_stays_healthy_after_every_attack() -> None:
    attacks = [
        BILLION_LAUGHS,
        b"<!DOCTYPE r><r/>",
        b"<a>" * 5000 + b"</a>" * 5000,
        b"<r><a></r>",
        b"\xff\xfe\x00",
    ]
    for _ in range(50):
        for attack in attacks:
            with pytest.raises(XmlSecurityError):
                xmlsafe.parse(attack)
    report = ErrorReport("xml.malformed", "ok", dt.datetime.now(dt.UTC), "ru-61")
    assert receipts.decode_error(receipts.encode_error(report)) == report


def test_utf8_with_a_byte_order_mark_is_read_and_still_scanned() -> None:
    root = xmlsafe.parse('\ufeff<?xml version="1.0" encoding="utf-8"?><a>письмо</a>'.encode())
    assert root.text == "письмо"
    with pytest.raises(XmlSecurityError) as caught:
        xmlsafe.parse(b"\xef\xbb\xbf<!DOCTYPE a [<!ENTITY x 'y'>]><a>&x;</a>")
    assert caught.value.code in ("xml.doctype_forbidden", "xml.entity_forbidden")
