"""Helpers for the REST adapter's tests: a running adapter, a gateway that takes its items, a
local system with a webhook, and multipart submissions — all real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from adapters.api import Incoming
from adapters.rest import RestAdapter
from adapters.rest.adapter import RestConfig
from adapters.testing import MemoryContext

TOKEN = "lab-token-0123456789abcdef"
OTHER_TOKEN = "registry-token-fedcba9876543210"
WEBHOOK_TOKEN = "webhook-secret-0123456789"


def tokens_file(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "tokens"
    path.write_text(f"# local systems\nlab:{TOKEN}\nregistry:{OTHER_TOKEN}\n", encoding="utf-8")
    path.chmod(0o600)
    return path


def webhook_token_file(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "webhook-token"
    path.write_text(WEBHOOK_TOKEN + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


def rest_config(tmp_path: Path, **options: Any) -> RestConfig:
    defaults: dict[str, Any] = {
        "tokens_file": tokens_file(tmp_path / "secrets"),
        "listen": "127.0.0.1:0",
        "inbox": tmp_path / "inbox",
        "queue_timeout": 10.0,
    }
    return RestConfig(**{**defaults, **options})


@asynccontextmanager
async def running(tmp_path: Path, **options: Any) -> AsyncIterator[RestAdapter]:
    adapter = RestAdapter(rest_config(tmp_path, **options), MemoryContext(tmp_path / "work"))
    await adapter.start()
    try:
        yield adapter
    finally:
        await adapter.close()


@asynccontextmanager
async def gateway(adapter: RestAdapter) -> AsyncIterator[Callable[[], Awaitable[Incoming]]]:
    """Act as the gateway: ``await take()`` is the next item of ``adapter.intake()``."""
    items = adapter.intake()

    async def take() -> Incoming:
        return await asyncio.wait_for(anext(items), 5)

    try:
        yield take
    finally:
        await items.aclose()


def auth(token: str = TOKEN, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **headers}


def form(sidecar: Any, files: dict[str, tuple[str, bytes]]) -> aiohttp.FormData:
    """A submission: the part ``document`` with the JSON, then one part per file id."""
    data = aiohttp.FormData(default_to_multipart=True)
    raw = (
        sidecar.decode() if isinstance(sidecar, bytes) else json.dumps(sidecar, ensure_ascii=False)
    )
    data.add_field("document", raw, content_type="application/json")
    for file_id, (name, content) in files.items():
        data.add_field(file_id, content, filename=name, content_type="application/octet-stream")
    return data


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str]


async def request(
    session: aiohttp.ClientSession, method: str, url: str, *, binary: bool = False, **kwargs: Any
) -> Answer:
    """The status, body (JSON, or bytes with ``binary``) and headers of one request."""
    async with session.request(method, url, **kwargs) as response:
        raw = await response.read()
        body = raw if binary or not raw else json.loads(raw)
        return Answer(response.status, body, dict(response.headers))


@dataclass
class LocalSystem:
    """A local system's webhook on 127.0.0.1, answering ``statuses`` in turn (then 200)."""

    url: str
    statuses: list[int]
    received: list[tuple[dict[str, str], Any]] = field(default_factory=list)


@asynccontextmanager
async def local_system(
    statuses: list[int], ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[LocalSystem]:
    system = LocalSystem(url="", statuses=list(statuses))

    async def hook(request: web.Request) -> web.Response:
        system.received.append((dict(request.headers), await request.json()))
        status = system.statuses.pop(0) if system.statuses else 200
        return web.json_response({"status": status}, status=status)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
        await site.start()
        scheme = "https" if ssl_context else "http"
        system.url = f"{scheme}://127.0.0.1:{runner.addresses[0][1]}/hook"
        yield system
    finally:
        await runner.cleanup()
