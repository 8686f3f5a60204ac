"""The gateway application: one factory, every resource with one lifecycle (STYLE §6).

:func:`create_app` opens the store (the wire endpoint needs it to exist), then builds the
aiohttp application: the signed wire endpoint ``/gw/v1/messages`` (authenticated by envelope
signatures), the local/operator API under ``/api/v1`` (bearer tokens), ``/healthz`` and
``/readyz``. Long-running work — delivery and hand-off — runs as tasks in ``cleanup_ctx``; on
shutdown (SIGTERM) they stop taking new work, finish what is in flight, and the store closes
last. A gateway running on the embedded store takes a lock on its data folder, so a second
process cannot run against the same database.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

import aiohttp
from aiohttp import web

from gateway.api import faces, outbox
from gateway.api.auth import Tokens
from gateway.api.guard import OPERATORS, guard
from gateway.appkeys import (
    ACTIVITY,
    ADAPTERS,
    DELIVERY,
    HANDOFF,
    IDENTITY,
    INTAKE,
    METRICS,
    STOPPING,
    STORE,
    TOKENS,
)
from gateway.bridge import AdapterHost
from gateway.config import Participant
from gateway.delivery import DeliveryWorker
from gateway.errors import GatewayError
from gateway.handoff import FolderSink, HandoffWorker
from gateway.identity import Identity
from gateway.intake import Intake
from gateway.metrics import Activity, Metrics
from gateway.receiver import Receiver
from gateway.store import GC_INTERVAL, is_shared, open_store
from gateway.store.api import MessageRecord, Store, StoreError
from gateway.transport import wire
from gateway.transport.client import Client, Result
from gateway.transport.server import wire_app
from gateway.transport.tls import client_context, server_context

log = logging.getLogger(__name__)

READY = web.AppKey("ready", asyncio.Event)
DRAIN_SECONDS = 30.0  # how long shutdown waits for deliveries and hand-offs in flight
IO_THREADS = 32
BLOB_GRACE = dt.timedelta(hours=24)  # an unreferenced blob younger than this is kept


def serve(identity: Identity) -> None:
    """Run the gateway until SIGTERM/SIGINT, which end it gracefully: the workers drain, then
    the store closes."""
    config = identity.config
    tls = config.tls
    web.run_app(
        create_app(identity),
        host=config.listen_host,
        port=config.listen_port,
        ssl_context=(
            server_context(tls.certificate, tls.private_key, client_ca=tls.client_ca)
            if tls is not None
            else None
        ),
        print=None,
        shutdown_timeout=10,
        access_log=None,
        # aiohttp would keep reading a refused request's unread body for 10 s (passed on to
        # each connection's request handler)
        lingering_time=2.0,
    )


async def create_app(identity: Identity, *, owner: str | None = None) -> web.Application:
    """The whole gateway for ``identity``'s configuration, its store open and locked."""
    config = identity.config
    owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
    # Blob and hand-off work is file I/O waiting on fsync: more threads than the default
    # (cores + 4) keep the disk busy while the event loop goes on.
    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(max_workers=IO_THREADS, thread_name_prefix="gateway-io")
    )
    store = await open_store(config.store, config.data_dir, lock=True)
    shared = is_shared(config.store)
    try:
        if not shared:
            # One node owns an embedded store: leases left by a killed predecessor come back
            # now. On a shared database other nodes hold live leases; a dead node's come back
            # through its missed heartbeats (gateway.store.postgres).
            released = await store.release_leases()
            if released:
                log.info("took back %d leases of a previous run", released)
        tokens = Tokens.load(config.api_tokens_file) if config.api_tokens_file else None
        operators = (
            Tokens.load(config.operator_tokens_file) if config.operator_tokens_file else None
        )
    except BaseException:
        await store.close()
        raise

    app = web.Application(
        middlewares=[_json_errors, guard], client_max_size=config.limits.max_request_bytes
    )
    app[IDENTITY] = identity
    app[STORE] = store
    app[STOPPING] = asyncio.Event()
    app[READY] = asyncio.Event()
    folder = FolderSink(config.handoff_folder or config.data_dir / "inbox")
    handoff = HandoffWorker(store, folder, owner=owner)
    app[HANDOFF] = handoff
    limits = wire.Limits(
        max_request_bytes=config.limits.max_request_bytes,
        max_concurrent=config.limits.max_concurrent,
        max_held_bytes=config.limits.max_held_bytes,
        read_timeout=config.limits.read_timeout,
        max_age=config.limits.max_age,
    )
    receiver = Receiver(config.participant, identity.signer, identity.trust, store, limits=limits,
                        on_accepted=handoff.wake)  # fmt: skip
    app.add_subapp(wire.PREFIX, wire_app(receiver))
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    if tokens is not None:
        app[TOKENS] = tokens
        app.router.add_post("/api/v1/outbox", outbox.submit)
    if operators is not None:
        app[OPERATORS] = operators
    metrics = Metrics()
    app[METRICS] = metrics
    app[ACTIVITY] = Activity(store)
    faces.add_routes(app)

    # The delivery worker and intake need the HTTP session, made in its own context below;
    # they are created here (the app cannot take new keys once started) and bound to it there.
    delivery = DeliveryWorker(
        store,
        _unbound_send,
        identity.router,
        config.participant,
        config.retry,
        owner=owner,
        on_local=handoff.wake,
        observe=metrics.delivery_outcome,
    )
    app[DELIVERY] = delivery
    app[INTAKE] = Intake(store, identity.signer, identity.router, config.participant,
                         config.retry, wake=delivery.wake)  # fmt: skip
    if config.adapters:
        try:
            host = AdapterHost.build(config, store, app[INTAKE], fallback=folder)
        except BaseException:
            await store.close()
            raise
        app[ADAPTERS] = host
        handoff.sink = host  # inbound messages now go to the local systems through adapters

    app.cleanup_ctx.append(_store_context)
    app.cleanup_ctx.append(_session_context)
    app.cleanup_ctx.append(_workers_context)
    return app


