"""The adapter contract: how a local document system plugs into the gateway (DESIGN §8).

An adapter translates one local format (ДЕЛО's СЭВ packages, МЭДО folders, a JSON drop
folder, a REST client) to the canonical model of :mod:`gateway.model` and back. It is a class
with the members of :class:`Adapter`; the gateway finds it by name (see
:mod:`adapters.registry`), builds its typed ``Config`` from the ``[[adapters]]`` table of
``gateway.toml``, and calls it through one wrapper, so that a failing adapter is reported with
its name and the other adapters keep running.

The unit that crosses the contract is a :class:`Package`: a canonical payload (a
:class:`~gateway.model.Document` or :class:`~gateway.model.Notification`) plus the files it
names, as local paths, plus the few format-specific values that must survive a round trip
(``context``). Three things happen to packages:

- **intake** — :meth:`Adapter.intake` yields :class:`Incoming` items read from the local
  system. The gateway stores the files, routes, seals and queues, and only then settles the
  item: :meth:`Incoming.settle` with :class:`Taken` (acknowledge it to the local system: move
  it to ``processed/``, answer 202) or :class:`Refused` (``failed/`` with a reason a person
  can act on). An item the gateway never settled (a crash) is offered again on the next run,
  and its ``local_ref`` makes the second submission a no-op.
- **export** — :meth:`Adapter.export` writes an accepted inbound message (or a notification for
  our own local system) into the local system. It must be idempotent by message id: the
  gateway calls it again after a crash between export and the mark in the store.
- **translation** — :meth:`Adapter.decode` and :meth:`Adapter.encode` are pure (files in,
  files out, no gateway state), so that ``gateway convert`` works offline and the conformance
  kit (:mod:`adapters.testing`) can check round trips.

Adapter modules start with a docstring in this form, so that an operator can read what an
adapter does without its code::

    Format:    what the local system speaks (standard, version, encoding)
    Direction: intake, export, or both; documents and/or notifications
    Receipts:  how the local system learns that the gateway took an item
    Config keys: each key of its [[adapters]] table, with its default

Nothing in an adapter may import ``aiohttp.web`` handlers of the gateway or touch the store
directly: what it may keep between messages goes through :class:`Context`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

from gateway.errors import GatewayError
from gateway.model import Document, Message, Notification

Payload = Document | Notification


class AdapterError(GatewayError):
    """The adapter failed; the message says which adapter and what it was doing."""

    code = "adapter.failed"


class FormatError(GatewayError):
    """A local package is not valid in its format; the message says what to fix.

    Raised by :meth:`Adapter.decode` (and by intake) for bad input. Use ``code=`` for a stable
    code more specific than ``format.invalid``, e.g. ``format.zip_slip``,
    ``format.missing_signature``, ``format.digest_mismatch``.
    """

    code = "format.invalid"
    http_status = 400


@dataclass(frozen=True)
class Capabilities:
    """What an adapter can do, declared as data; the gateway reads it instead of probing."""

    intake: bool = False  # reads items from its local system
    export: bool = False  # writes inbound messages into its local system
    documents: bool = True  # handles documents (both ways, as far as intake/export say)
    notifications: bool = True  # handles notifications (registered, refused, failed, …)
    convert: bool = True  # decode/encode work offline (gateway convert)


@dataclass(frozen=True)
class Package:
    """A canonical payload with its files, as an adapter hands it over or receives it.

    ``files`` maps each :class:`~gateway.model.FileRef` id of the payload to a local file
    holding its bytes (empty for a notification). The digests and sizes in the FileRefs are
    the truth: a decoder computes them from the files, an encoder may trust them.

    ``context`` carries format values that the canonical model does not hold but a round trip
    or a reply needs (a СЭВ ``ReturnID``, an МЭДО header uid, a charset). Keys are namespaced
    by the adapter (``"sev.return_id"``). The gateway keeps the context of a document taken in
    and hands it back with notifications about that document (see :class:`Outgoing`).
    """

    payload: Payload
    files: Mapping[str, Path] = field(default_factory=dict)
    context: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Taken:
    """The gateway committed an incoming item: these messages are queued (one per
    destination participant; none for a notification the gateway handled itself)."""

    message_ids: tuple[str, ...]


@dataclass(frozen=True)
class Refused:
    """The gateway will not take this item; ``code`` is stable, ``message`` says what to fix.
    Nothing of the item was queued."""

    code: str
    message: str


Settlement = Taken | Refused


@dataclass
class Incoming:
    """One item read from the local system, waiting for the gateway to take it.

    ``local_ref`` identifies the item in its system (a folder name, a ДЕЛО MessageID, a REST
    Idempotency-Key) and must be the same if the item is offered again. ``settle`` is called by
    the gateway exactly once per offer, after it committed (or refused) the item.
    ``package`` is None when the item could not even be decoded: the gateway then settles it
    with ``problem`` straight away.
    """

    local_ref: str
    package: Package | None
    settle: Callable[[Settlement], Awaitable[None]]
    problem: GatewayError | None = None


@dataclass(frozen=True)
class Outgoing:
    """An accepted message the gateway hands to its local system through :meth:`export`.

    ``package.context`` holds what the gateway kept for the document this message is about:
    for a notification about a document that this adapter took in, the context of that
    intake (e.g. the ДЕЛО ``ReturnID`` to copy into the report).
    """

    message: Message  # the decoded envelope: ids, sender participant, payload
    package: Package
    envelope: bytes  # the exact signed envelope, for adapters that keep it as evidence
    signature: bytes  # its detached CMS signature (empty for the gateway's own notices)


@runtime_checkable
class Context(Protocol):
    """What the gateway lends an adapter instance."""

    participant: str  # our participant id
    work_dir: Path  # a private folder for this adapter instance (spooling, state)

    async def remember(self, key: str, value: str) -> None:
        """Keep a value across restarts (a correlation: document uid → ДЕЛО ReturnID)."""
        ...

    async def recall(self, key: str) -> str | None:
        """A value kept with :meth:`remember`, or None."""
        ...

    def now(self) -> dt.datetime:
        """The current time (UTC, aware); tests move it."""
        ...


class Adapter(Protocol):
    """One local system's adapter. Instances are made with ``cls(config, context)``.

    Every member is documented here; implementations need docstrings only for what is
    particular to them (their module docstring: Format, Direction, Receipts, Config keys).
    """

    name: ClassVar[str]
    """The registry name, as written in ``[[adapters]] name = "…"``."""

    capabilities: ClassVar[Capabilities]

    Config: ClassVar[type[Any]]
    """A frozen dataclass of the adapter's options (keys of its ``[[adapters]]`` table other
    than ``name``). Fields typed ``Path`` are resolved against the folder of gateway.toml; an
    unknown or mistyped key is a configuration error naming the file and key."""

    recoverable_errors: ClassVar[tuple[type[BaseException], ...]]
    """Exceptions of :meth:`export` worth retrying (a full disk, a busy webhook). Any other
    exception is the adapter's own fault: it is still retried (nothing is ever dropped) but
    reported as an adapter failure that needs an operator."""

    def __init__(self, config: Any, context: Context) -> None: ...

    def intake(self) -> AsyncIterator[Incoming]:
        """Items from the local system, for as long as the gateway runs (poll or listen).

        The gateway closes the iterator on shutdown; an item yielded but not yet settled is
        simply offered again next time. Adapters without intake return an empty iterator.
        """
        ...

    async def export(self, item: Outgoing) -> str:
        """Write ``item`` into the local system, idempotently by ``item.message.message_id``;
        returns a short description for the message history ("ДЕЛО folder …")."""
        ...

    def decode(self, source: Path) -> Package:
        """Read one native package (a folder, or a file for single-file formats) into the
        canonical model; :class:`FormatError` says what is wrong with it. Pure: no gateway
        state, no network. The returned file paths point into ``source``."""
        ...

    def encode(self, package: Package, target: Path) -> None:
        """Write ``package`` as one native package into the empty folder ``target``. Pure."""
        ...

    async def close(self) -> None:
        """Release what the adapter holds (sockets, servers); called once at shutdown."""
        ...


@dataclass(frozen=True)
class Described:
    """Registry metadata of an adapter class (all derived from the class itself)."""

    name: str
    cls: type[Any]
    origin: str  # "built-in", "entry point <dist>", or "pkg.mod:Class"
    summary: str = ""
