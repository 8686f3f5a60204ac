"""The demo's stand-ins for the participants' own document systems.

Each writes and reads exactly what the real system would, through the adapters' own encoders
and decoders (which the adapter tests check against the formats' published schemas): ДЕЛО
drops СЭВ packages, the Sakha clerk drops sidecar folders, Tatarstan's system calls the REST
adapter, the МЭДО client writes xdms messages. A package is written beside the folder and
renamed into it, as a careful local system does, so the gateway never sees half of one.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

import aiohttp

from adapters.api import Package
from adapters.filesystem import FilesystemAdapter
from adapters.filesystem.sidecar import render
from adapters.medo import MedoAdapter
from adapters.sev import SevAdapter
from gateway.cli_convert import OfflineContext
from gateway.demo.network import DemoNetwork, Folders
from gateway.model import Document, Notification, NotificationKind, Organization, Registration
from gateway.modeljson import to_json


class Codec(Protocol):
    def encode(self, package: Package, folder: Path) -> None: ...

    def decode(self, folder: Path) -> Package: ...


class FolderSystem:
    """A local system that exchanges folders: ДЕЛО (СЭВ), a drop folder, an МЭДО client."""

    def __init__(self, name: str, codec: Codec, folders: Folders) -> None:
        self.name, self.codec, self.folders = name, codec, folders
        self._seen: set[str] = set()

    def put(self, package: Package, name: str) -> None:
        staging = self.folders.out.parent / f".staging-{name}"
        staging.mkdir(parents=True)
        self.codec.encode(package, staging)
        staging.rename(self.folders.out / name)

    def arrived(self) -> Iterable[tuple[str, Package]]:
        """Packages the gateway wrote for this system since the last look (name, package)."""
        for folder in sorted(self.folders.in_.iterdir()):
            if folder.name.startswith(".") or folder.name in self._seen or not folder.is_dir():
                continue
            self._seen.add(folder.name)
            yield folder.name, self.codec.decode(folder)

    def refused(self) -> list[str]:
        """What the gateway refused from this system (its failed/ folder)."""
        failed = self.folders.out / "failed"
        return sorted(p.name for p in failed.glob("*.error.txt")) if failed.exists() else []


class RestSystem:
    """Tatarstan's system: sends and reports over the REST adapter, pulls its inbox."""

    def __init__(self, base: str, token: str) -> None:
        self.base = base
        self.headers = {"Authorization": f"Bearer {token}"}
        self._seen: set[str] = set()

    async def send(self, session: aiohttp.ClientSession, package: Package) -> list[str]:
        document = package.payload
        assert isinstance(document, Document)
        form = aiohttp.FormData(quote_fields=False)
        form.add_field("document", json.dumps(render(document), ensure_ascii=False),
                       content_type="application/json")  # fmt: skip
        handles = []
        try:
            for ref in document.files:
                handle = package.files[ref.id].open("rb")
                handles.append(handle)
                form.add_field(ref.id, handle, filename=ref.name,
                               content_type="application/octet-stream")  # fmt: skip
            headers = {**self.headers, "Idempotency-Key": document.uid}
            async with session.post(f"{self.base}/documents", data=form, headers=headers) as r:
                body = await r.json()
                if r.status != 202:
                    raise RuntimeError(f"REST adapter refused the document: {body}")
                return list(body["message_ids"])
        finally:
            for handle in handles:
                handle.close()

    async def report(self, session: aiohttp.ClientSession, note: Notification) -> None:
        headers = {**self.headers, "Idempotency-Key": f"note-{note.document_uid}-{note.kind}"}
        async with session.post(f"{self.base}/notifications", json=to_json(note),
                                headers=headers) as r:  # fmt: skip
            if r.status != 202:
                raise RuntimeError(f"REST adapter refused the notification: {await r.text()}")

    async def arrived(self, session: aiohttp.ClientSession) -> list[tuple[str, dict[str, Any]]]:
        """New inbox messages (id, sidecar), acknowledged once read."""
        try:
            async with session.get(f"{self.base}/inbox", headers=self.headers) as r:
                if r.status != 200:
                    return []
                listed = (await r.json())["messages"]
        except aiohttp.ClientError:
            return []
        found = []
        for summary in listed:
            message_id = str(summary["id"])
            if message_id in self._seen:
                continue
            async with session.get(f"{self.base}/inbox/{message_id}", headers=self.headers) as r:
                detail = await r.json()
            async with session.post(f"{self.base}/inbox/{message_id}/ack",
                                    headers=self.headers) as r:  # fmt: skip
                r.raise_for_status()
            self._seen.add(message_id)
            found.append((message_id, detail))
        return found


class LocalSystems:
    """The four participants' own systems."""

    def __init__(self, network: DemoNetwork) -> None:
        scratch = network.root / "scratch"
        self.delo = FolderSystem(
            "ДЕЛО",
            SevAdapter(SevAdapter.Config(outgoing=network.delo.out, incoming=network.delo.in_),
                       OfflineContext(scratch / "sev")),
            network.delo,
        )  # fmt: skip
        self.drop = FolderSystem(
            "drop folder",
            FilesystemAdapter(FilesystemAdapter.Config(outgoing=network.drop.out,
                                                       incoming=network.drop.in_),
                              OfflineContext(scratch / "filesystem")),
            network.drop,
        )  # fmt: skip
        self.medo = FolderSystem(
            "МЭДО",
            MedoAdapter(MedoAdapter.Config(outgoing=network.medo.out, incoming=network.medo.in_),
                        OfflineContext(scratch / "medo")),
            network.medo,
        )  # fmt: skip
        self.rest = RestSystem(network.rest_url, network.rest_token)


def registration_note(
    document: Document, message_id: str, number: str, author: Organization
) -> Notification:
    return Notification(
        kind=NotificationKind.REGISTERED,
        document_uid=document.uid,
        message_id=message_id,
        time=dt.datetime.now(dt.UTC).replace(microsecond=0),
        registration=Registration(number, dt.datetime.now(dt.UTC).date()),
        author=author,
    )


def refusal_note(document: Document, message_id: str, reason: str, comment: str,
                 author: Organization) -> Notification:  # fmt: skip
    return Notification(
        kind=NotificationKind.REFUSED,
        document_uid=document.uid,
        message_id=message_id,
        time=dt.datetime.now(dt.UTC).replace(microsecond=0),
        reason=reason,
        comment=comment,
        author=author,
    )


def new_uid() -> str:
    return str(uuid.uuid4())
