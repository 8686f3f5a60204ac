"""The store under test, once per backend: the contract suite runs against each of them.

A new backend joins by adding its name to ``BACKENDS`` and a branch in ``open_backend``.
PostgreSQL tests skip without a server (see ``tests/postgres.py``), or fail under
``GATEWAY_REQUIRE_POSTGRES=1``; each opened folder maps to its own schema, so that a test that
reopens a store by its folder finds its data again.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.store.api import Store
from gateway.store.sqlite import SqliteStore
from tests import postgres

BACKENDS = ["sqlite", "postgres"]

_schemas: set[str] = set()


async def open_backend(name: str, folder: Path) -> Store:
    if name == "sqlite":
        return await SqliteStore.open(folder)
    if name == "postgres":
        from gateway.store.postgres.store import PostgresStore

        postgres.require_postgres()
        schema = "gwtest_" + hashlib.sha256(str(folder).encode()).hexdigest()[:16]
        url = await postgres.create_schema(schema)
        _schemas.add(schema)
        return await PostgresStore.open(url)
    raise AssertionError(f"unknown backend {name}")


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    opened = await open_backend(request.param, tmp_path / "data")
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture(autouse=True)
async def _drop_schemas() -> AsyncIterator[None]:
    """Schemas made during a test are dropped after it."""
    yield
    while _schemas:
        await postgres.drop_schema(_schemas.pop())
