"""Who may call what: one middleware in front of every route (DESIGN §11).

Default deny: a route is open only if it is on the short public list below — the health
probes, the console's static shell (it holds no data; every figure it shows comes from the
operator API with the operator's token), and the wire endpoint, which authenticates each
message by its envelope signature instead. The local API checks the local systems' tokens
itself; everything else, including routes added later, needs an operator token. Tokens are
compared in constant time and never logged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from gateway.api.auth import AuthError, Tokens

OPERATOR = web.RequestKey("operator", str)
OPERATORS = web.AppKey("operators", Tokens)

PUBLIC_PATHS = frozenset({"/", "/healthz", "/readyz"})
PUBLIC_PREFIXES = ("/console/", "/gw/v1/")
LOCAL_PATHS = frozenset({"/api/v1/outbox"})  # local systems' tokens, checked by the handler

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES) or path in LOCAL_PATHS


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    if is_public(request.path):
        return await handler(request)
    tokens = request.app.get(OPERATORS)
    if tokens is None:
        raise AuthError(
            "the operator API is off on this gateway: set [api] operator_tokens_file"
        )
    request[OPERATOR] = tokens.caller(request.headers.get("Authorization"))
    return await handler(request)
