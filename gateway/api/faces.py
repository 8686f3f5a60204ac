"""The routes people and monitoring see: operator API, its OpenAPI document, ``/metrics``, and
the console's static files.

The console is plain HTML, CSS and JavaScript shipped inside the package (no CDN, no build
step), so it works on a gateway with no internet access. Its shell is public and holds no data;
everything it shows comes from the operator API with the operator's token
(:mod:`gateway.api.guard`).
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway.api import openapi, operator
from gateway.appkeys import METRICS, STORE

CONSOLE = Path(__file__).resolve().parent.parent / "console"


def add_routes(app: web.Application) -> None:
    app.router.add_routes(operator.routes())
    app.router.add_get(f"{operator.PREFIX}/openapi.json", _openapi)
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/", _to_console)
    app.router.add_get("/console/", _console_index)
    app.router.add_static("/console/static/", CONSOLE / "static", follow_symlinks=False)


async def _openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi.document())


async def _metrics(request: web.Request) -> web.Response:
    metrics = request.app[METRICS]
    await metrics.refresh(request.app[STORE])
    body = generate_latest(metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _to_console(request: web.Request) -> web.Response:
    raise web.HTTPFound("/console/")


async def _console_index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(
        CONSOLE / "index.html",
        headers={
            "Cache-Control": "no-store",
            # Everything comes from this gateway; nothing inline runs but our own files.
            "Content-Security-Policy": (
                "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                "script-src 'self'; connect-src 'self'; frame-ancestors 'none'"
            ),
            "X-Content-Type-Options": "nosniff",
        },
    )
