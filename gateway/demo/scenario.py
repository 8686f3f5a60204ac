"""What the demo plays: five letters across the network and the answers to them.

1. Rostov (ДЕЛО) → Sakha (drop folder): a letter; Sakha registers it.
2. Sakha (drop folder) → Tatarstan (REST): a letter; Tatarstan registers it over REST.
3. Tatarstan (REST) → Rostov (ДЕЛО): a letter; ДЕЛО registers it with a СЭВ Report.
4. Rostov (ДЕЛО) → the federal ministry (МЭДО): a quarterly report; МЭДО registers it.
5. Sakha (drop folder) → the federal ministry (МЭДО): a report the ministry refuses, with a
   reason from the closed МЭДО list; the refusal reaches Sakha's folder.

Each letter carries its text, an attachment and the official's detached CMS signature of the
text (made with the sender's demo key; the gateways carry it untouched). Every step waits for
the real effect — a file in the recipient's folder, a message in its REST inbox — and reports
progress as it happens.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from adapters.api import Package
from adapters.filerefs import describe
from adapters.filesystem.sidecar import parse_data
from gateway.crypto import CmsSigner
from gateway.demo import locals as systems
from gateway.demo.network import MINSTROY, ROSTOV, SAKHA, TATARSTAN, DemoNetwork
from gateway.model import (
    Document,
    FileRole,
    Notification,
    NotificationKind,
    Organization,
    Person,
    Registration,
    Signatory,
)

STEP_TIMEOUT = 90.0  # seconds for one hop; on this machine each takes well under a second


@dataclass
class Letter:
    """One letter of the scenario and what became of it."""

    key: str
    sender: str  # participant ids
    recipient: str
    number: str
    title: str
    document: Document
    package: Package
    answer: str  # "registered" or "refused"
    answer_number: str = ""  # the recipient's registration number
    reason: str = ""
    comment: str = ""
    message_id: str = ""  # as it arrived at the recipient
    arrived: bool = False
    answered: bool = False  # the notification reached the sender's local system
    outcome: str = ""  # what the sender's system learnt, in words
    events: list[str] = field(default_factory=list)


Progress = Callable[[str], None]


def _letter_files(folder: Path, number: str, title: str, signer: CmsSigner) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    text = folder / "Письмо.txt"
    text.write_text(
        f"Исх. № {number} от {dt.date.today():%d.%m.%Y}\n\n{title}\n\n"
        "Направляем для рассмотрения. Приложение: на 1 л. в 1 экз.\n",
        encoding="utf-8",
    )
    annex = folder / "Приложение 1.csv"
    annex.write_text("Показатель;Значение\nОбъектов;17\nОсвоено, %;82,4\n", encoding="utf-8")
    sig = folder / "Письмо.txt.sig"
    sig.write_bytes(signer.sign(text.read_bytes()))
    return {"main": text, "annex": annex, "main-sig": sig}


def _document(uid: str, kind: str, number: str, title: str, sender: Organization,
              recipient: Organization, files: dict[str, Path]) -> Document:  # fmt: skip
    refs = (
        describe(files["main"], id="main", role=FileRole.MAIN, media="text/plain"),
        describe(files["annex"], id="annex", role=FileRole.ATTACHMENT, media="text/csv"),
        describe(files["main-sig"], id="main-sig", role=FileRole.SIGNATURE,
                 media="application/pkcs7-signature", signature_of="main"),
    )  # fmt: skip
    today = dt.datetime.now(dt.UTC).date()
    return Document(
        uid=uid,
        kind=kind,
        sender=sender,
        registration=Registration(number, today),
        title=title,
        annotation=title,
        signatories=(Signatory(Person(sender, name="Иванов И. И.", post="Министр"), today),),
        addressees=(Person(recipient, name="Петров П. П.", post="Министр"),),
        pages=1,
        files=refs,
    )


ORGS = {"ru-61": ROSTOV, "ru-14": SAKHA, "ru-16": TATARSTAN, "fed-minstroy": MINSTROY}


def letters(network: DemoNetwork) -> list[Letter]:
    keys = network.root / "network" / "keys"
    signers = {pid: CmsSigner.from_files(keys / f"{pid}.pem", keys / f"{pid}.key")
               for pid in ORGS}  # fmt: skip
    plan = [
        ("flood", "ru-61", "ru-14", "Письмо", "61-03/2215",
         "О подготовке к паводковому периоду 2027 года", "registered", "14-01/0871", "", ""),
        ("bim", "ru-14", "ru-16", "Письмо", "14-05/1130",
         "Об обмене опытом применения технологий информационного моделирования",
         "registered", "16-02/4410", "", ""),
        ("meeting", "ru-16", "ru-61", "Письмо", "16-07/559",
         "О проведении межрегионального совещания по капитальному ремонту", "registered",
         "61-вх/3307", "", ""),
        ("report", "ru-61", "fed-minstroy", "Доклад", "61-01/2290",
         "Доклад о ходе реализации региональной программы капитального ремонта "
         "за III квартал 2026 года", "registered", "ФМ-12345/06", "", ""),
        ("subsidy", "ru-14", "fed-minstroy", "Отчёт", "14-01/1201",
         "Отчёт об использовании субсидии на переселение из аварийного жилья", "refused", "",
         "Отсутствует приложение, указанное в документе",
         "В отчёте указано приложение на 12 л.; оно не поступило"),
    ]  # fmt: skip
    out = []
    for key, sender, recipient, kind, number, title, answer, answer_no, reason, comment in plan:
        files = _letter_files(network.root / "letters" / key, number, title, signers[sender])
        document = _document(systems.new_uid(), kind, number, title, ORGS[sender],
                             ORGS[recipient], files)  # fmt: skip
        package = Package(document, files)
        out.append(Letter(key, sender, recipient, number, title, document, package, answer,
                          answer_no, reason, comment))  # fmt: skip
    return out


async def play(network: DemoNetwork, plan: list[Letter], progress: Progress) -> None:
    """Send every letter, let each recipient answer, and wait until every answer is home."""
    local = systems.LocalSystems(network)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        for letter in plan:
            await _send(local, session, letter)
            progress(f"{letter.number}: {letter.sender} → {letter.recipient} sent")
        await _until(lambda: _arrivals(local, session, plan, progress), plan, "arrive")
        for letter in plan:
            await _answer(local, session, letter)
            word = "registered" if letter.answer == "registered" else "refused"
            progress(f"{letter.number}: {letter.recipient} {word} it")
        await _until(lambda: _answers(local, session, plan, progress), plan, "be answered")


async def _send(local: systems.LocalSystems, session: aiohttp.ClientSession,
                letter: Letter) -> None:  # fmt: skip
    if letter.sender == "ru-61":
        local.delo.put(letter.package, f"pkg-{letter.key}")
    elif letter.sender == "ru-14":
        local.drop.put(letter.package, f"letter-{letter.key}")
    elif letter.sender == "ru-16":
        await local.rest.send(session, letter.package)
    else:
        raise ValueError(f"no local system sends for {letter.sender}")


async def _until(
    check: Callable[[], Awaitable[bool]], plan: list[Letter], what: str
) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + STEP_TIMEOUT
    while True:
        if await check():
            return
        if loop.time() > end:
            late = [f"{p.number} ({p.sender} → {p.recipient})" for p in plan
                    if not (p.arrived if what == "arrive" else p.answered)]  # fmt: skip
            raise TimeoutError(
                f"after {STEP_TIMEOUT:.0f} s these letters did not {what}: {', '.join(late)}"
            )
        await asyncio.sleep(0.2)


def _by_uid(plan: list[Letter], uid: str | None) -> Letter | None:
    return next((p for p in plan if p.document.uid == uid), None)


async def _arrivals(local: systems.LocalSystems, session: aiohttp.ClientSession,
                    plan: list[Letter], progress: Progress) -> bool:  # fmt: skip
    found: list[tuple[str, Document | Notification]] = []
    for system in (local.delo, local.drop, local.medo):
        found += [(name, package.payload) for name, package in system.arrived()]
    for message_id, detail in await local.rest.arrived(session):
        uid = (detail.get("document") or {}).get("uid")
        letter = _by_uid(plan, uid)
        if letter is not None:
            found.append((message_id, letter.document))
    for message_id, payload in found:
        if isinstance(payload, Document) and (letter := _by_uid(plan, payload.uid)):
            letter.message_id, letter.arrived = message_id, True
            progress(f"{letter.number}: arrived at {letter.recipient}")
        elif isinstance(payload, Notification):
            _note_home(plan, payload, progress)
    return all(p.arrived for p in plan)


async def _answer(local: systems.LocalSystems, session: aiohttp.ClientSession,
                  letter: Letter) -> None:  # fmt: skip
    author = ORGS[letter.recipient]
    if letter.answer == "registered":
        note = systems.registration_note(letter.document, letter.message_id,
                                         letter.answer_number, author)  # fmt: skip
    else:
        note = systems.refusal_note(letter.document, letter.message_id, letter.reason,
                                    letter.comment, author)  # fmt: skip
    name = f"note-{letter.key}"
    if letter.recipient == "ru-61":
        local.delo.put(Package(note), name)
    elif letter.recipient == "ru-14":
        local.drop.put(Package(note), name)
    elif letter.recipient == "ru-16":
        await local.rest.report(session, note)
    else:
        local.medo.put(Package(note), name)


def _note_home(plan: list[Letter], note: Notification, progress: Progress) -> None:
    letter = _by_uid(plan, note.document_uid)
    if letter is None or letter.answered:
        return
    letter.answered = True
    if note.kind is NotificationKind.REGISTERED and note.registration is not None:
        letter.outcome = f"registered as № {note.registration.number}"
    elif note.kind is NotificationKind.REFUSED:
        letter.outcome = f"refused: {note.reason}"
    else:
        letter.outcome = note.kind.value
    progress(f"{letter.number}: {letter.sender} learnt it was {letter.outcome}")


async def _answers(local: systems.LocalSystems, session: aiohttp.ClientSession,
                   plan: list[Letter], progress: Progress) -> bool:  # fmt: skip
    for system in (local.delo, local.drop, local.medo):
        for _, package in system.arrived():
            if isinstance(package.payload, Notification):
                _note_home(plan, package.payload, progress)
    for _, detail in await local.rest.arrived(session):
        if "notification" in detail:  # the REST inbox gives the filesystem adapter's sidecar
            note = parse_data(detail, source="the REST inbox").payload
            if isinstance(note, Notification):
                _note_home(plan, note, progress)
    return all(p.answered for p in plan)
