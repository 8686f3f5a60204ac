"""The wire endpoint over real HTTP: what a peer sends, what it gets back, what gets stored."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import os
import time

import aiohttp
import pytest

from gateway.receipts import decode_error, decode_receipt
from gateway.store.api import StoreError
from gateway.transport import wire
from gateway.transport.client import Accepted, Refused
from gateway.transport.wire import Limits
from tests.unit.transport.conftest import MakeWire, Wire
from tests.unit.transport.harness import blob_files, letter, multipart, outbound

PDF = os.urandom(150_000)
SIG = os.urandom(2048)


async def post(
    w: Wire, body: aiohttp.MultipartWriter, **kwargs: object
) -> tuple[int, bytes, dict[str, str]]:
    async with w.session.post(w.url, data=body, **kwargs) as response:  # type: ignore[arg-type]
        return response.status, await response.read(), dict(response.headers)


def signed_error(w: Wire, body: bytes, headers: dict[str, str]) -> str:
    """The code of a signed error document from ru-14 (fails if it is not one)."""
    signature = base64.b64decode(headers[wire.SIGNATURE_HEADER])
    w.network.trust.verify_from("ru-14", body, signature)
    return decode_error(body).code


async def test_a_letter_with_two_files_crosses_and_its_receipt_proves_it(w: Wire) -> None:
    message = letter([("f1", PDF), ("s1", SIG)])
    record = await outbound(w.network, w.sender_blobs, message, [PDF, SIG])
    result = await w.client.send(record, w.peer)
    assert isinstance(result, Accepted)
    w.network.trust.verify_from("ru-14", result.receipt, result.receipt_signature)
    receipt = decode_receipt(result.receipt)
    assert receipt.message_id == message.message_id
    assert (receipt.sender, receipt.recipient, receipt.accepted) == ("ru-14", "ru-61", True)
    assert receipt.envelope_sha256 == hashlib.sha256(record.envelope).hexdigest()
    stored = w.store.records[message.message_id]
    assert stored.envelope == record.envelope and stored.signature == record.signature
    assert stored.receipt == result.receipt
    assert w.store.audit_actors == ["peer:ru-61"]
    for file, content in zip(stored.files, (PDF, SIG), strict=True):
        assert file.sha256 == hashlib.sha256(content).hexdigest()
        chunks = [chunk async for chunk in w.store.blobs.read(file.sha256)]
        assert b"".join(chunks) == content
    assert [(f.file_id, f.sha256) for f in receipt.files] == [
        (f.file_id, f.sha256) for f in stored.files
    ]


async def test_a_notification_without_files_crosses(w: Wire) -> None:
    record = await outbound(w.network, w.sender_blobs, letter())
    assert isinstance(await w.client.send(record, w.peer), Accepted)


async def test_a_duplicate_post_gets_the_original_receipt_and_changes_nothing(w: Wire) -> None:
    record = await outbound(w.network, w.sender_blobs, letter([("f1", PDF)]), [PDF])
    first = await w.client.send(record, w.peer)
    second = await w.client.send(record, w.peer)
    assert isinstance(first, Accepted) and isinstance(second, Accepted)
    assert (second.receipt, second.receipt_signature) == (first.receipt, first.receipt_signature)
    assert list(w.store.records) == [record.message_id]
    # A letter this small is not looked up before it is verified: the commit finds the first
    # one and keeps it, and nothing is written twice.
    assert (w.store.get_calls, w.store.add_calls, w.store.audit_actors) == (0, 2, ["peer:ru-61"])


async def test_concurrent_duplicates_get_one_record_and_the_same_receipt(w: Wire) -> None:
    record = await outbound(w.network, w.sender_blobs, letter([("f1", PDF)]), [PDF])
    results = await asyncio.gather(*(w.client.send(record, w.peer) for _ in range(4)))
    assert all(isinstance(r, Accepted) for r in results)
    assert len({r.receipt for r in results if isinstance(r, Accepted)}) == 1
    assert list(w.store.records) == [record.message_id]


async def test_a_forged_sender_is_refused_before_any_file_is_stored(w: Wire) -> None:
    # ru-16's valid key signs an envelope that claims to come from ru-61.
    message = letter([("f1", PDF)])
    record = await outbound(w.network, w.sender_blobs, message, [PDF], signer="ru-16")
    result = await w.client.send(record, w.peer)
    assert isinstance(result, Refused)
    assert result.code == "signature.sender_mismatch" and result.http_status == 400
    assert decode_error(result.error_document).message_id is None  # the claim was never proved
    assert w.store.records == {} and w.store.add_calls == 0
    assert blob_files(w.blob_root) == []


async def test_a_corrupted_file_part_is_refused_and_nothing_is_recorded(w: Wire) -> None:
    message = letter([("f1", PDF)])
    record = await outbound(w.network, w.sender_blobs, message, [PDF])
    corrupted = bytearray(PDF)
    corrupted[len(corrupted) // 2] ^= 0x01
    status, body, headers = await post(
        w,
        multipart(
            [
                ("envelope", record.envelope),
                ("envelope.p7s", record.signature),
                ("f1", bytes(corrupted)),
            ]
        ),
    )
    assert status == 400 and signed_error(w, body, headers) == "file.digest_mismatch"
    assert decode_error(body).message_id == message.message_id
    assert w.store.records == {}


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (PDF[:-1], "file.size_mismatch"),
        (PDF + b"!", "file.size_mismatch"),
        (b"", "file.size_mismatch"),
    ],
)
async def test_a_file_part_of_the_wrong_size_is_refused(w: Wire, content: bytes, code: str) -> None:
    record = await outbound(w.network, w.sender_blobs, letter([("f1", PDF)]), [PDF])
    status, body, headers = await post(
        w,
        multipart(
            [("envelope", record.envelope), ("envelope.p7s", record.signature), ("f1", content)]
        ),
    )
    assert status == 400 and signed_error(w, body, headers) == code
    assert w.store.records == {}


@pytest.mark.parametrize(
    ("parts", "code"),
    [
        ([("f1", PDF)], "file.missing"),
        ([("f1", PDF), ("s1", SIG), ("x9", b"extra")], "file.unexpected_part"),
        ([("f1", PDF), ("f1", PDF)], "file.unexpected_part"),
        ([(None, PDF)], "file.unexpected_part"),
    ],
    ids=["missing", "unknown", "repeated", "no-content-id"],
)
async def test_the_parts_must_be_the_manifest_exactly(
    w: Wire, parts: list[tuple[str | None, bytes]], code: str
) -> None:
    record = await outbound(
        w.network, w.sender_blobs, letter([("f1", PDF), ("s1", SIG)]), [PDF, SIG]
    )
    status, body, headers = await post(
        w, multipart([("envelope", record.envelope), ("envelope.p7s", record.signature), *parts])
    )
    assert status == 400 and signed_error(w, body, headers) == code
    assert w.store.records == {}


async def test_files_may_come_in_any_order(w: Wire) -> None:
    record = await outbound(
        w.network, w.sender_blobs, letter([("f1", PDF), ("s1", SIG)]), [PDF, SIG]
    )
    status, _, _ = await post(
        w,
        multipart(
            [
                ("envelope", record.envelope),
                ("envelope.p7s", record.signature),
                ("s1", SIG),
                ("f1", PDF),
            ]
        ),
    )
    assert status == 200 and list(w.store.records) == [record.message_id]


@pytest.mark.parametrize(
    "order",
    [["envelope.p7s", "envelope"], ["envelope"], ["f1", "envelope", "envelope.p7s"]],
    ids=["swapped", "no-signature", "file-first"],
)
async def test_the_envelope_and_its_signature_come_first(w: Wire, order: list[str]) -> None:
    record = await outbound(w.network, w.sender_blobs, letter([("f1", PDF)]), [PDF])
    values = {"envelope": record.envelope, "envelope.p7s": record.signature, "f1": PDF}
    status, body, headers = await post(w, multipart([(cid, values[cid]) for cid in order]))
    assert status == 400 and signed_error(w, body, headers) == "request.malformed"


async def test_a_letter_for_another_participant_is_refused(w: Wire) -> None:
    record = await outbound(w.network, w.sender_blobs, letter(recipient="ru-16"))
    status, body, headers = await post(
        w, multipart([("envelope", record.envelope), ("envelope.p7s", record.signature)])
    )
    assert status == 422 and signed_error(w, body, headers) == "envelope.wrong_recipient"


@pytest.mark.parametrize(
    ("age", "code"),
    [
        (dt.timedelta(days=31), "envelope.too_old"),
        (dt.timedelta(minutes=-10), "envelope.from_future"),
    ],
    ids=["replay", "future"],
)
async def test_an_envelope_outside_the_time_window_is_refused(
    w: Wire, age: dt.timedelta, code: str
) -> None:
    created = dt.datetime.now(dt.UTC) - age
    record = await outbound(
        w.network, w.sender_blobs, letter([("f1", PDF)], created=created), [PDF]
    )
    result = await w.client.send(record, w.peer)
    assert isinstance(result, Refused) and result.code == code
    assert w.store.records == {} and blob_files(w.blob_root) == []


async def test_an_old_duplicate_still_gets_its_original_receipt(make_wire: MakeWire) -> None:
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=60)
    async with make_wire() as w:
        record = await outbound(w.network, w.sender_blobs, letter([("f1", PDF)]), [PDF])
        first = await w.client.send(record, w.peer)
        assert isinstance(first, Accepted)
        # Two months on, the same message arrives again: no replay refusal, the same receipt.
        w.receiver._clock = lambda: later
        again = await w.client.send(record, w.peer)
        assert isinstance(again, Accepted) and again.receipt == first.receipt


async def test_a_message_id_reused_for_another_envelope_is_a_conflict(w: Wire) -> None:
    first = await outbound(w.network, w.sender_blobs, letter(message_id="msg-1"))
    second = await outbound(w.network, w.sender_blobs, letter(message_id="msg-1"))
    assert isinstance(await w.client.send(first, w.peer), Accepted)
    result = await w.client.send(second, w.peer)
    assert isinstance(result, Refused) and (result.code, result.http_status) == (
        "message.id_conflict",
        409,
    )


async def test_a_request_that_is_not_multipart_related_is_refused_with_415(w: Wire) -> None:
    record = await outbound(w.network, w.sender_blobs, letter())
    status, body, headers = await post(
        w,
        multipart(
            [("envelope", record.envelope), ("envelope.p7s", record.signature)], subtype="form-data"
        ),
    )
    assert status == 415 and signed_error(w, body, headers) == "request.unsupported_media_type"
    async with w.session.post(
        w.url, data=b"<x/>", headers={"Content-Type": "application/xml"}
    ) as r:
        assert r.status == 415


async def test_an_oversized_request_is_refused_from_its_content_length(make_wire: MakeWire) -> None:
    async with make_wire(limits=Limits(max_request_bytes=1 << 20)) as w:
        record = await outbound(w.network, w.sender_blobs, letter())
        sent = 0

        async def huge() -> object:
            nonlocal sent
            for _ in range(64):
                sent += 1 << 20
                yield bytes(1 << 20)

        body = multipart(
            [("envelope", record.envelope), ("envelope.p7s", record.signature), ("f1", huge())]
        )
        started = time.monotonic()
        status, answer, headers = await post(w, body, headers={"Content-Length": str(64 << 20)})
        assert status == 413 and signed_error(w, answer, headers) == "request.too_large"
        assert time.monotonic() - started < 2


async def test_a_request_over_the_limit_is_refused_while_streaming(make_wire: MakeWire) -> None:
    # No Content-Length (chunked): the count while reading catches it.
    async with make_wire(limits=Limits(max_request_bytes=1 << 20)) as w:
        big = os.urandom(2 << 20)
        record = await outbound(w.network, w.sender_blobs, letter([("f1", big)]), [big])
        status, body, headers = await post(
            w,
            multipart(
                [("envelope", record.envelope), ("envelope.p7s", record.signature), ("f1", big)]
            ),
        )
        # The signed manifest already says 2 MiB: refused before the file part is read.
        assert status == 413 and signed_error(w, body, headers) == "request.too_large"
        assert blob_files(w.blob_root) == []


async def test_an_oversized_envelope_part_is_refused_without_reading_it(
    make_wire: MakeWire,
) -> None:
    async with make_wire(limits=Limits(max_envelope_bytes=64 << 10)) as w:
        produced = 0

        async def endless() -> object:
            nonlocal produced
            while produced < (256 << 20):
                produced += 1 << 16
                yield b"<" * (1 << 16)

        started = time.monotonic()
        status, body, headers = await post(w, multipart([("envelope", endless())]))
        assert status == 413 and signed_error(w, body, headers) == "request.part_too_large"
        assert time.monotonic() - started < 5
        assert produced < (64 << 20)  # the sender stopped long before the end


async def test_an_oversized_signature_part_is_refused(make_wire: MakeWire) -> None:
    async with make_wire(limits=Limits(max_signature_bytes=4096)) as w:
        record = await outbound(w.network, w.sender_blobs, letter())
        status, body, headers = await post(
            w, multipart([("envelope", record.envelope), ("envelope.p7s", bytes(8192))])
        )
        assert status == 413 and signed_error(w, body, headers) == "request.part_too_large"


async def test_overload_answers_503_with_retry_after_and_never_queues(make_wire: MakeWire) -> None:
    async with make_wire(limits=Limits(max_concurrent=1, retry_after=7)) as w:
        record = await outbound(w.network, w.sender_blobs, letter([("f1", PDF)]), [PDF])
        release = asyncio.Event()
        reading = asyncio.Event()

        async def slow_file() -> object:
            yield PDF[:1000]
            reading.set()
            await release.wait()
            yield PDF[1000:]

        held = asyncio.create_task(
            post(
                w,
                multipart(
                    [
                        ("envelope", record.envelope),
                        ("envelope.p7s", record.signature),
                        ("f1", slow_file()),
                    ]
                ),
            )
        )
        await asyncio.wait_for(reading.wait(), 5)
        await asyncio.sleep(0.05)  # the receiver is now waiting for the rest of the file
        started = time.monotonic()
        async with w.session.post(w.url, data=multipart([("envelope", b"x")])) as second:
            assert second.status == 503 and second.headers["Retry-After"] == "7"
        assert time.monotonic() - started < 1
        release.set()
        status, _, _ = await held
        assert status == 200
        # The slot is free again.
        assert isinstance(
            await w.client.send(await outbound(w.network, w.sender_blobs, letter()), w.peer),
            Accepted,
        )


async def test_a_silent_peer_gets_408(make_wire: MakeWire) -> None:
    async with make_wire(limits=Limits(read_timeout=0.3)) as w:
        record = await outbound(w.network, w.sender_blobs, letter([("f1", PDF)]), [PDF])
        never = asyncio.Event()

        async def stalled() -> object:
            yield PDF[:10]
            await never.wait()
            yield b""  # pragma: no cover

        status, body, headers = await asyncio.wait_for(
            post(
                w,
                multipart(
                    [
                        ("envelope", record.envelope),
                        ("envelope.p7s", record.signature),
                        ("f1", stalled()),
                    ]
                ),
            ),
            10,
        )
        assert status == 408 and signed_error(w, body, headers) == "request.timeout"


async def test_a_storage_failure_is_503_so_the_sender_retries(
    w: Wire, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: object, **kwargs: object) -> object:
        raise StoreError("disk full")

    monkeypatch.setattr(w.store, "add_inbound", broken)
    record = await outbound(w.network, w.sender_blobs, letter())
    async with w.session.post(
        w.url, data=multipart([("envelope", record.envelope), ("envelope.p7s", record.signature)])
    ) as r:
        assert r.status == 503 and "Retry-After" in r.headers


async def test_an_unexpected_error_is_a_bare_500_without_internals(
    w: Wire, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("secret detail /etc/gateway/keys/ru-14.key")

    monkeypatch.setattr(w.store, "add_inbound", broken)
    record = await outbound(w.network, w.sender_blobs, letter())
    async with w.session.post(
        w.url, data=multipart([("envelope", record.envelope), ("envelope.p7s", record.signature)])
    ) as r:
        text = await r.text()
        assert r.status == 500 and wire.SIGNATURE_HEADER not in r.headers
    assert "secret" not in text and "reference" in text
    assert "secret detail" in caplog.text  # the operator sees it in the log


async def test_other_methods_and_paths_are_not_served(w: Wire) -> None:
    async with w.session.get(w.url) as r:
        assert r.status == 405
    async with w.session.post(w.url.replace("messages", "other"), data=b"") as r:
        assert r.status == 404
