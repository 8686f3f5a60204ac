"""МЭДО: message folders of an МЭДО client (xdms 2.2 – 2.7.1, envelope.ini, 2.7 containers).

Format:    МЭДО xdms messages, one folder each: ``envelope.ini`` (windows-1251 or UTF-8), the
           xdms XML (``http://www.infpres.com/IEDMS`` for 2.2 – 2.7, ``urn:IEDMS:MESSAGE`` for
           2.7.1; windows-1251 or UTF-8), the files it names and their detached ``.p7s``
           signatures (DER or base64); or a 2.7 transport container (covering XML +
           ``document.edc.zip`` with ``passport.xml``). Reads every version; writes
           ``version`` in ``charset``. Documents ↔ Document; Уведомление ↔ Notification
           (registered, refused, executor assigned, report sent); Квитанция ↔ RECEIVED
           (accepted) or FAILED (not accepted).
Direction: both; documents and notifications. Intake from ``outgoing`` (the МЭДО client's
           outgoing folder); export into ``incoming`` (one folder per message id).
Receipts:  a folder taken is moved to ``outgoing/processed/``; a refused one to
           ``outgoing/failed/`` with ``<name>.error.txt`` (code and what to fix). The МЭДО
           client learns of delivery from the Квитанция the gateway exports when the
           recipient's gateway reports RECEIVED.
Config keys:
           outgoing (path, required) · incoming (path, required) ·
           addressee = "" (our МЭДО address, written to [АДРЕСАТЫ] of exported envelopes) ·
           organization = "Межрегиональный шлюз документооборота" (header source when a
           notification names no author) · version = "2.6" ("2.2", "2.6", "2.7", "2.7.1") ·
           container = false (write documents as 2.7 containers; needs 2.7 or 2.7.1) ·
           charset = "utf-8" (or "windows-1251") · poll_interval = 1.0 · quiet = 1.0 ·
           max_container_bytes = 1073741824 · max_expansion_ratio = 100.0

See docs/adapters/medo.md for the mapping, the container checks and the error codes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from adapters.api import Capabilities, Context, Incoming, Outgoing, Package, Settlement
from adapters.folders import DropFolder, publish, watch
from adapters.medo import container, message, names
from gateway.errors import ConfigError

CHARSETS = {"utf-8": "utf-8", "utf8": "utf-8", "windows-1251": "windows-1251",
            "cp1251": "windows-1251"}  # fmt: skip
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")


class MedoAdapter:
    name: ClassVar[str] = "medo"
    capabilities: ClassVar[Capabilities] = Capabilities(intake=True, export=True)
    recoverable_errors: ClassVar[tuple[type[BaseException], ...]] = (OSError,)

    @dataclass(frozen=True)
    class Config:
        outgoing: Path
        incoming: Path
        addressee: str = ""
        organization: str = "Межрегиональный шлюз документооборота"
        version: str = "2.6"
        container: bool = False
        charset: str = "utf-8"
        poll_interval: float = 1.0
        quiet: float = 1.0
        max_container_bytes: int = 1 << 30
        max_expansion_ratio: float = 100.0

    def __init__(self, config: MedoAdapter.Config, context: Context) -> None:
        self.config = config
        self.context = context
        self.options = _options(config)

    def decode(self, source: Path) -> Package:
        return message.decode(source, self.options)

    def encode(self, package: Package, target: Path) -> None:
        message.encode(package, target, self.options, self.context.now())

    async def intake(self) -> AsyncIterator[Incoming]:
        drop = DropFolder(self.config.outgoing, quiet=self.config.quiet)
        async for item in watch(drop, self.decode, interval=self.config.poll_interval):
            yield _cleaning(item, drop.processing / item.local_ref)

    async def export(self, item: Outgoing) -> str:
        message_id = item.message.message_id
        context = {**item.package.context, "gateway.message_id": message_id}
        package = dataclasses.replace(item.package, context=context)
        path, written = await asyncio.to_thread(
            publish,
            self.config.incoming,
            _UNSAFE_NAME.sub("_", message_id),
            lambda staging: self.encode(package, staging),
        )
        return f"МЭДО folder {path}" if written else f"МЭДО folder {path} (written before)"

    async def close(self) -> None:
        return None


def _cleaning(item: Incoming, source: Path) -> Incoming:
    """``item`` whose settlement also removes the scratch folders its decoding made."""
    settle = item.settle

    async def settle_and_clean(outcome: Settlement) -> None:
        try:
            await settle(outcome)
        finally:
            await asyncio.to_thread(container.remove_scratch, source)

    return dataclasses.replace(item, settle=settle_and_clean)


def _options(config: MedoAdapter.Config) -> message.Options:
    if config.version not in names.VERSIONS:
        raise ConfigError(
            f"МЭДО version {config.version!r} is not written by this adapter; use one of "
            f"{', '.join(names.VERSIONS)}",
            key="adapters.version",
        )
    if config.container and config.version not in names.CONTAINER_VERSIONS:
        raise ConfigError(
            f'transport containers exist from МЭДО 2.7; set version = "2.7" or "2.7.1" '
            f"(not {config.version!r}) or container = false",
            key="adapters.container",
        )
    charset = CHARSETS.get(config.charset.strip().lower())
    if charset is None:
        raise ConfigError(
            f'charset {config.charset!r} is not used by МЭДО; use "utf-8" or "windows-1251"',
            key="adapters.charset",
        )
    if config.max_container_bytes <= 0 or config.max_expansion_ratio < 1:
        raise ConfigError(
            "max_container_bytes must be positive and max_expansion_ratio at least 1",
            key="adapters.max_container_bytes",
        )
    if config.addressee and "~" not in config.addressee:
        raise ConfigError(
            f"addressee {config.addressee!r} is not an МЭДО address (NAME~DOMAIN, e.g. "
            "WH-MEDO~APRF)",
            key="adapters.addressee",
        )
    return message.Options(
        version=config.version,
        container=config.container,
        charset=charset,
        addressee=config.addressee,
        organization=config.organization,
        limits=container.Limits(config.max_container_bytes, config.max_expansion_ratio),
    )
