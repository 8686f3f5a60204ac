"""Contract: correlations kept for adapters, and finding a document's inbound message."""

from __future__ import annotations

from pathlib import Path

from gateway.store.api import Direction, Store
from tests.unit.store.conftest import BACKENDS, open_backend
from tests.unit.store.messages import new_message


async def test_a_correlation_is_kept_replaced_and_scoped(store: Store) -> None:
    assert await store.get_correlation("context:sev", "doc-1") is None

    await store.put_correlation("context:sev", "doc-1", '{"sev.return_id": "R-1"}')
    await store.put_correlation("origin", "doc-1", "sev")

    assert await store.get_correlation("context:sev", "doc-1") == '{"sev.return_id": "R-1"}'
    assert await store.get_correlation("origin", "doc-1") == "sev"
    await store.put_correlation("origin", "doc-1", "medo")
    assert await store.get_correlation("origin", "doc-1") == "medo"
    assert await store.get_correlation("origin", "doc-2") is None


async def test_correlations_survive_a_restart(tmp_path: Path) -> None:
    for backend in BACKENDS:
        folder = tmp_path / backend
        store = await open_backend(backend, folder)
        await store.put_correlation("context:sev", "документ-1", "ReturnID=77")
        await store.close()
        store = await open_backend(backend, folder)
        try:
            assert await store.get_correlation("context:sev", "документ-1") == "ReturnID=77"
        finally:
            await store.close()


async def test_find_inbound_returns_the_newest_inbound_message_of_a_document(store: Store) -> None:
    older = new_message(Direction.IN, document_uid="doc-x", peer="ru-61")
    newer = new_message(Direction.IN, document_uid="doc-x", peer="ru-16")
    outbound = new_message(Direction.OUT, document_uid="doc-x")
    await store.add_inbound(older, b"r", b"s", actor="peer:ru-61")
    await store.add_inbound(newer, b"r", b"s", actor="peer:ru-16")
    await store.add_outbound(outbound, actor="local")

    found = await store.find_inbound("doc-x")

    assert found is not None and found.message_id == newer.message_id
    assert await store.find_inbound("doc-unknown") is None
