"""EOS «ДЕЛО» through its СЭВ exchange folders (ГОСТ Р 53898-2013).

Format:    EOS «СЭВ» XML (namespace http://www.eos.ru/2010/sev): a ``DocInfo`` (a document)
           or a ``Report`` (a notification about one), UTF-8, windows-1251 or UTF-16 on
           input, UTF-8 with a declaration on output. A package is a folder holding the XML
           (``DocInfo.xml`` / ``Report.xml``; when neither name is there, the one XML file
           whose root is a СЭВ message) and every file its ``Header/ResourceList`` names: the
           document's texts and the officials' detached ``.sig`` signatures (``File/EDS``). A
           report may also come as a lone XML file.
Direction: intake and export; documents and notifications (Reception, Registration,
           Failure, Consideration, Answer).
Receipts:  a package the gateway took moves to ``processed/`` of the outgoing folder; a refused
           one to ``failed/`` with ``<name>.error.txt`` saying what to fix. Registration,
           refusal and "not delivered" come back to ДЕЛО as ``Report`` packages carrying the
           ``ReturnID`` of ДЕЛО's document.
Config keys:
           outgoing — ДЕЛО's outgoing folder, where the gateway picks packages up (required)
           incoming — ДЕЛО's incoming folder, where the gateway writes packages (required)
           poll_interval — seconds between looks at ``outgoing`` (1.0)
           quiet — seconds a package must be unchanged before it is taken (1.0)
           edms_uid, edms_name, edms_version — ``Header/Sender/EDMS`` of what the gateway
           writes ("7F3C2A9E…", "Межрегиональный шлюз документооборота", "1.0")
           organization, organization_uid — this participant, the sender of reports that
           name no author (the gateway's name, none)
           utc_offset — hours east of UTC of ДЕЛО's clock, for times written without an
           offset (3.0, Moscow)

Context keys it keeps (``Package.context``): ``sev.message_id`` and ``sev.return_id`` (the
header ids of the package read), ``sev.document_id`` (ДЕЛО's DocumentID), ``sev.number``,
``sev.date``, ``sev.group`` (the document's registration and group, for a report's
``InitialDoc``), ``sev.sender_name``, ``sev.sender_uid``, ``sev.sender_inn`` (ДЕЛО's
organisation, the recipient of reports). It reads ``gateway.message_id`` when exporting.
See docs/adapters/sev.md for the folders, the mapping and the correlation.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import ClassVar

from adapters.api import Capabilities, Context, FormatError, Incoming, Outgoing, Package
from adapters.folders import DropFolder, publish, watch
from adapters.sev.config import SevConfig
from adapters.sev.docinfo import read_docinfo, write_docinfo
from adapters.sev.folder import HINT, folder_name, open_message
from adapters.sev.report import read_report, write_report
from adapters.sev.xmlio import NS, q
from gateway.model import Document


class SevAdapter:
    name: ClassVar[str] = "sev"
    capabilities: ClassVar[Capabilities] = Capabilities(intake=True, export=True)
    recoverable_errors: ClassVar[tuple[type[BaseException], ...]] = (OSError,)
    Config: ClassVar[type[SevConfig]] = SevConfig

    def __init__(self, config: SevConfig, context: Context) -> None:
        self.config, self.context = config, context

    def intake(self) -> AsyncIterator[Incoming]:
        drop = DropFolder(self.config.outgoing, quiet=self.config.quiet)
        return watch(drop, self.decode, interval=self.config.poll_interval)

    async def export(self, item: Outgoing) -> str:
        package = Package(
            item.package.payload,
            item.package.files,
            {**item.package.context, "gateway.message_id": item.message.message_id},
        )

        def write(folder: Path) -> None:
            self.encode(package, folder)

        name = folder_name(item.message.message_id)
        path, new = await asyncio.to_thread(publish, self.config.incoming, name, write)
        return f"ДЕЛО folder {path}" if new else f"already in ДЕЛО folder {path}"

    async def close(self) -> None:
        pass

    def decode(self, source: Path) -> Package:
        message = open_message(source)
        if message.root.tag == q("DocInfo"):
            return read_docinfo(message)
        if message.root.tag == q("Report"):
            return read_report(message, self.config)
        raise FormatError(
            f"{message.path.name} is not a СЭВ message: its root is {message.root.tag!r}, "
            f"expected DocInfo or Report in namespace {NS}; {HINT}",
            code="format.not_sev",
        )

    def encode(self, package: Package, target: Path) -> None:
        if isinstance(package.payload, Document):
            write_docinfo(package, target, self.config)
        else:
            write_report(package, target, self.config)
