"""An example adapter: letters as plain text files with a header block.

Format:    a folder per item. A letter is ``letter.txt`` — ``Key: value`` header lines, an
           empty line, then the text — plus the attachments its ``Attachment:`` lines name.
           A notice (registered / refused) is ``notice.txt`` with header lines only. UTF-8.
Direction: intake and export; documents and notifications.
Receipts:  an item taken by the gateway moves to ``processed/``; a refused one to ``failed/``
           with ``<name>.error.txt`` (adapters.folders does both).
Config keys:
           outgoing — the folder the local system drops items into (required)
           incoming — the folder the gateway writes items into (required)
           poll_interval — seconds between looks at ``outgoing`` (1.0)
           quiet — seconds an item must be unchanged before it is taken (1.0)

This file is the worked example of docs/adapters.md; the test suite runs it
(tests/unit/adapters/test_example_adapter.py), through the conformance kit and through an
entry point, so it stays true.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from adapters.api import Capabilities, Context, FormatError, Incoming, Outgoing, Package
from adapters.filerefs import describe
from adapters.folders import DropFolder, copy_file, publish, watch
from gateway.model import (
    Document,
    FileRole,
    Notification,
    NotificationKind,
    Organization,
    Person,
    Registration,
)

LETTER, NOTICE = "letter.txt", "notice.txt"


class TextLetterAdapter:
    name: ClassVar[str] = "textletter"
    capabilities: ClassVar[Capabilities] = Capabilities(intake=True, export=True)
    recoverable_errors: ClassVar[tuple[type[BaseException], ...]] = (OSError,)

    @dataclass(frozen=True)
    class Config:
        outgoing: Path
        incoming: Path
        poll_interval: float = 1.0
        quiet: float = 1.0

    def __init__(self, config: Config, context: Context) -> None:
        self.config, self.context = config, context

    def intake(self) -> AsyncIterator[Incoming]:
        drop = DropFolder(self.config.outgoing, quiet=self.config.quiet)
        return watch(drop, self.decode, interval=self.config.poll_interval)

    async def export(self, item: Outgoing) -> str:
        def write(folder: Path) -> None:
            self.encode(item.package, folder)

        path, new = await asyncio.to_thread(
            publish, self.config.incoming, item.message.message_id, write
        )
        return f"{'written to' if new else 'already in'} {path}"

    async def close(self) -> None:
        return None

    # --- the translations (pure) --------------------------------------------------------------

    def decode(self, source: Path) -> Package:
        if (source / NOTICE).is_file():
            return Package(_notice(_headers(source / NOTICE)[0]))
        if not (source / LETTER).is_file():
            raise FormatError(
                f"{source.name}: neither {LETTER} nor {NOTICE} is there", code="format.not_text"
            )
        head, _ = _headers(source / LETTER)
        main = describe(source / LETTER, id="main", role=FileRole.MAIN, media="text/plain")
        files, paths = [main], {"main": source / LETTER}
        for n, name in enumerate(head.get("Attachment", []), start=1):
            path = source / name
            if "/" in name or "\\" in name or name.startswith(".") or not path.is_file():
                raise FormatError(f"attachment {name!r} is not a file of this folder",
                                  code="format.missing_file")  # fmt: skip
            files.append(describe(path, id=f"a{n}", role=FileRole.ATTACHMENT))
            paths[f"a{n}"] = path
        document = Document(
            uid=_one(head, "Uid"),
            kind=_one(head, "Kind", "Письмо"),
            sender=Organization(_one(head, "From"), inn=_one(head, "From-INN", "") or None),
            registration=Registration(_one(head, "Number"), _day(_one(head, "Date"))),
            title=_one(head, "Subject", "") or None,
            addressees=tuple(Person(Organization(inn, inn=inn)) for inn in head.get("To-INN", [])),
            files=tuple(files),
        )
        if not document.addressees:
            raise FormatError("a letter needs at least one 'To-INN:' line", code="format.invalid")
        return Package(document, paths)

    def encode(self, package: Package, target: Path) -> None:
        payload = package.payload
        if isinstance(payload, Notification):
            lines = [
                f"Event: {payload.kind.value}",
                f"Document: {payload.document_uid}",
                f"Message: {payload.message_id}",
                f"Time: {payload.time.isoformat()}",
            ]
            if payload.registration:
                lines += [f"Number: {payload.registration.number}",
                          f"Date: {payload.registration.date.isoformat()}"]  # fmt: skip
            lines += [f"{k}: {v}" for k, v in (("Reason", payload.reason),
                      ("Comment", payload.comment)) if v]  # fmt: skip
            (target / NOTICE).write_text("\n".join(lines) + "\n", encoding="utf-8")
            return
        for ref in payload.files:
            copy_file(package.files[ref.id], target / (LETTER if ref.role is FileRole.MAIN
                                                      else ref.name))  # fmt: skip


def _headers(path: Path) -> tuple[dict[str, list[str]], str]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise FormatError(f"{path.name} is not UTF-8 text", code="format.encoding") from None
    head, _, body = text.partition("\n\n")
    found: dict[str, list[str]] = {}
    for line in head.splitlines():
        key, colon, value = line.partition(":")
        if not colon:
            raise FormatError(f"{path.name}: header line {line!r} has no ':'",
                              code="format.invalid")  # fmt: skip
        found.setdefault(key.strip(), []).append(value.strip())
    return found, body


def _one(head: dict[str, list[str]], key: str, default: str | None = None) -> str:
    values = head.get(key)
    if not values:
        if default is None:
            raise FormatError(f"the header {key!r} is missing", code="format.invalid")
        return default
    return values[0]


def _day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise FormatError(f"{text!r} is not a date (YYYY-MM-DD)", code="format.invalid") from None


def _notice(head: dict[str, list[str]]) -> Notification:
    try:
        kind = NotificationKind(_one(head, "Event"))
    except ValueError:
        raise FormatError("Event must be one of: " + ", ".join(k.value for k in NotificationKind),
                          code="format.invalid") from None  # fmt: skip
    number = _one(head, "Number", "")
    return Notification(
        kind=kind,
        document_uid=_one(head, "Document"),
        message_id=_one(head, "Message", ""),
        time=dt.datetime.fromisoformat(_one(head, "Time")),
        registration=Registration(number, _day(_one(head, "Date"))) if number else None,
        reason=_one(head, "Reason", "") or None,
        comment=_one(head, "Comment", "") or None,
    )
