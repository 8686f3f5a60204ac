"""PostgreSQL for tests: where it is, whether it answers, and a fresh schema per test.

Tests that need PostgreSQL use :func:`require_postgres` (or the ``postgres_url`` fixtures
built on it). They SKIP, saying how to enable them, when no server answers — unless
``GATEWAY_REQUIRE_POSTGRES=1`` (CI sets it), when they FAIL instead. The server is
``GATEWAY_TEST_POSTGRES_URL``, by default ``postgresql://postgres@127.0.0.1:5432/test``
(trust authentication). Each test gets its own schema (``search_path`` in the URL), dropped
afterwards, so tests are isolated and can run again and again.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import os
import uuid

import asyncpg
import pytest

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
HOW = (
    "PostgreSQL tests need a server: start PostgreSQL on 127.0.0.1:5432 (trust auth, database "
    "'test') or set GATEWAY_TEST_POSTGRES_URL=postgresql://USER@HOST:PORT/DB"
)


def server_url() -> str:
    return os.environ.get("GATEWAY_TEST_POSTGRES_URL", DEFAULT_URL)


@functools.cache
def _unreachable() -> str | None:
    """Why the server cannot be used, or None when it answers."""

    async def probe() -> None:
        conn = await asyncpg.connect(server_url(), timeout=3)
        await conn.close()

    # In a thread of its own: the caller may be inside a running event loop (async fixtures).
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        try:
            pool.submit(lambda: asyncio.run(probe())).result()
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}"
    return None


def require_postgres() -> str:
    """The server's URL; skips (or, under GATEWAY_REQUIRE_POSTGRES=1, fails) without one."""
    problem = _unreachable()
    if problem is not None:
        message = f"{HOW} ({problem})"
        if os.environ.get("GATEWAY_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"GATEWAY_REQUIRE_POSTGRES=1 but no PostgreSQL: {message}")
        pytest.skip(message)
    return server_url()


def with_schema(url: str, schema: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}search_path={schema}"


def new_schema_name(prefix: str = "gwtest") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


async def create_schema(schema: str) -> str:
    """Create ``schema`` (if new); the URL whose connections use it."""
    conn = await asyncpg.connect(server_url())
    try:
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    finally:
        await conn.close()
    return with_schema(server_url(), schema)


async def drop_schema(schema: str) -> None:
    conn = await asyncpg.connect(server_url())
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()
