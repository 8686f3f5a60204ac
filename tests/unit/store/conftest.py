"""The store under test, once per backend: the contract suite runs against each of them.

A new backend joins by adding its name to ``BACKENDS`` and a branch in ``open_backend``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.store.api import Store
from gateway.store.sqlite import SqliteStore

BACKENDS = ["sqlite"]


async def open_backend(name: str, folder: Path) -> Store:
    if name == "sqlite":
        return await SqliteStore.open(folder)
    raise AssertionError(f"unknown backend {name}")


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    opened = await open_backend(request.param, tmp_path / "data")
    try:
        yield opened
    finally:
        await opened.close()
