"""A generic drop folder, for local systems that have no standard exchange format.

Format:    one folder per item, holding ``message.json`` (the sidecar, format
           ``gateway-drop/1``: a canonical Document or Notification as JSON, UTF-8, plus an
           optional ``context`` of texts) and the files it names; see
           docs/adapters/filesystem.md
Direction: both; documents and notifications
Receipts:  an item taken from ``outgoing`` moves to ``outgoing/processed/`` once the gateway
           has committed it, or to ``outgoing/failed/`` next to ``<item>.error.txt`` saying
           what to fix; exported items appear atomically in ``incoming`` as
           ``<message id>/``, their sidecar's context naming the message id, sending
           participant and time (``gateway.message_id``, ``gateway.sender``,
           ``gateway.created``)
Config keys:
  outgoing       the folder the local system drops items into (required)
  incoming       the folder the gateway writes items into for the local system (required)
  poll_interval  seconds between looks at ``outgoing`` when it is empty (1.0)
  quiet          seconds an item must be left unchanged before it is taken (1.0)
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from adapters.api import Capabilities, Context, Incoming, Outgoing, Package
from adapters.filesystem.item import item_name, read_item, write_item
from adapters.filesystem.sidecar import export_context
from adapters.folders import DropFolder, publish, watch
from gateway.errors import ConfigError


@dataclass(frozen=True)
class FilesystemConfig:
    outgoing: Path
    incoming: Path
    poll_interval: float = 1.0
    quiet: float = 1.0


class FilesystemAdapter:
    name: ClassVar[str] = "filesystem"
    capabilities: ClassVar[Capabilities] = Capabilities(intake=True, export=True)
    recoverable_errors: ClassVar[tuple[type[BaseException], ...]] = (OSError,)
    # A module-level class assigned here, not a nested one: mypy takes a nested class for a
    # read-only attribute, which does not match the contract's ClassVar.
    Config: ClassVar[type[FilesystemConfig]] = FilesystemConfig

    def __init__(self, config: FilesystemConfig, context: Context) -> None:
        if config.poll_interval <= 0:
            raise ConfigError("must be more than 0 seconds", key="poll_interval")
        if config.quiet < 0:
            raise ConfigError("must not be negative", key="quiet")
        out, into = config.outgoing.absolute(), config.incoming.absolute()
        if out == into or out in into.parents or into in out.parents:
            # Exports written inside the drop folder would be picked up and sent again.
            raise ConfigError(
                f"outgoing ({out}) and incoming ({into}) must be separate folders, neither "
                "inside the other",
                key="incoming",
            )
        self.config = config
        self.context = context

    def intake(self) -> AsyncIterator[Incoming]:
        drop = DropFolder(self.config.outgoing, quiet=self.config.quiet)
        return watch(drop, self.decode, interval=self.config.poll_interval)

    async def export(self, item: Outgoing) -> str:
        context = {**item.package.context, **export_context(item.message)}
        package = Package(item.package.payload, item.package.files, context)
        write = functools.partial(write_item, package)
        path, written = await asyncio.to_thread(
            publish, self.config.incoming, item_name(item.message.message_id), write
        )
        return f"{'written to' if written else 'already in'} {path}"

    def decode(self, source: Path) -> Package:
        return read_item(source)

    def encode(self, package: Package, target: Path) -> None:
        write_item(package, target)

    async def close(self) -> None:
        return None


if TYPE_CHECKING:  # mypy checks that the class keeps to the contract; nothing at run time
    from adapters.api import Adapter

    def _conforms(adapter: FilesystemAdapter) -> Adapter:
        return adapter
