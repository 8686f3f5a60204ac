"""The REST adapter's own small HTTP application (not the gateway's operator API).

Routes, all under ``/local/v1/``; every one but ``healthz`` needs ``Authorization: Bearer
<token>`` of a local system (``tokens_file``). Errors are JSON ``{"code", "message"}`` with a
stable code, mapped in one middleware::

    GET  /local/v1/healthz                          no token
    POST /local/v1/documents                        submit.documents (multipart)
    POST /local/v1/notifications                    submit.notifications (JSON)
    GET  /local/v1/inbox                            exported messages not yet acknowledged
    GET  /local/v1/inbox/{id}                       one message: its sidecar, files as URLs
    GET  /local/v1/inbox/{id}/files/{file_id}       one file's bytes
    POST /local/v1/inbox/{id}/ack                   acknowledge (idempotent)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import quote

from aiohttp import web

from adapters.api import FormatError
from adapters.rest import submit
from adapters.rest.handover import Handover
from adapters.rest.inbox import Inbox
from adapters.rest.keys import HANDOVER, INBOX, SETTINGS, TOKENS, Settings, caller
from gateway.api.auth import Tokens
from gateway.errors import GatewayError

log = logging.getLogger(__name__)

PREFIX = "/local/v1"
HEALTHZ = f"{PREFIX}/healthz"
MAX_LIST = 1000

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class NotFound(GatewayError):
    """There is no such message or file in the inbox."""

    code = "rest.not_found"
    http_status = 404


def make_app(
    settings: Settings, tokens: Tokens, handover: Handover, inbox: Inbox
) -> web.Application:
    app = web.Application(middlewares=[_json_errors, _authenticated])
    app[SETTINGS] = settings
    app[TOKENS] = tokens
    app[HANDOVER] = handover
    app[INBOX] = inbox
    app.router.add_get(HEALTHZ, _healthz)
    app.router.add_post(f"{PREFIX}/documents", submit.documents)
    app.router.add_post(f"{PREFIX}/notifications", submit.notifications)
    app.router.add_get(f"{PREFIX}/inbox", _inbox)
    app.router.add_get(f"{PREFIX}/inbox/{{id}}", _message)
    app.router.add_get(f"{PREFIX}/inbox/{{id}}/files/{{file_id}}", _file)
    app.router.add_post(f"{PREFIX}/inbox/{{id}}/ack", _ack)
    return app


@web.middleware
async def _json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except GatewayError as exc:
        headers = {"Retry-After": "5"} if exc.http_status == 503 else {}
        if exc.http_status == 401:
            headers["WWW-Authenticate"] = "Bearer"
        return web.json_response(
            {"code": exc.code, "message": exc.message}, status=exc.http_status, headers=headers
        )
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = {404: "rest.not_found", 405: "rest.method_not_allowed"}.get(exc.status)
        return web.json_response(
            {"code": code or f"rest.http_{exc.status}", "message": exc.reason},
            status=exc.status,
            headers={k: v for k, v in exc.headers.items() if k.lower() == "allow"},
        )


@web.middleware
async def _authenticated(request: web.Request, handler: Handler) -> web.StreamResponse:
    # Every path but healthz, routed or not: an unknown path does not tell a stranger it is one.
    if request.path != HEALTHZ:
        caller(request)
    return await handler(request)


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "alive"})


async def _inbox(request: web.Request) -> web.Response:
    try:
        limit = min(max(int(request.query.get("limit", "100")), 1), MAX_LIST)
    except ValueError:
        raise FormatError("limit must be a whole number", code="rest.bad_query") from None
    messages = await asyncio.to_thread(request.app[INBOX].waiting, limit)
    return web.json_response({"messages": messages})


async def _message(request: web.Request) -> web.Response:
    message_id = request.match_info["id"]
    data = await asyncio.to_thread(request.app[INBOX].message, message_id, base_url(request))
    if data is None:
        raise NotFound(f"no message {message_id!r} in the inbox")
    return web.json_response(data)


async def _file(request: web.Request) -> web.StreamResponse:
    message_id, file_id = request.match_info["id"], request.match_info["file_id"]
    found = await asyncio.to_thread(request.app[INBOX].file, message_id, file_id)
    if found is None:
        raise NotFound(f"message {message_id!r} has no file {file_id!r} in the inbox")
    path, entry = found
    disposition = f"attachment; filename*=UTF-8''{quote(entry['name'], safe='')}"
    return web.FileResponse(
        path,
        headers={
            "Content-Type": entry.get("media_type") or "application/octet-stream",
            "Content-Disposition": disposition,
        },
    )


async def _ack(request: web.Request) -> web.Response:
    message_id = request.match_info["id"]
    if not await asyncio.to_thread(request.app[INBOX].ack, message_id):
        raise NotFound(f"no message {message_id!r} in the inbox")
    log.info("message %s acknowledged by %s", message_id, caller(request))
    return web.json_response({"id": message_id, "acknowledged": True})


def base_url(request: web.Request) -> str:
    """Where file URLs point: ``public_url`` if configured, else where this request came."""
    return request.app[SETTINGS].public_url or str(request.url.origin())
