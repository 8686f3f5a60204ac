"""The sev adapter's Reports: refusals to the closed list, and replies that find their document."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
from lxml import etree

from adapters.api import Package
from adapters.reasons import DEFAULT, REASONS
from adapters.sev import SevAdapter, SevConfig
from adapters.testing import MemoryContext, outgoing
from gateway.model import Notification, NotificationKind, Organization, Registration

SAMPLES = Path(__file__).parent / "samples" / "sev"
NS = {"s": "http://www.eos.ru/2010/sev"}
T = dt.datetime(2026, 11, 21, 7, 15, tzinfo=dt.UTC)
NOTICE = Notification(
    NotificationKind.REGISTERED,
    "doc-1",
    "gw-msg-1",
    T,
    registration=Registration("14-07/1002", dt.date(2026, 11, 21)),
)
# What the gateway kept when ДЕЛО sent the document (see test_sev_documents.py).
KEPT = {
    "sev.return_id": "F3A90C1E-77B2-4E0D-A5C8-61D2E4B7F905",
    "sev.message_id": "8D1B6E2C-4F0A-4C51-9B7E-2A6D3F19C0E4",
    "sev.number": "01-12/345",
    "sev.date": "2026-11-20",
    "sev.group": "Письмо",
    "sev.sender_name": "Минэкономразвития Ростовской области",
    "sev.sender_uid": "0A7C3E51-2B94-4D6F-8E13-C5F0A9B2D746",
}


def make(root: Path, **options: float) -> SevAdapter:
    config = SevConfig(root / "out", root / "in", **options)  # type: ignore[arg-type]
    return SevAdapter(config, MemoryContext(root / "work"))


def report(folder: Path, failure: str, code: str) -> Path:
    """The refused sample with another Failure."""
    text = (SAMPLES / "refused-report.xml").read_text(encoding="utf-8")
    start, end = text.index("<Failure"), text.index("</Failure>") + len("</Failure>")
    path = folder / f"report-{code}.xml"
    path.write_text(
        f'{text[:start]}<Failure Code="{code}">{failure}</Failure>{text[end:]}', encoding="utf-8"
    )
    return path


def written(adapter: SevAdapter, package: Package, target: Path) -> etree._Element:
    target.mkdir(parents=True)
    adapter.encode(package, target)
    return etree.parse(str(target / "Report.xml")).getroot()


def test_a_free_text_refusal_maps_to_the_closed_list_and_keeps_the_original(
    tmp_path: Path,
) -> None:
    notice = make(tmp_path).decode(SAMPLES / "refused-report.xml").payload

    assert isinstance(notice, Notification)
    assert notice.kind is NotificationKind.REFUSED
    assert notice.reason == "Документ неверно адресован"
    assert notice.comment == (
        "Документ неверно адресован: вопрос в ведении Министерства экономики РС(Я) (код 39)"
    )
    assert notice.document_uid == "1D4B8F27-60C3-4E9A-B5D1-7F28E0A6C394"
    assert notice.message_id == "0c8e5a71-94b2-4f3d-b6e0-2a19d7c4f856"  # Header/@ReturnID
    assert notice.author is not None and notice.author.inn == "1435000315"


@pytest.mark.parametrize(
    ("failure", "code", "reason", "comment"),
    [
        (
            "Просим направить оригинал почтой",
            "12",
            DEFAULT,
            "Просим направить оригинал почтой (код 12)",
        ),
        ("нет  подписи", "39", "Нет подписи", "нет  подписи (код 39)"),
        ("Нет подписи", "6", "Нет подписи", None),  # exactly what the gateway writes
        ("Нет подписи: на приложении", "6", "Нет подписи", "на приложении"),
        ("Нет подписи: на приложении", "7", "Нет подписи", "Нет подписи: на приложении (код 7)"),
        (
            "[routing.unknown_recipient] чужой",
            "39",
            DEFAULT,
            "[routing.unknown_recipient] чужой (код 39)",
        ),
    ],
)
def test_failure_codes_and_texts(
    tmp_path: Path, failure: str, code: str, reason: str, comment: str | None
) -> None:
    notice = make(tmp_path).decode(report(tmp_path, failure, code)).payload

    assert isinstance(notice, Notification)
    assert (notice.kind, notice.reason, notice.comment) == (
        NotificationKind.REFUSED,
        reason,
        comment,
    )


def test_a_refusal_is_written_with_the_reason_and_its_place_in_the_list(tmp_path: Path) -> None:
    refused = dataclasses.replace(
        NOTICE,
        kind=NotificationKind.REFUSED,
        registration=None,
        reason="Отсутствует текст",
        comment="Файл пуст",
    )
    tree = written(make(tmp_path), Package(refused), tmp_path / "out")

    failure = tree.find("s:Notification/s:Failure", NS)
    assert failure is not None
    assert failure.text == "Отсутствует текст: Файл пуст"
    assert failure.get("Code") == str(REASONS.index("Отсутствует текст") + 1)
    assert tree.find("s:Header", NS).get("MessageType") == "Failure"  # type: ignore[union-attr]


def test_not_delivered_is_a_failure_with_the_gateway_error_code(tmp_path: Path) -> None:
    failed = Notification(
        NotificationKind.FAILED,
        "doc-1",
        "gw-msg-1",
        T,
        error_code="delivery.expired",
        comment="Срок доставки истёк",
    )
    adapter = make(tmp_path)
    tree = written(adapter, Package(failed), tmp_path / "out")

    failure = tree.find("s:Notification/s:Failure", NS)
    assert failure is not None
    assert (failure.text, failure.get("Code")) == ("[delivery.expired] Срок доставки истёк", "0")
    # The gateway itself is the sender of its own notice.
    sender = tree.findtext("s:Header/s:Sender/s:Contact/s:Organization/s:ShortName", namespaces=NS)
    assert sender == SevConfig.organization
    back = adapter.decode(tmp_path / "out").payload
    assert back == dataclasses.replace(failed, author=Organization(SevConfig.organization))


def test_a_report_to_dело_carries_the_return_id_dело_gave_its_document(tmp_path: Path) -> None:
    adapter = make(tmp_path)
    tree = written(adapter, Package(NOTICE, context=KEPT), tmp_path / "out")

    header = tree.find("s:Header", NS)
    assert header is not None
    assert header.get("ReturnID") == KEPT["sev.return_id"]
    assert header.get("MessageType") == "Report"
    initial = tree.find("s:Notification/s:InitialDoc", NS)
    assert initial is not None
    assert initial.get("UID") == "doc-1"
    assert [initial.findtext(f"s:{n}", namespaces=NS) for n in ("Number", "Date", "Group")] == [
        "01-12/345",
        "2026-11-20",
        "Письмо",
    ]
    recipient = tree.find("s:Header/s:Recipient/s:Contact/s:Organization", NS)
    assert recipient is not None and recipient.get("UID") == KEPT["sev.sender_uid"]
    # The receiver's registration, where ДЕЛО looks for it.
    held = tree.find("s:DocumentList/s:Document", NS)
    assert held is not None and held.findtext("s:RegistrationInfo/s:Number", namespaces=NS) == (
        "14-07/1002"
    )
    # Read back, the report names the ДЕЛО ReturnID as the message it answers.
    back = adapter.decode(tmp_path / "out").payload
    assert isinstance(back, Notification) and back.message_id == KEPT["sev.return_id"]


def test_without_a_kept_return_id_the_report_names_the_gateway_message(tmp_path: Path) -> None:
    tree = written(make(tmp_path), Package(NOTICE), tmp_path / "out")

    header = tree.find("s:Header", NS)
    assert header is not None and header.get("ReturnID") == "gw-msg-1"
    assert tree.findtext("s:Notification/s:InitialDoc/s:Number", namespaces=NS) == ""


async def test_export_writes_the_report_into_dело_incoming_folder(tmp_path: Path) -> None:
    adapter = make(tmp_path)
    item = outgoing(Package(NOTICE, context=KEPT))

    said = await adapter.export(item)
    again = await adapter.export(item)

    folder = tmp_path / "in" / item.message.message_id
    assert said == f"ДЕЛО folder {folder}"
    assert again == f"already in ДЕЛО folder {folder}"
    assert [p.name for p in folder.iterdir()] == ["Report.xml"]
    header = etree.parse(str(folder / "Report.xml")).getroot().find("s:Header", NS)
    assert header is not None
    assert header.get("MessageID") == item.message.message_id
    assert header.get("ReturnID") == KEPT["sev.return_id"]
    assert [p.name for p in (tmp_path / "in").iterdir()] == [item.message.message_id]
    await adapter.close()


def test_a_dело_registration_report_in_windows_1251(tmp_path: Path) -> None:
    package = make(tmp_path).decode(SAMPLES / "registered")
    notice = package.payload

    assert isinstance(notice, Notification)
    assert notice.kind is NotificationKind.REGISTERED
    assert notice.message_id == "b4f1c9e2-3d57-4a86-9f20-6e8d1a7c5b34"
    assert notice.registration == Registration("14-07/1002", dt.date(2026, 11, 21))
    assert notice.comment == "Передано на рассмотрение заместителю министра"
    # Registration/@SystemDate has no offset: Header/@TimeZone (hours) says Yakutsk time.
    assert notice.time == dt.datetime(2026, 11, 21, 1, 14, 58, tzinfo=dt.UTC)
    assert notice.author is not None and notice.author.short_name == "Минэкономики РС(Я)"
    assert package.context["sev.number"] == "01-12/345"
    assert package.files == {}


@pytest.mark.parametrize(
    ("zone", "offset", "hours"), [(None, 3.0, 3), (None, 9.0, 9), ("540", 3.0, 9), ("-2", 3.0, -2)]
)
def test_times_without_an_offset_are_read_on_dело_clock(
    tmp_path: Path, zone: str | None, offset: float, hours: int
) -> None:
    text = (SAMPLES / "refused-report.xml").read_text(encoding="utf-8")
    text = text.replace(
        'Time="2026-11-21T11:02:19+09:00"',
        'Time="2026-11-21T11:02:19"' + (f' TimeZone="{zone}"' if zone else ""),
    ).replace('<Failure Code="39">', "<Reception>2026-11-21T11:00:00</Reception><Unused>")
    path = tmp_path / "received.xml"
    path.write_text(text.replace("</Failure>", "</Unused>"), encoding="utf-8")

    notice = make(tmp_path, utc_offset=offset).decode(path).payload

    assert isinstance(notice, Notification) and notice.kind is NotificationKind.RECEIVED
    local = dt.timezone(dt.timedelta(hours=hours))
    assert notice.time == dt.datetime(2026, 11, 21, 11, 0, tzinfo=local)


@pytest.mark.parametrize(
    ("kind", "element", "message_type"),
    [
        (NotificationKind.RECEIVED, "Reception", "Reception"),
        (NotificationKind.REGISTERED, "Registration", "Report"),
        (NotificationKind.EXECUTOR_ASSIGNED, "Consideration", "Report"),
        (NotificationKind.ANSWERED, "Answer", "Report"),
    ],
)
def test_each_event_has_its_element(
    tmp_path: Path, kind: NotificationKind, element: str, message_type: str
) -> None:
    notice = dataclasses.replace(NOTICE, kind=kind, comment="Примечание")
    tree = written(make(tmp_path), Package(notice), tmp_path / "out")

    events = [etree.QName(e).localname for e in tree.find("s:Notification", NS)]  # type: ignore[union-attr]
    assert events == ["InitialDoc", element]
    assert tree.find("s:Header", NS).get("MessageType") == message_type  # type: ignore[union-attr]
    assert tree.findtext("s:DocumentList/s:Document/s:Note", namespaces=NS) == "Примечание"
