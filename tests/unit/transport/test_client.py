"""The client against peers that answer whatever a test makes them answer.

Only a receipt signed by the right peer, for exactly what was sent, makes a message Accepted;
only a signed refusal from that peer makes it Refused; everything else is Unavailable.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import datetime as dt
import email.utils
import hashlib
import os
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from gateway.model import ErrorReport, FileDigest, Receipt
from gateway.receipts import encode_error, encode_receipt
from gateway.store.api import MessageRecord
from gateway.store.blobs import FilesystemBlobStore
from gateway.transport import wire
from gateway.transport.client import (
    Accepted,
    Client,
    Refused,
    Timeouts,
    Unavailable,
    _joined,
    _retry_after,
    is_blip,
)
from tests.unit.transport.harness import Network, Peer, letter, outbound, serve

PDF = os.urandom(70_000)
SIG = os.urandom(1500)
NOW = dt.datetime.now(dt.UTC)

Answer = Callable[[MessageRecord, dict[str, bytes]], web.StreamResponse]


@dataclasses.dataclass
class Seen:
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    parts: list[tuple[str | None, dict[str, str], bytes]] = dataclasses.field(default_factory=list)


@pytest.fixture()
async def blobs(tmp_path: Path) -> FilesystemBlobStore:
    return FilesystemBlobStore(tmp_path / "ru-61-blobs")


@pytest.fixture()
async def record(network: Network, blobs: FilesystemBlobStore) -> MessageRecord:
    return await outbound(network, blobs, letter([("f1", PDF), ("s1", SIG)]), [PDF, SIG])


@asynccontextmanager
async def fake_peer(
    network: Network, blobs: FilesystemBlobStore, record: MessageRecord, answer: Answer
) -> AsyncIterator[tuple[Client, Peer, Seen]]:
    """A peer that reads the whole request, then answers ``answer(record, parts)``."""
    seen = Seen()

    async def handle(request: web.Request) -> web.StreamResponse:
        seen.headers = dict(request.headers)
        reader = await request.multipart()
        parts: dict[str, bytes] = {}
        async for part in reader:
            assert isinstance(part, aiohttp.BodyPartReader)
            data = bytes(await part.read())
            content_id = wire.parse_content_id(part.headers.get("Content-ID"))
            seen.parts.append((content_id, dict(part.headers), data))
            parts[content_id or ""] = data
        return answer(record, parts)

    app = web.Application(client_max_size=16 << 20)
    app.router.add_post(wire.PATH, handle)
    async with serve(app) as base, aiohttp.ClientSession() as session:
        client = Client(session, blobs, network.trust, "ru-61", timeouts=Timeouts(read=2))
        yield client, Peer("ru-14", base + wire.PATH), seen


def receipt_for(record: MessageRecord, **changes: object) -> Receipt:
    receipt = Receipt(
        message_id=record.message_id,
        time=NOW,
        sender="ru-14",
        recipient="ru-61",
        accepted=True,
        envelope_sha256=hashlib.sha256(record.envelope).hexdigest(),
        files=tuple(FileDigest(f.file_id, f.sha256) for f in record.files),
    )
    return dataclasses.replace(receipt, **changes)  # type: ignore[arg-type]


def signed(network: Network, document: bytes, status: int, *, by: str = "ru-14") -> web.Response:
    signature = network.signers[by].sign(document)
    return web.Response(
        status=status,
        body=document,
        content_type="application/xml",
        headers={wire.SIGNATURE_HEADER: base64.b64encode(signature).decode()},
    )


def error_doc(
    record: MessageRecord | None, *, code: str = "file.digest_mismatch", time: dt.datetime = NOW
) -> bytes:
    return encode_error(
        ErrorReport(
            code, "file 'f1' does not match", time, "ru-14", record.message_id if record else None
        )
    )


async def send_with(
    network: Network, blobs: FilesystemBlobStore, record: MessageRecord, answer: Answer
) -> object:
    async with fake_peer(network, blobs, record, answer) as (client, peer, _):
        return await client.send(record, peer)


@pytest.mark.parametrize("size", [len(PDF), 3 << 20], ids=["joined", "streamed"])
async def test_the_request_carries_every_part_with_its_length(
    network: Network, blobs: FilesystemBlobStore, size: int
) -> None:
    """A small letter leaves as one buffer, a large one streams from the blob store; the
    peer reads the same parts either way."""
    pdf = PDF if size == len(PDF) else os.urandom(size)
    record = await outbound(network, blobs, letter([("f1", pdf), ("s1", SIG)]), [pdf, SIG])

    def good(rec: MessageRecord, parts: dict[str, bytes]) -> web.Response:
        return signed(network, encode_receipt(receipt_for(rec)), 200)

    async with fake_peer(network, blobs, record, good) as (client, peer, seen):
        result = await client.send(record, peer)
    assert isinstance(result, Accepted)
    content_type = seen.headers["Content-Type"]
    assert content_type.startswith("multipart/related;")
    assert 'type="application/xml"' in content_type and 'start="<envelope>"' in content_type
    assert "Content-Length" in seen.headers  # sizes are known, so the receiver can refuse early
    ids = [cid for cid, _, _ in seen.parts]
    assert ids == ["envelope", "envelope.p7s", "f1", "s1"]
    contents = [data for _, _, data in seen.parts]
    assert contents == [record.envelope, record.signature, pdf, SIG]
    types = [headers["Content-Type"] for _, headers, _ in seen.parts]
    assert types == [
        "application/xml",
        "application/pkcs7-signature",
        *["application/octet-stream"] * 2,
    ]
    assert all(headers["Content-Length"] == str(len(data)) for _, headers, data in seen.parts)


async def test_a_small_letter_in_memory_is_joined_as_aiohttps_writer_would_send_it(
    network: Network, blobs: FilesystemBlobStore
) -> None:
    record = await outbound(network, blobs, letter([("f1", PDF), ("s1", SIG)]), [PDF, SIG])
    small = {file.sha256: data for file, data in zip(record.files, (PDF, SIG), strict=True)}
    client = Client(None, blobs, network.trust, "ru-61")  # type: ignore[arg-type]
    boundary = "0123456789abcdef"
    writer = client._body(record, small, boundary)
    assert _joined(record, small, boundary) == await writer.as_bytes()
    # A file that streams from the blob store, or a letter over 1 MiB, goes part by part.
    assert _joined(record, {record.files[0].sha256: PDF}, boundary) is None
    big = await outbound(network, blobs, letter([("f1", bytes(1 << 20))]), [bytes(1 << 20)])
    assert _joined(big, {big.files[0].sha256: bytes(1 << 20)}, boundary) is None


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"message_id": "another-message"}, "for message 'another-message'"),
        ({"envelope_sha256": "0" * 64}, "envelope digest"),
        ({"files": (FileDigest("f1", "0" * 64),)}, "file digests"),
        ({"recipient": "ru-16"}, "from 'ru-14' to 'ru-16'"),
        ({"sender": "ru-16"}, "from 'ru-16'"),
        ({"accepted": False}, "not accepted"),
    ],
    ids=[
        "other-message",
        "envelope-digest",
        "file-digests",
        "other-recipient",
        "other-sender",
        "not-accepted",
    ],
)
async def test_a_receipt_that_does_not_match_what_was_sent_is_not_delivery(
    network: Network,
    blobs: FilesystemBlobStore,
    record: MessageRecord,
    change: dict[str, object],
    why: str,
) -> None:
    def answer(rec: MessageRecord, parts: dict[str, bytes]) -> web.Response:
        return signed(network, encode_receipt(receipt_for(rec, **change)), 200)

    result = await send_with(network, blobs, record, answer)
    assert isinstance(result, Unavailable) and result.http_status == 200
    assert result.reason.startswith("receipt.invalid:") and why in result.reason
    assert not is_blip(result)


async def test_a_receipt_signed_by_another_participant_is_not_delivery(
    network: Network, blobs: FilesystemBlobStore, record: MessageRecord
) -> None:
    def answer(rec: MessageRecord, parts: dict[str, bytes]) -> web.Response:
        return signed(network, encode_receipt(receipt_for(rec)), 200, by="ru-16")

    result = await send_with(network, blobs, record, answer)
    assert isinstance(result, Unavailable) and "signature.sender_mismatch" in result.reason


@pytest.mark.parametrize("header", [None, "", "not base64!", base64.b64encode(b"garbage").decode()])
async def test_a_receipt_without_a_valid_signature_is_not_delivery(
    network: Network, blobs: FilesystemBlobStore, record: MessageRecord, header: str | None
) -> None:
    def answer(rec: MessageRecord, parts: dict[str, bytes]) -> web.Response:
        headers = {} if header is None else {wire.SIGNATURE_HEADER: header}
        return web.Response(body=encode_receipt(receipt_for(rec)), headers=headers)

    result = await send_with(network, blobs, record, answer)
    assert isinstance(result, Unavailable) and result.reason.startswith("receipt.invalid:")


async def test_a_signed_refusal_from_the_peer_is_refused(
    network: Network, blobs: FilesystemBlobStore, record: MessageRecord
) -> None:
    document = error_doc(record)

    def answer(rec: MessageRecord, parts: dict[str, bytes]) -> web.Response:
        return signed(network, document, 400)

    result = await send_with(network, blobs, record, answer)
    assert isinstance(result, Refused)
    assert (result.code, result.http_status, result.error_document) == (
        "file.digest_mismatch",
        400,
        document,
    )
    assert result.message == "file 'f1' does not match"
    network.trust.verify_from("ru-14", result.error_document, result.error_signature)


async def test_a_fresh_signed_refusal_without_message_id_is_refused(
    network: Network, blobs: FilesystemBlobStore, record: MessageRecord
) -> None:
    def answer(rec: MessageRecord, parts: dict[str, bytes]) -> web.Response:
        return signed(
            network, error_doc(None, code="xml.malformed", time=dt.datetime.now(dt.UTC)), 400
        )

    result = await send_with(network, blobs, record, answer)
    assert isinstance(result, Refused) and result.code == "xml.malformed"


@pytest.mark.parametrize(
    ("make", "why"),
    [
        (
            lambda rec, net: signed(net, error_doc(rec), 400, by="ru-16"),
            "signature.sender_mismatch",
        ),
        (
            lambda rec, net: signed(
                net, error_doc(dataclasses.replace(rec, message_id="other")), 400
            ),
            "about message 'other'",
        ),
        (
            lambda rec, net: signed(net, error_doc(None, time=NOW - dt.timedelta(hours=2)), 400),
            "names no message",
        ),
        (
            lambda rec, net: web.Response(status=400, text="Bad Request"),
            "no valid Gateway-Signature",
        ),
        (
            lambda rec, net: web.Response(status=403, body=error_doc(rec)),
            "no valid Gateway-Signature",
        ),
        (
            lambda rec, net: web.Response(status=404, text="<html>not found</html>"),
            "no valid Gateway-Signature",
        ),
    ],
    ids=[
        "other-signer",
        "other-message",
        "stale-anonymous",
        "plain-400",
        "unsigned-document",
        "proxy-404",
    ],
)
async def test_a_4xx_without_a_valid_signed_refusal_is_only_unavailable(
    network: Network,
    blobs: FilesystemBlobStore,
    record: MessageRecord,
    make: Callable[[MessageRecord, Network], web.Response],
    why: str,
) -> None:
    result = await send_with(network, blobs, record, lambda rec, parts: make(rec, network))
    assert isinstance(result, Unavailable) and why in result.reason
    assert result.http_status in (400, 403, 404)


@pytest.mark.parametrize(
    ("status", "retry_after", "expected"),
    [(503, "30", 30.0), (429, "5", 5.0), (500, None, None), (502, "soon", None), (408, None, None)],
)
async def test_server_trouble_is_unavailable_with_its_retry_after(
    network: Network,
    blobs: FilesystemBlobStore,
    record: MessageRecord,
    status: int,
    retry_after: str | None,
    expected: float | None,
) -> None:
    def answer(rec: MessageRecord, parts: dict[str, bytes]) -> web.Response:
        headers = {"Retry-After": retry_after} if retry_after else {}
        return web.Response(status=status, text="busy", headers=headers)

    result = await send_with(network, blobs, record, answer)
    assert isinstance(result, Unavailable)
    assert (result.http_status, result.retry_after, result.blip) == (status, expected, False)
    assert "busy" in result.reason


def test_retry_after_takes_seconds_or_an_http_date() -> None:
    now = dt.datetime(2026, 11, 21, 9, 0, tzinfo=dt.UTC)
    assert _retry_after("120", now) == 120.0
    assert (
        _retry_after(email.utils.format_datetime(now + dt.timedelta(minutes=2), usegmt=True), now)
        == 120.0
    )
    assert _retry_after("Sat, 21 Nov 2026 08:00:00 GMT", now) == 0.0  # in the past: now
    assert _retry_after("999999999", now) == 86_400.0  # capped
    assert _retry_after("-5", now) is None and _retry_after("", now) is None
    assert _retry_after(None, now) is None


async def test_a_refused_connection_is_an_unavailable_blip(
    network: Network, blobs: FilesystemBlobStore, record: MessageRecord
) -> None:
    with socket.socket() as sock:  # a port that nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with aiohttp.ClientSession() as session:
        client = Client(session, blobs, network.trust, "ru-61")
        result = await client.send(record, Peer("ru-14", f"http://127.0.0.1:{port}{wire.PATH}"))
    assert isinstance(result, Unavailable) and result.http_status is None
    assert result.reason.startswith("connection:") and is_blip(result)


async def test_a_dropped_connection_is_an_unavailable_blip(
    network: Network, blobs: FilesystemBlobStore, record: MessageRecord
) -> None:
    async def drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)
        writer.transport.abort()

    server = await asyncio.start_server(drop, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with aiohttp.ClientSession() as session:
            client = Client(session, blobs, network.trust, "ru-61")
            result = await client.send(record, Peer("ru-14", f"http://127.0.0.1:{port}{wire.PATH}"))
    finally:
        server.close()
        await server.wait_closed()
    assert isinstance(result, Unavailable) and is_blip(result), result


async def test_a_peer_that_never_answers_times_out(
    network: Network, blobs: FilesystemBlobStore, record: MessageRecord
) -> None:
    gate = asyncio.Event()

    async def silent(request: web.Request) -> web.Response:
        await request.read()
        await gate.wait()
        return web.Response()

    app = web.Application()
    app.router.add_post(wire.PATH, silent)
    async with serve(app) as base, aiohttp.ClientSession() as session:
        client = Client(session, blobs, network.trust, "ru-61", timeouts=Timeouts(read=0.3))
        result = await client.send(record, Peer("ru-14", base + wire.PATH))
        gate.set()
    assert isinstance(result, Unavailable) and result.reason.startswith("timeout")
    assert not is_blip(result)


async def test_an_oversized_answer_is_not_read(
    network: Network, blobs: FilesystemBlobStore, record: MessageRecord
) -> None:
    def answer(rec: MessageRecord, parts: dict[str, bytes]) -> web.Response:
        return web.Response(body=b"<" * (2 << 20))

    result = await send_with(network, blobs, record, answer)
    assert isinstance(result, Unavailable) and "answer over" in result.reason


async def test_a_redirect_is_not_followed(
    network: Network, blobs: FilesystemBlobStore, record: MessageRecord
) -> None:
    def answer(rec: MessageRecord, parts: dict[str, bytes]) -> web.Response:
        return web.Response(status=307, headers={"Location": "http://127.0.0.1:1/elsewhere"})

    result = await send_with(network, blobs, record, answer)
    assert isinstance(result, Unavailable) and result.http_status == 307


async def test_a_missing_local_blob_is_unavailable_without_sending(
    network: Network, tmp_path: Path, record: MessageRecord
) -> None:
    empty = FilesystemBlobStore(tmp_path / "empty")
    async with aiohttp.ClientSession() as session:
        client = Client(session, empty, network.trust, "ru-61")
        result = await client.send(record, Peer("ru-14", "http://127.0.0.1:1/gw/v1/messages"))
    assert isinstance(result, Unavailable) and result.reason.startswith("local:")


async def test_a_record_for_another_peer_is_a_bug(
    network: Network, blobs: FilesystemBlobStore, record: MessageRecord
) -> None:
    async with aiohttp.ClientSession() as session:
        client = Client(session, blobs, network.trust, "ru-61")
        with pytest.raises(ValueError, match="is for ru-14, not ru-16"):
            await client.send(record, Peer("ru-16", "http://127.0.0.1:1/gw/v1/messages"))
