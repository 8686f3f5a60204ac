"""The wire endpoint, ``POST /gw/v1/messages``: HTTP in, :class:`~gateway.receiver.Receiver` does
the rest.

This is one of the two modules that import ``aiohttp.web`` (the other is the app factory). It
owns what is HTTP about accepting a message: the media type, the request's declared length, the
multipart reader and its idle timeout, admission (at most ``Limits.max_concurrent`` requests in
progress; the next gets 503 with Retry-After at once, never a queue), and the ONE place where
errors become answers: a refusal (GatewayError, 4xx) becomes a signed error document with the
error's status; a storage failure becomes 503 (the sender retries); anything else becomes a
bare 500 whose body names a log reference and nothing of the internals.

:func:`wire_app` returns a sub-application, meant to be mounted at :data:`wire.PREFIX`
(``app.add_subapp(wire.PREFIX, wire_app(receiver))``), so that its middlewares apply to the wire
route only and never to the operator API.
"""

from __future__ import annotations

import base64
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from aiohttp import hdrs, web
from aiohttp.helpers import parse_mimetype

from gateway.errors import GatewayError
from gateway.receiver import Answer, Inbound, Receiver
from gateway.store.api import StoreError
from gateway.transport import multipart, wire
from gateway.transport.wire import WireError

log = logging.getLogger(__name__)

RECEIVER: Final = web.AppKey("gateway.wire.receiver", Receiver)

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class _Gate:
    """Requests in progress against the limit; one event loop, so a plain counter will do."""

    limit: int
    busy: int = 0


_GATE: Final = web.AppKey("gateway.wire.gate", _Gate)
_INBOUND: Final = web.RequestKey("gateway.wire.inbound", Inbound)


def wire_app(receiver: Receiver) -> web.Application:
    """The wire endpoint as a sub-application (route :data:`wire.MESSAGES`), limits from
    ``receiver.limits``."""
    app = web.Application(middlewares=[_admission, _answers])
    app[RECEIVER] = receiver
    app[_GATE] = _Gate(receiver.limits.max_concurrent)
    app.router.add_post(wire.MESSAGES, _post_message)
    return app


async def _post_message(request: web.Request) -> web.StreamResponse:
    receiver = request.app[RECEIVER]
    limits = receiver.limits
    mimetype = parse_mimetype(request.headers.get(hdrs.CONTENT_TYPE, ""))
    if (mimetype.type, mimetype.subtype) != ("multipart", wire.MULTIPART_SUBTYPE):
        raise WireError(
            f"the request must be multipart/{wire.MULTIPART_SUBTYPE}, not "
            f"{mimetype.type or '(none)'}/{mimetype.subtype or '(none)'}",
            code="request.unsupported_media_type",
            http_status=415,
        )
    declared = request.content_length
    if declared is not None and declared > limits.max_request_bytes:
        raise WireError(
            f"the request declares {declared:,} bytes, over the limit of "
            f"{limits.max_request_bytes:,}",
            code="request.too_large",
            http_status=413,
        )
    boundary = multipart.boundary_of(mimetype.parameters)
    inbound = request[_INBOUND] = Inbound()
    async with multipart.parts(request.content, boundary, limits.read_timeout) as parts:
        answer = await receiver.receive(parts, inbound)
    return _signed(answer, 200)


@web.middleware
async def _admission(request: web.Request, handler: _Handler) -> web.StreamResponse:
    gate = request.app[_GATE]
    if gate.busy >= gate.limit:
        log.warning("overloaded (%d requests in progress): 503 to %s", gate.busy, request.remote)
        return _unavailable(request, "the gateway is busy; try again later")
    gate.busy += 1
    try:
        return await handler(request)
    finally:
        gate.busy -= 1


@web.middleware
async def _answers(request: web.Request, handler: _Handler) -> web.StreamResponse:
    """The one place where errors become HTTP answers (STYLE 6)."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except ConnectionError:
        # The peer went away mid-request; there is nobody to answer, and nothing was stored.
        log.info("%s disconnected before its request was read", request.remote)
        raise
    except StoreError as error:  # before GatewayError: a storage failure is ours, not a refusal
        log.error("storage failed while receiving from %s: %s", request.remote, error)
        return _unavailable(request, "the gateway cannot store messages right now")
    except GatewayError as error:
        inbound = request.get(_INBOUND) or Inbound()
        if error.http_status >= 500:
            return _internal(request, error)
        log.warning(
            "refused message %s from %s with %d: %s",
            inbound.message_id or "(unread)",
            inbound.sender or request.remote,
            error.http_status,
            error,
        )
        try:
            answer = request.app[RECEIVER].refusal(error, message_id=inbound.message_id)
        except Exception as exc:
            return _internal(request, exc)
        return _signed(answer, error.http_status)
    except Exception as exc:
        return _internal(request, exc)


def _signed(answer: Answer, status: int) -> web.Response:
    response = web.Response(
        status=status, body=answer.document, content_type=wire.ANSWER_MEDIA_TYPE
    )
    response.headers[wire.SIGNATURE_HEADER] = base64.b64encode(answer.signature).decode("ascii")
    return response


def _unavailable(request: web.Request, text: str) -> web.Response:
    limits = request.app[RECEIVER].limits
    return web.Response(status=503, text=text, headers={hdrs.RETRY_AFTER: str(limits.retry_after)})


def _internal(request: web.Request, exc: BaseException) -> web.Response:
    reference = uuid.uuid4().hex[:12]
    inbound = request.get(_INBOUND) or Inbound()
    log.error(
        "internal error %s while receiving message %s from %s",
        reference,
        inbound.message_id or "(unread)",
        inbound.sender or request.remote,
        exc_info=exc,
    )
    return web.Response(status=500, text=f"internal error (reference {reference})")
