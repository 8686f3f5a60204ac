"""Bad operator-API parameters get a 400 with a stable code and a message a person can act on;
nothing about them reaches the store as anything but a parameter."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from gateway import identity, localnet
from gateway.app import create_app
from gateway.localnet import Member

Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[tuple[Client, dict[str, str]]]:
    port = localnet.free_ports(1)[0]
    node = localnet.build(tmp_path, [Member("ru-61", "Ростов", "6163000001", port)])["ru-61"]
    app = await create_app(identity.load(node.config))
    async with TestClient(TestServer(app)) as test_client:
        yield test_client, {"Authorization": f"Bearer {node.operator_token}"}


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("limit=0", "limit"),
        ("limit=100000", "limit"),
        ("limit=ten", "limit"),
        ("state=lost", "state"),
        ("direction=sideways", "direction"),
        ("since=yesterday", "since"),
        ("until=2026-13-45", "until"),
    ],
)
async def test_a_bad_parameter_is_named_in_a_400(
    client: tuple[Client, dict[str, str]], query: str, named: str
) -> None:
    test_client, auth = client
    async with test_client.get(f"/api/v1/operator/messages?{query}", headers=auth) as response:
        assert response.status == 400
        body = await response.json()
    assert body["code"] == "api.bad_request"
    assert body["message"].startswith(f"{named}:"), body


async def test_hostile_search_text_is_only_a_value(client: tuple[Client, dict[str, str]]) -> None:
    test_client, auth = client
    for text in ("' OR 1=1 --", "%", "_", "\\", "ФМ-12345/06", "a" * 5000):
        async with test_client.get("/api/v1/operator/messages", params={"q": text},
                                   headers=auth) as response:  # fmt: skip
            assert response.status == 200, text
            assert (await response.json())["messages"] == []
    async with test_client.get("/api/v1/operator/messages/%27%20OR%201%3D1", headers=auth) as r:
        assert r.status == 404 and (await r.json())["code"] == "api.not_found"