async def _unbound_send(record: MessageRecord, peer: Participant) -> Result:
    raise RuntimeError("the delivery worker ran before the HTTP session was made")


async def _store_context(app: web.Application) -> AsyncIterator[None]:
    yield
    await app[STORE].close()  # last: everything below has stopped using it


async def _session_context(app: web.Application) -> AsyncIterator[None]:
    identity = app[IDENTITY]
    tls = identity.config.tls
    # With [tls], peers' certificates are verified and ours is shown to them (mutual TLS).
    ssl_context = (
        client_context(ca=tls.ca, certificate=tls.certificate, private_key=tls.private_key)
        if tls is not None
        else None
    )
    connector = aiohttp.TCPConnector(
        limit=256,
        limit_per_host=identity.config.retry.per_peer_concurrency,
        ssl=ssl_context if ssl_context is not None else True,
    )
    async with aiohttp.ClientSession(connector=connector) as session:
        client = Client(session, app[STORE].blobs, identity.trust, identity.config.participant)
        app[DELIVERY].send = client.send
        yield


async def _workers_context(app: web.Application) -> AsyncIterator[None]:
    stop = app[STOPPING]
    tasks = [
        asyncio.create_task(app[DELIVERY].run(stop), name="delivery"),
        asyncio.create_task(app[HANDOFF].run(stop), name="hand-off"),
        asyncio.create_task(app[ACTIVITY].run(stop), name="activity"),
    ]
    if not is_shared(app[IDENTITY].config.store):
        # (database stores collect their own blobs, once per cluster)
        tasks.append(asyncio.create_task(_collect_blobs(app[STORE], stop), name="blob GC"))
    host = app.get(ADAPTERS)
    if host is not None:
        tasks.append(asyncio.create_task(host.run(stop), name="adapters"))
    app[READY].set()
    log.info("gateway %s ready", app[IDENTITY].config.participant)
    yield
    log.info("stopping: finishing the deliveries and hand-offs in flight (up to %.0f s)",
             DRAIN_SECONDS)  # fmt: skip
    app[READY].clear()
    stop.set()
    _, pending = await asyncio.wait(tasks, timeout=DRAIN_SECONDS)
    for task in pending:
        log.warning("%s did not finish within %.0f s; stopping it", task.get_name(), DRAIN_SECONDS)
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    if host is not None:
        await host.close()


async def _collect_blobs(store: Store, stop: asyncio.Event) -> None:
    """Every hour, delete the blobs no message needs any more (a day's grace for a blob
    stored for a message not yet committed)."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), GC_INTERVAL)
        if stop.is_set():
            return
        try:
            removed = await store.gc_blobs(BLOB_GRACE)
        except Exception as exc:  # a failed round is retried at the next one
            log.warning("collecting unreferenced blobs failed: %s", exc)
            continue
        if removed:
            log.info("deleted %d blobs no message needs", removed)


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "alive"})


async def _readyz(request: web.Request) -> web.Response:
    if not request.app[READY].is_set():
        return web.json_response({"status": "starting or stopping"}, status=503)
    return web.json_response(
        {"status": "ready", "participant": request.app[IDENTITY].config.participant}
    )


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Domain errors of the local API as JSON with their stable code (the wire endpoint answers
    with signed documents through its own middleware)."""
    try:
        return await handler(request)
    except GatewayError as exc:
        if isinstance(exc, StoreError):
            log.error("store failure on %s: %s", request.path, exc)
        headers = {"Retry-After": "5"} if exc.http_status == 503 else None
        if exc.http_status == 401:
            headers = {"WWW-Authenticate": 'Bearer realm="gateway"'}
        return web.json_response(
            {"code": exc.code, "message": exc.message}, status=exc.http_status, headers=headers
        )
