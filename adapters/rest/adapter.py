"""HTTP for modern local systems: push documents in; pull messages out, or receive them by webhook.

Format:    JSON over HTTP; a document or notification as the ``gateway-drop/1`` sidecar of
           the filesystem adapter (docs/adapters/rest.md), files as multipart parts (in) and
           by URL (out); ``decode``/``encode`` read and write the same item folders as the
           filesystem adapter
Direction: both; documents and notifications
Receipts:  a submission is answered only after the gateway has committed it: 202 with the
           message ids, or its refusal with a stable code (400/422); an exported message
           waits in the inbox (``GET /local/v1/inbox``) until the local system acknowledges
           it (``POST /local/v1/inbox/{id}/ack``), and is also POSTed to ``webhook`` if set
Config keys:
  tokens_file          "name:token" lines, one per local system (required; mode 0600)
  listen               HOST:PORT of the adapter's own server ("127.0.0.1:8480"; port 0: any)
  public_url           base of the file URLs given out (default: the address of the request,
                       for webhooks http(s)://HOST:PORT of ``listen``)
  tls_certificate      PEM certificate chain to serve HTTPS (with tls_private_key; default off)
  tls_private_key      its private key
  webhook              URL to POST exported messages to (default: none, pull only)
  webhook_token_file   file holding the bearer token sent to the webhook (default: none)
  webhook_ca           PEM CA file to verify an https webhook (default: the system's CAs)
  webhook_timeout      seconds for one webhook POST (10.0)
  inbox                folder of exported messages (default: <work_dir>/inbox)
  max_document_bytes   the JSON of one document or notification (4 MiB)
  max_file_bytes       one file (1 GiB)
  max_request_bytes    one whole submission (4 GiB)
  max_files            files in one document (1000)
  max_pending          submissions waiting for the gateway at once (64)
  queue_timeout        seconds a submission waits for the gateway to take it, then 503 (30.0)
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import stat
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import aiohttp
from aiohttp import web
from yarl import URL

from adapters.api import Capabilities, Context, Incoming, Outgoing, Package
from adapters.filesystem.item import read_item, write_item
from adapters.filesystem.sidecar import export_context
from adapters.rest.handover import Handover
from adapters.rest.inbox import Inbox
from adapters.rest.keys import Settings
from adapters.rest.server import make_app
from adapters.rest.webhook import Webhook, WebhookError
from gateway.api.auth import Tokens
from gateway.errors import ConfigError
from gateway.transport.tls import client_context, server_context

log = logging.getLogger(__name__)

SHUTDOWN_SECONDS = 5.0
_COUNTS = ("max_document_bytes", "max_file_bytes", "max_request_bytes", "max_files", "max_pending")


@dataclass(frozen=True)
class RestConfig:
    tokens_file: Path
    listen: str = "127.0.0.1:8480"
    public_url: str | None = None
    tls_certificate: Path | None = None
    tls_private_key: Path | None = None
    webhook: str | None = None
    webhook_token_file: Path | None = None
    webhook_ca: Path | None = None
    webhook_timeout: float = 10.0
    inbox: Path | None = None
    max_document_bytes: int = 4 * 1024 * 1024
    max_file_bytes: int = 1024**3
    max_request_bytes: int = 4 * 1024**3
    max_files: int = 1000
    max_pending: int = 64
    queue_timeout: float = 30.0


class RestAdapter:
    name: ClassVar[str] = "rest"
    capabilities: ClassVar[Capabilities] = Capabilities(intake=True, export=True)
    recoverable_errors: ClassVar[tuple[type[BaseException], ...]] = (
        aiohttp.ClientError,
        asyncio.TimeoutError,
        OSError,
        WebhookError,
    )
    Config: ClassVar[type[RestConfig]] = RestConfig  # module level: see FilesystemAdapter

    def __init__(self, config: RestConfig, context: Context) -> None:
        self.config = config
        self.context = context
        self.host, self._port = _listen(config.listen)
        self.tokens = _tokens(config.tokens_file)
        for key in _COUNTS:
            if getattr(config, key) < 1:
                raise ConfigError("must be at least 1", key=key)
        for key in ("queue_timeout", "webhook_timeout"):
            if getattr(config, key) <= 0:
                raise ConfigError("must be more than 0 seconds", key=key)
        for key in ("webhook", "public_url"):
            value = getattr(config, key)
            if value is not None and not _http_url(value):
                raise ConfigError(f"{value!r} is not an http:// or https:// URL", key=key)
        if (config.tls_certificate is None) != (config.tls_private_key is None):
            raise ConfigError(
                "tls_certificate and tls_private_key go together", key="tls_private_key"
            )
        self._ssl = (
            server_context(config.tls_certificate, config.tls_private_key)
            if config.tls_certificate is not None and config.tls_private_key is not None
            else None
        )
        self.webhook = (
            Webhook(
                config.webhook,
                _secret(config.webhook_token_file) if config.webhook_token_file else None,
                config.webhook_timeout,
                client_context(ca=config.webhook_ca) if config.webhook_ca else None,
            )
            if config.webhook
            else None
        )
        self.spool = context.work_dir / "spool"
        self.inbox = Inbox(config.inbox or context.work_dir / "inbox")
        self.handover = Handover(config.max_pending)
        self.settings = Settings(
            spool=self.spool,
            max_document_bytes=config.max_document_bytes,
            max_file_bytes=config.max_file_bytes,
            max_request_bytes=config.max_request_bytes,
            max_files=config.max_files,
            queue_timeout=config.queue_timeout,
            public_url=config.public_url,
        )
        self.app: web.Application | None = None
        self._runner: web.AppRunner | None = None
        self._starting = asyncio.Lock()

    @property
    def port(self) -> int:
        """The port the server listens on (known once started, also for ``listen`` port 0)."""
        return self._port

    @property
    def base_url(self) -> str:
        """Where the local system reaches this adapter (``public_url``, else ``listen``)."""
        if self.config.public_url:
            return self.config.public_url.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self._ssl else 'http'}://{host}:{self.port}"

    async def start(self) -> None:
        """Start the server (once; intake and export call it)."""
        async with self._starting:
            if self._runner is not None:
                return
            # Files spooled by a previous run belong to submissions nobody answered 202.
            await asyncio.to_thread(shutil.rmtree, self.spool, ignore_errors=True)
            await asyncio.to_thread(self.spool.mkdir, parents=True, exist_ok=True)
            self.app = make_app(self.settings, self.tokens, self.handover, self.inbox)
            runner = web.AppRunner(
                self.app,
                access_log=None,
                shutdown_timeout=SHUTDOWN_SECONDS,
                lingering_time=2.0,  # not 10 s of reading a refused request's unread body
            )
            await runner.setup()
            try:
                site = web.TCPSite(runner, self.host, self._port, ssl_context=self._ssl)
                await site.start()
            except BaseException:
                await runner.cleanup()
                raise
            self._runner = runner
            self._port = runner.addresses[0][1]
            log.info("REST adapter listening on %s", self.base_url)

    async def intake(self) -> AsyncIterator[Incoming]:
        await self.start()
        while True:
            yield await self.handover.take()

    async def export(self, item: Outgoing) -> str:
        await self.start()
        message_id = item.message.message_id
        context = {**item.package.context, **export_context(item.message)}
        package = Package(item.package.payload, item.package.files, context)
        path, state = await asyncio.to_thread(self.inbox.publish, message_id, package)
        if state == "acknowledged":
            return f"already fetched and acknowledged ({path})"
        where = f"in the REST inbox ({path})"
        if self.webhook is None:
            return where
        shown = await asyncio.to_thread(self.inbox.message, message_id, self.base_url)
        if shown is None:  # acknowledged meanwhile: the local system has it
            return f"fetched and acknowledged ({path})"
        status = await self.webhook.post(message_id, shown)
        return f"{where}; the webhook {self.webhook.shown_url} answered {status}"

    def decode(self, source: Path) -> Package:
        return read_item(source)

    def encode(self, package: Package, target: Path) -> None:
        write_item(package, target)

    async def close(self) -> None:
        await self.handover.close()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
        if self.webhook is not None:
            await self.webhook.close()


def _listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ConfigError(
            f"{listen!r} is not HOST:PORT (an IPv6 host in brackets; port 0 picks a free one)",
            key="listen",
        )
    return host, int(port)


def _http_url(value: str) -> bool:
    url = URL(value)
    return url.scheme in ("http", "https") and bool(url.host)


def _tokens(path: Path) -> Tokens:
    try:
        return Tokens.load(path)
    except FileNotFoundError:
        raise ConfigError(f"{path} does not exist", key="tokens_file") from None
    except ConfigError as exc:  # Tokens names the gateway's own key; name ours
        raise ConfigError(exc.message.removeprefix(f"{exc.key}: "), key="tokens_file") from None


def _secret(path: Path) -> str:
    try:
        mode = path.stat().st_mode
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}", key="webhook_token_file") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"{path} is readable by others (mode {stat.S_IMODE(mode):o}); chmod 600 it",
            key="webhook_token_file",
        )
    if not token or "\n" in token:
        raise ConfigError(f"{path} must hold the token on one line", key="webhook_token_file")
    return token


if TYPE_CHECKING:  # mypy checks that the class keeps to the contract; nothing at run time
    from adapters.api import Adapter

    def _conforms(adapter: RestAdapter) -> Adapter:
        return adapter
