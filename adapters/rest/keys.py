"""What the REST adapter's handlers share: its settings and the application keys, in one place."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from adapters.rest.handover import Handover
from adapters.rest.inbox import Inbox
from gateway.api.auth import Tokens


@dataclass(frozen=True)
class Settings:
    spool: Path  # where submitted files are streamed until the gateway has taken them
    max_document_bytes: int
    max_file_bytes: int
    max_request_bytes: int
    max_files: int
    queue_timeout: float
    public_url: str | None  # the base of file URLs; None: the address a request came to


SETTINGS = web.AppKey("rest.settings", Settings)
TOKENS = web.AppKey("rest.tokens", Tokens)
HANDOVER = web.AppKey("rest.handover", Handover)
INBOX = web.AppKey("rest.inbox", Inbox)

CALLER = "rest.caller"  # context key: the local system (token name) that submitted an item


def caller(request: web.Request) -> str:
    """The name of the local system whose token the request carries (AuthError if none)."""
    return request.app[TOKENS].caller(request.headers.get("Authorization"))
