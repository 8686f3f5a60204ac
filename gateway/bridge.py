"""The bridge between the gateway and its adapters: the one wrapper every adapter call goes
through (DESIGN §3 steps 1 and 6, §8; STYLE §8).

Intake: each adapter that reads its local system runs in its own loop. An item's files are
streamed into the blob store, its document is routed, sealed and queued (or its notification
sent back to the participant whose document it answers), and only then is the item settled —
acknowledged to the local system, or refused with a code and a reason. A transient store
failure leaves the item unsettled and tries again; a crash leaves it to be offered again, and
the ``local_ref`` makes that a no-op.

Export: the hand-off worker calls :meth:`AdapterHost.export` (a :class:`gateway.handoff.Sink`).
Inbound documents go to the default adapter; a notification goes to the adapter that took in
the document it is about (kept in the store as the document's origin), with the format values
that adapter kept at intake (a ДЕЛО ReturnID), so the reply finds its way back.

Whatever an adapter raises, the bridge records it in the adapter's status with its name and
carries on: one failing adapter never stops the others, and nothing is dropped — a failed
export stays in the hand-off queue and is tried again.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import logging
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from adapters.api import (
    AdapterError,
    Capabilities,
    FormatError,
    Incoming,
    Outgoing,
    Package,
    Refused,
    Settlement,
    Taken,
)
from adapters.registry import build_config, resolve
from gateway import envelope
from gateway.config import AdapterConfig, GatewayConfig
from gateway.errors import ConfigError, GatewayError
from gateway.intake import Intake, with_files
from gateway.model import Document, FileRef, Notification
from gateway.store.api import BlobStore, MessageRecord, Store, StoreError, worth_fetching_whole

log = logging.getLogger(__name__)
T = TypeVar("T")

ORIGIN = "origin"  # correlation scope: document uid → the adapter that took it in
CHUNK = 1 << 20
RETRY_SECONDS = 2.0


class StoreContext:
    """The :class:`adapters.api.Context` an adapter instance gets: its own scope in the store."""

    def __init__(
        self, store: Store, instance: str, participant: str, work_dir: Path,
        clock: Callable[[], dt.datetime],
    ) -> None:  # fmt: skip
        self.store, self.scope = store, f"adapter:{instance}"
        self.participant, self.work_dir, self._clock = participant, work_dir, clock
        work_dir.mkdir(parents=True, exist_ok=True)

    async def remember(self, key: str, value: str) -> None:
        await self.store.put_correlation(self.scope, key, value)

    async def recall(self, key: str) -> str | None:
        return await self.store.get_correlation(self.scope, key)

    def now(self) -> dt.datetime:
        return self._clock()


@dataclass
class AdapterStatus:
    """What an operator sees about one adapter instance (never a secret)."""

    id: str
    adapter: str
    origin: str
    capabilities: Capabilities
    default: bool = False
    taken: int = 0
    refused: int = 0
    exported: int = 0
    failures: int = 0
    last_ok: dt.datetime | None = None
    last_error: str | None = None
    last_error_at: dt.datetime | None = None

    def as_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["capabilities"] = dataclasses.asdict(self.capabilities)
        for key in ("last_ok", "last_error_at"):
            value = data[key]
            data[key] = value.isoformat() if value else None
        return data


class Hosted:
    """One adapter instance with its status; every call to it goes through :meth:`call`."""

    def __init__(self, instance: Any, status: AdapterStatus) -> None:
        self.adapter, self.status = instance, status

    @property
    def id(self) -> str:
        return self.status.id

    async def call(self, what: str, action: Awaitable[T]) -> T:
        """Await an adapter call; a foreign exception becomes an AdapterError with our name."""
        try:
            result = await action
        except GatewayError as exc:
            self.failed(what, exc)
            raise
        except Exception as exc:
            self.failed(what, exc)
            raise AdapterError(
                f"adapter {self.id!r} failed to {what}: {type(exc).__name__}: {exc}"
            ) from exc
        self.status.last_ok = dt.datetime.now(dt.UTC)
        return result

    def failed(self, what: str, exc: BaseException) -> None:
        self.status.failures += 1
        self.status.last_error = f"{what}: {exc}"
        self.status.last_error_at = dt.datetime.now(dt.UTC)
        recoverable = isinstance(exc, getattr(self.adapter, "recoverable_errors", ()))
        log.log(
            logging.WARNING if recoverable else logging.ERROR,
            "adapter %s could not %s: %s",
            self.id,
            what,
            exc,
        )


class AdapterHost:
    """Every configured adapter of this gateway: their intake loops and the hand-off sink."""

    name = "adapters"

    def __init__(
        self,
        hosted: list[Hosted],
        store: Store,
        intake: Intake,
        *,
        fallback: Any = None,
        spool: Path | None = None,
    ) -> None:
        self.hosted = {h.id: h for h in hosted}
        self.spool = spool  # where blobs that are not local files are copied for an adapter
        self.store, self.intake = store, intake
        exporting = [h for h in hosted if h.status.capabilities.export]
        marked = [h for h in exporting if h.status.default]
        self.default = marked[0] if marked else (exporting[0] if exporting else None)
        if self.default is not None:
            self.default.status.default = True
        self.fallback = fallback  # a Sink for inbound documents when no adapter exports

    @classmethod
    def build(
        cls,
        config: GatewayConfig,
        store: Store,
        intake: Intake,
        *,
        fallback: Any = None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> AdapterHost:
        """Instances of every ``[[adapters]]`` table; ConfigError naming the table if one is bad."""
        hosted = []
        for entry in config.adapters:
            described, options = instantiate_config(entry, config.path)
            context = StoreContext(
                store, entry.id, config.participant, config.data_dir / "adapters" / entry.id, clock
            )
            try:
                instance = described.cls(options, context)
            except GatewayError:
                raise
            except Exception as exc:
                raise ConfigError(
                    f"adapter {entry.id!r} could not start: {type(exc).__name__}: {exc}",
                    file=str(config.path),
                    key=entry.key,
                ) from exc
            status = AdapterStatus(
                id=entry.id,
                adapter=described.name,
                origin=described.origin,
                capabilities=described.cls.capabilities,
                default=entry.default,
            )
            hosted.append(Hosted(instance, status))
        return cls(hosted, store, intake, fallback=fallback, spool=config.data_dir / "spool")

    def statuses(self) -> list[AdapterStatus]:
        return [h.status for h in self.hosted.values()]

    # --- intake ------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Run the intake loop of every adapter that reads its local system, until ``stop``."""
        loops = [
            self._intake_loop(h, stop) for h in self.hosted.values() if h.status.capabilities.intake
        ]
        await asyncio.gather(*loops)

    async def _intake_loop(self, hosted: Hosted, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self._drain(hosted, stop)
            except Exception as exc:
                hosted.failed("read from its local system", exc)
                await _stopped(stop, RETRY_SECONDS)

    async def _drain(self, hosted: Hosted, stop: asyncio.Event) -> None:
        items: AsyncIterator[Incoming] = hosted.adapter.intake()
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while True:
                # Wait for the next item or the stop, whichever comes first: an item being
                # taken is always finished, a wait for the next one is simply abandoned.
                following = asyncio.ensure_future(anext(items))
                await asyncio.wait({following, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if not following.done():
                    following.cancel()
                    await asyncio.gather(following, return_exceptions=True)
                    return
                try:
                    item = following.result()
                except StopAsyncIteration:
                    return
                await self.take(hosted, item, stop)
        finally:
            stopping.cancel()
            aclose = getattr(items, "aclose", None)
            if aclose is not None:
                await hosted.call("stop reading", aclose())

    async def take(self, hosted: Hosted, item: Incoming, stop: asyncio.Event | None = None) -> None:
        """Commit one incoming item and settle it (or leave it unsettled if stopping)."""
        if item.package is None:
            problem = item.problem or FormatError("the item could not be read")
            outcome: Settlement = Refused(problem.code, problem.message)
        else:
            while True:
                try:
                    outcome = await self._commit(hosted, item.local_ref, item.package)
                    break
                except StoreError as exc:  # the store is unwell: keep the item, try again
                    hosted.failed("commit an item (will retry)", exc)
                    if stop is None or await _stopped(stop, RETRY_SECONDS):
                        return  # unsettled: offered again on the next run
                except GatewayError as exc:
                    outcome = Refused(exc.code, exc.message)
                    break
                except Exception as exc:
                    log.exception("taking %s from adapter %s failed", item.local_ref, hosted.id)
                    outcome = Refused(
                        "gateway.error",
                        f"the gateway could not take this item ({type(exc).__name__}: {exc}); "
                        "it is kept here, tell the gateway's operator",
                    )
                    break
        if isinstance(outcome, Taken):
            hosted.status.taken += 1
        else:
            hosted.status.refused += 1
            log.warning("adapter %s: refused %s: [%s] %s", hosted.id, item.local_ref,
                        outcome.code, outcome.message)  # fmt: skip
        # A failure is recorded in the status; the item is offered again, a no-op then.
        with contextlib.suppress(GatewayError):
            await hosted.call("acknowledge an item", item.settle(outcome))

    async def _commit(self, hosted: Hosted, local_ref: str, package: Package) -> Taken:
        ref = f"{hosted.id}:{local_ref}"
        actor = f"adapter:{hosted.id}"
        payload = package.payload
        if isinstance(payload, Notification):
            record = await self.intake.submit_notification(payload, local_ref=ref, actor=actor)
            return Taken((record.message_id,))
        files = [await self._store_file(ref, package) for ref in payload.files]
        document = with_files(payload, files)
        # Kept before the messages exist, so a reply can never arrive ahead of them.
        await self.store.put_correlation(ORIGIN, document.uid, hosted.id)
        if package.context:
            await self.store.put_correlation(
                f"context:{hosted.id}", document.uid, json.dumps(dict(package.context))
            )
        records = await self.intake.submit(document, local_ref=ref, actor=actor)
        return Taken(tuple(r.message_id for r in records))

    async def _store_file(self, ref: FileRef, package: Package) -> FileRef:
        path = package.files.get(ref.id)
        if path is None:
            raise FormatError(f"file {ref.id!r} ({ref.name}) is listed but was not handed over",
                              code="format.missing_file")  # fmt: skip
        stored = await self.intake.store_file_ref(ref, _read_file(path))
        if stored.sha256 != ref.sha256:
            raise FormatError(
                f"file {ref.name!r} changed while it was being taken (its digest differs from "
                "the one read a moment before); put the item in again once it is complete",
                code="format.digest_mismatch",
            )
        return stored

    # --- export (the hand-off Sink) ----------------------------------------------------------

    async def export(self, record: MessageRecord, blobs: BlobStore) -> str:
        message = envelope.decode(record.envelope)
        payload = message.payload
        hosted = await self._target(payload)
        if hosted is None:
            if self.fallback is None:
                raise GatewayError(
                    "no adapter takes inbound documents: configure one with export capability",
                    code="adapter.none",
                )
            detail: str = await self.fallback.export(record, blobs)
            return detail
        context: dict[str, str] = {}
        if isinstance(payload, Notification):
            kept = await self.store.get_correlation(f"context:{hosted.id}", payload.document_uid)
            if kept:
                context.update(json.loads(kept))
        async with _local_files(message.files, blobs, self.spool) as files:
            item = Outgoing(
                message=message,
                package=Package(payload=payload, files=files, context=context),
                envelope=record.envelope,
                signature=record.signature,
            )
            detail = await hosted.call("export a message", hosted.adapter.export(item))
        hosted.status.exported += 1
        return f"{hosted.id}: {detail}"

    async def _target(self, payload: Document | Notification) -> Hosted | None:
        if isinstance(payload, Notification):
            origin = await self.store.get_correlation(ORIGIN, payload.document_uid)
            hosted = self.hosted.get(origin or "")
            if hosted is not None and hosted.status.capabilities.export:
                return hosted
        return self.default

    async def close(self) -> None:
        for hosted in self.hosted.values():
            with contextlib.suppress(GatewayError):
                await hosted.call("close", hosted.adapter.close())


def instantiate_config(entry: AdapterConfig, config_path: Path) -> tuple[Any, Any]:
    """The adapter class of ``entry`` and its typed config; ConfigError naming the table."""
    try:
        described = resolve(entry.name)
    except ConfigError as exc:
        raise ConfigError(exc.message, file=str(config_path), key=f"{entry.key}.name") from None
    options = build_config(
        described, entry.options, base_dir=config_path.parent, file=str(config_path),
        key=entry.key,
    )  # fmt: skip
    return described, options


async def _stopped(stop: asyncio.Event, seconds: float) -> bool:
    """Wait up to ``seconds`` for ``stop``; whether it is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()


@contextlib.asynccontextmanager
async def _local_files(
    files: Iterable[FileRef], blobs: BlobStore, spool: Path | None
) -> AsyncIterator[dict[str, Path]]:
    """Each file as a local path, as adapters need: the blob's own file where blobs are files,
    else (blobs in a shared database) a copy streamed into a temporary folder under ``spool``
    that is removed when the adapter is done."""
    listed = list(files)
    paths: dict[str, Path] = {}
    folder: Path | None = None
    try:
        # Small blobs kept in the database come in one query and are written in one thread
        # call; the others are the blob's own file, or streamed into the spool one by one.
        small = await blobs.small(worth_fetching_whole(listed))
        if small:
            folder, written = await asyncio.to_thread(_spool_whole, spool, listed, small)
            paths.update(written)
        for file in listed:
            if file.id in paths:
                continue
            path = blobs.local_path(file.sha256)
            if path is None:
                if folder is None:
                    folder = await asyncio.to_thread(_spool_folder, spool)
                path = folder / f"s{len(paths)}"
                handle = await asyncio.to_thread(path.open, "xb")
                try:
                    async for chunk in blobs.read(file.sha256):
                        await asyncio.to_thread(handle.write, chunk)
                finally:
                    handle.close()
            paths[file.id] = path
        yield paths
    finally:
        if folder is not None:
            await asyncio.to_thread(shutil.rmtree, folder, True)


def _spool_whole(
    spool: Path | None, files: list[FileRef], contents: dict[str, bytes]
) -> tuple[Path, dict[str, Path]]:
    """A new spool folder holding each of ``files`` whose content is given; their paths."""
    folder = _spool_folder(spool)
    written: dict[str, Path] = {}
    try:
        for n, file in enumerate(files):
            content = contents.get(file.sha256)
            if content is not None:
                path = folder / f"w{n}"
                with path.open("xb") as handle:
                    handle.write(content)
                written[file.id] = path
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder, written


def _spool_folder(spool: Path | None) -> Path:
    if spool is not None:
        spool.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="export-", dir=spool))


async def _read_file(path: Path) -> AsyncIterator[bytes]:
    handle = await asyncio.to_thread(path.open, "rb")
    try:
        while chunk := await asyncio.to_thread(handle.read, CHUNK):
            yield chunk
    finally:
        handle.close()
