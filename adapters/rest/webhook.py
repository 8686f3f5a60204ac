"""Pushing an exported message to the local system's webhook.

The POST carries the message as ``GET /local/v1/inbox/{id}`` shows it (files as URLs of the
inbox, so a large file is never pushed inline), with ``Idempotency-Key: <message id>`` and
the configured bearer token. A short blip (connection refused or reset, a timeout, 5xx, 429)
is retried in-process a few times within about a second, as the gateway retries deliveries
(:func:`gateway.retry.with_blip_retries`: the same attempts and waits). If the webhook still
does not answer 2xx, :class:`WebhookError` — one of the adapter's recoverable errors — sends
the export back to the gateway's queue, and a later attempt posts again (the inbox copy is
already there, so only the POST is repeated).
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from yarl import URL

from adapters.api import AdapterError
from gateway.retry import with_blip_retries

MAX_ERROR_BODY = 300


class WebhookError(AdapterError):
    """The local system's webhook did not take the message; the gateway will try again."""

    code = "rest.webhook_failed"


@dataclass(frozen=True)
class Attempt:
    """What one POST came to: an HTTP status, or the error that stopped it."""

    status: int | None = None
    detail: str = ""
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def transient(self) -> bool:
        return self.status is None or self.status >= 500 or self.status == 429


class Webhook:
    def __init__(
        self, url: str, token: str | None, timeout: float, ssl_context: ssl.SSLContext | None
    ) -> None:
        self.url = URL(url)
        self._token = token
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._ssl: ssl.SSLContext | bool = ssl_context if ssl_context is not None else True
        self._session: aiohttp.ClientSession | None = None

    @property
    def shown_url(self) -> str:
        """The URL without credentials or query, for messages and logs."""
        return str(self.url.with_user(None).with_query(None))

    async def post(self, message_id: str, body: Mapping[str, Any]) -> int:
        """POST ``body``; the status of the 2xx answer, or :class:`WebhookError`."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        session = self._session
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Idempotency-Key": message_id,
        }
        if self._token is not None:
            headers["Authorization"] = f"Bearer {self._token}"

        async def attempt() -> Attempt:
            try:
                async with session.post(
                    self.url, data=data, headers=headers, ssl=self._ssl, allow_redirects=False
                ) as response:
                    detail = await response.content.read(MAX_ERROR_BODY)
                    return Attempt(response.status, detail.decode("utf-8", "replace"))
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                return Attempt(error=exc, detail=f"{type(exc).__name__}: {exc}".strip())

        result = await with_blip_retries(attempt, lambda attempt: attempt.transient)
        if result.ok:
            assert result.status is not None
            return result.status
        what = f"answered {result.status}" if result.status is not None else "could not be reached"
        raise WebhookError(
            f"the webhook {self.shown_url} {what} for message {message_id}"
            + (f": {result.detail.strip()}" if result.detail.strip() else "")
        ) from result.error

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
