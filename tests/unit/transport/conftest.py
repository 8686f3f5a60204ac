"""Fixtures: ru-61 sends to ru-14 over real HTTP on 127.0.0.1, both in this process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.receiver import Receiver
from gateway.store.blobs import FilesystemBlobStore
from gateway.transport import wire
from gateway.transport.client import Client
from gateway.transport.server import wire_app
from tests.unit.transport.harness import MemoryStore, Network, Peer, memory_store, mounted, serve


@pytest.fixture(scope="session")
def network() -> Network:
    return Network.build()


@dataclass
class Wire:
    """A receiving gateway (ru-14) listening, and a sending one (ru-61) with its client."""

    network: Network
    url: str  # the receiver's wire endpoint
    store: MemoryStore  # the receiver's
    receiver: Receiver
    sender_blobs: FilesystemBlobStore
    session: aiohttp.ClientSession
    client: Client

    @property
    def peer(self) -> Peer:
        return Peer("ru-14", self.url)

    @property
    def blob_root(self) -> Path:
        return self.store.blobs.root


MakeWire = Callable[..., AbstractAsyncContextManager[Wire]]


@pytest.fixture()
def make_wire(network: Network, tmp_path: Path) -> MakeWire:
    """``async with make_wire(limits=…, clock=…) as w``: a fresh receiver and client."""
    count = 0

    @asynccontextmanager
    async def make(**receiver_options: Any) -> AsyncIterator[Wire]:
        nonlocal count
        count += 1
        folder = tmp_path / f"wire-{count}"
        store = memory_store(folder / "ru-14")
        receiver = Receiver(
            "ru-14", network.signers["ru-14"], network.trust, store, **receiver_options
        )
        sender_blobs = FilesystemBlobStore(folder / "ru-61" / "blobs")
        async with serve(mounted(wire_app(receiver))) as base, aiohttp.ClientSession() as session:
            client = Client(session, sender_blobs, network.trust, "ru-61")
            yield Wire(network, base + wire.PATH, store, receiver, sender_blobs, session, client)

    return make


@pytest.fixture()
async def w(make_wire: MakeWire) -> AsyncIterator[Wire]:
    async with make_wire() as made:
        yield made
