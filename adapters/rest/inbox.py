"""The REST inbox: exported messages waiting for the local system to fetch and acknowledge.

Each message is a drop item (``message.json`` + files, :mod:`adapters.filesystem.item`)
published atomically as ``new/<message id>/``; acknowledging moves it to ``acked/``. Export
checks both, so a message the local system already acknowledged is never offered again when
the gateway repeats an export after a crash. Acknowledged messages stay on disk until an
operator removes them (they are the local system's evidence of what it was given).

All methods do file I/O: call them in a thread.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from adapters.api import Package
from adapters.filesystem.item import item_name, write_item
from adapters.filesystem.sidecar import SIDECAR
from adapters.folders import publish
from gateway.store.durable import fsync_path

NEW = "new"
ACKED = "acked"


class Inbox:
    def __init__(self, root: Path) -> None:
        self.new = root / NEW
        self.acked = root / ACKED
        self.new.mkdir(parents=True, exist_ok=True)
        self.acked.mkdir(parents=True, exist_ok=True)
        self._summaries: dict[str, dict[str, Any]] = {}  # published items never change

    def publish(self, message_id: str, package: Package) -> tuple[Path, str]:
        """Publish ``package`` (its context naming ``message_id``); the item's path and
        ``"written"``, ``"present"`` (published before) or ``"acknowledged"``."""
        name = item_name(message_id)
        if (self.acked / name).is_dir():
            return self.acked / name, "acknowledged"
        path, written = publish(self.new, name, functools.partial(write_item, package))
        return path, "written" if written else "present"

    def waiting(self, limit: int) -> list[dict[str, Any]]:
        """Summaries of the messages not yet acknowledged, oldest first."""
        summaries = []
        for entry in os.scandir(self.new):
            if entry.name.startswith(".") or not entry.is_dir(follow_symlinks=False):
                continue
            summary = self._summaries.get(entry.name)
            if summary is None:
                try:
                    summary = _summary(_load(Path(entry.path)))
                except FileNotFoundError:
                    continue  # acknowledged meanwhile
                self._summaries[entry.name] = summary
            summaries.append(summary)
        summaries.sort(key=lambda s: (dt.datetime.fromisoformat(s["created"]), s["id"]))
        return summaries[:limit]

    def find(self, message_id: str) -> Path | None:
        """The folder of a message, waiting or acknowledged."""
        name = item_name(message_id)
        for folder in (self.new, self.acked):
            path = folder / name
            try:
                data = _load(path)
            except FileNotFoundError:
                continue
            if data.get("context", {}).get("gateway.message_id") == message_id:
                return path
        return None

    def message(self, message_id: str, base_url: str) -> dict[str, Any] | None:
        """The message as the REST API shows it: its sidecar, files given by URL."""
        path = self.find(message_id)
        return None if path is None else with_urls(_load(path), message_id, base_url)

    def file(self, message_id: str, file_id: str) -> tuple[Path, Mapping[str, Any]] | None:
        """The path and sidecar entry of one file of a message."""
        path = self.find(message_id)
        if path is None:
            return None
        for entry in _load(path).get("document", {}).get("files", []):
            if entry["id"] == file_id:
                return path / (entry.get("file") or entry["name"]), entry
        return None

    def ack(self, message_id: str) -> bool:
        """Move a message to ``acked/``; True if it is acknowledged now (or was before)."""
        path = self.find(message_id)
        if path is None:
            return False
        if path.parent == self.acked:
            return True
        try:
            os.rename(path, self.acked / path.name)
        except FileNotFoundError:  # a concurrent ack won
            return (self.acked / path.name).is_dir()
        fsync_path(self.new)
        fsync_path(self.acked)
        self._summaries.pop(path.name, None)
        return True


def with_urls(data: Mapping[str, Any], message_id: str, base_url: str) -> dict[str, Any]:
    """A stored sidecar as the API shows it: each file entry's ``file`` (a detail of the
    folder) replaced by ``url``, where the file can be fetched."""
    shown = dict(data)
    document = data.get("document")
    if document is not None:
        files = []
        for entry in document.get("files", []):
            entry = {k: v for k, v in entry.items() if k != "file"}
            entry["url"] = file_url(base_url, message_id, entry["id"])
            files.append(entry)
        shown["document"] = {**document, "files": files}
    return shown


def file_url(base_url: str, message_id: str, file_id: str) -> str:
    return (
        f"{base_url.rstrip('/')}/local/v1/inbox/{quote(message_id, safe='')}"
        f"/files/{quote(file_id, safe='')}"
    )


def _summary(data: Mapping[str, Any]) -> dict[str, Any]:
    context = data.get("context", {})
    summary: dict[str, Any] = {
        "id": context["gateway.message_id"],
        "sender": context["gateway.sender"],
        "created": context["gateway.created"],
    }
    if "document" in data:
        document = data["document"]
        summary |= {"type": "document", "kind": document["kind"], "document_uid": document["uid"]}
        if "registration" in document:
            summary["number"] = document["registration"]["number"]
            summary["date"] = document["registration"]["date"]
        if "title" in document:
            summary["title"] = document["title"]
    else:
        notification = data["notification"]
        summary |= {
            "type": "notification",
            "kind": notification["kind"],
            "document_uid": notification["document_uid"],
        }
    return summary


def _load(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / SIDECAR).read_bytes())
    return data
