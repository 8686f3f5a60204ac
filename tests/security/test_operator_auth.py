"""Every route of the gateway needs a token unless it is on the short public list (DESIGN §11).

The routes are enumerated from the application's own route table (sub-applications included),
so a route added later is checked without anyone remembering to add it here.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from gateway import identity, localnet
from gateway.app import create_app
from gateway.localnet import Member, Node

# What may answer without an operator token, and why: health probes; the console's static shell
# (no data in it); the wire endpoint (each message is authenticated by its signature); the
# local API (local systems' own tokens, checked by its handler).
PUBLIC = {
    "GET /", "GET /healthz", "GET /readyz", "GET /console/", "GET /console/static",
    "POST /gw/v1/messages", "POST /api/v1/outbox",
}  # fmt: skip


def all_routes(app: web.Application) -> list[tuple[str, str]]:
    """(method, path) of every route, sub-applications included; HEAD is implied by GET."""
    found = []
    for resource in app.router.resources():
        sub = resource.get_info().get("app")
        if isinstance(sub, web.Application):
            found += all_routes(sub)  # its resources already carry the prefix
            continue
        for route in resource:
            if route.method in ("HEAD", "*"):
                continue
            found.append((route.method, resource.canonical))
    return sorted(set(found))


def concrete(path: str) -> str:
    path = re.sub(r"\{[^}]+\}", "x-1", path)
    return path + "/console.css" if path.endswith("/static") else path


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[tuple[TestClient[web.Request, web.Application], Node]]:
    port = localnet.free_ports(1)[0]
    nodes = localnet.build(tmp_path, [Member("ru-61", "Ростовская область", "6163000001", port)])
    node = nodes["ru-61"]
    tokens = node.folder / "api.tokens"
    tokens.write_text(f"local:{node.token}\n")
    app = await create_app(identity.load(node.config))
    async with TestClient(TestServer(app)) as test_client:
        yield test_client, node


async def test_every_route_but_the_public_ones_answers_401_without_a_valid_token(
    client: tuple[TestClient[web.Request, web.Application], Node],
) -> None:
    test_client, node = client
    routes = all_routes(test_client.app)
    assert len(routes) >= 15, routes  # the table really was read
    public = {f"{m} {p}" for m, p in routes} & PUBLIC
    assert public == PUBLIC, "a public route is missing from the app"
    checked = 0
    for method, path in routes:
        if f"{method} {path}" in PUBLIC:
            continue
        url = concrete(path)
        for headers in ({}, {"Authorization": "Bearer wrong-token-wrong-token"},
                        {"Authorization": f"Bearer {node.token}"},  # a local system's token
                        {"Authorization": f"Basic {node.operator_token}"}):  # fmt: skip
            async with test_client.request(method, url, headers=headers) as response:
                assert response.status == 401, (method, path, headers, await response.text())
                body = await response.json()
                assert body["code"] == "api.unauthorized"
                assert response.headers["WWW-Authenticate"].startswith("Bearer")
                assert node.operator_token not in await response.text()
        checked += 1
    assert checked >= 10
    # with the operator's token the same routes answer (a missing message is a 404, not a 401)
    for method, path in routes:
        if f"{method} {path}" in PUBLIC:
            continue
        async with test_client.request(
            method, concrete(path), headers={"Authorization": f"Bearer {node.operator_token}"}
        ) as response:
            assert response.status != 401, (method, path)
            assert response.status < 500, (method, path, await response.text())


async def test_the_public_routes_hold_no_data(
    client: tuple[TestClient[web.Request, web.Application], Node],
) -> None:
    test_client, node = client
    async with test_client.get("/healthz") as response:
        assert response.status == 200 and set(await response.json()) == {"status"}
    async with test_client.get("/console/") as response:
        assert response.status == 200
        page = await response.text()
        assert "Content-Security-Policy" in response.headers
    assert node.operator_token not in page and "ru-61" not in page
    async with test_client.get("/", allow_redirects=False) as response:
        assert response.status == 302 and response.headers["Location"] == "/console/"
    async with test_client.post("/gw/v1/messages", data=b"junk") as response:
        assert response.status >= 400  # the wire endpoint refuses what is not signed
    async with test_client.post("/api/v1/outbox", data=b"junk") as response:
        assert response.status == 401
    for escape in ("/console/static/../../app.py", "/console/static/%2E%2E/%2E%2E/app.py",
                   "/console/static/..%2F..%2Fapp.py"):  # fmt: skip
        async with test_client.get(escape) as response:
            assert response.status in (401, 403, 404), escape
            assert b"create_app" not in await response.read()
