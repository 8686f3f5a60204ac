"""The REST adapter's way out: export into the inbox, pull (list, message, file, ack), and the
webhook with its retries — real HTTP on 127.0.0.1, a small aiohttp server as the local system."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from adapters.api import Outgoing
from adapters.rest import RestAdapter, WebhookError
from adapters.testing import outgoing
from gateway.crypto import new_ca
from gateway.model import Document
from gateway.retry import BLIP_ATTEMPTS
from gateway.transport import tls
from tests.unit.adapters.test_filesystem import letter_package, refusal
from tests.unit.adapters.test_rest_support import (
    WEBHOOK_TOKEN,
    auth,
    local_system,
    request,
    running,
    webhook_token_file,
)
from tests.unit.transport.test_tls import tls_certificate


@pytest.fixture
async def session() -> Any:
    async with aiohttp.ClientSession() as session:
        yield session


def created(item: Outgoing, when: dt.datetime) -> Outgoing:
    return dataclasses.replace(item, message=dataclasses.replace(item.message, created=when))


def inbox_url(adapter: RestAdapter, path: str = "") -> str:
    return f"{adapter.base_url}/local/v1/inbox{path}"


async def test_an_exported_letter_is_listed_fetched_and_acknowledged(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    package = letter_package(tmp_path / "letter", names=["../Приложение.txt"])
    item = outgoing(package, sender="ru-61")
    message_id = item.message.message_id
    async with running(tmp_path) as rest:
        assert "in the REST inbox" in await rest.export(item)
        listing = await request(session, "GET", inbox_url(rest), headers=auth())
        assert listing.status == 200
        assert listing.body == {
            "messages": [
                {
                    "id": message_id,
                    "sender": "ru-61",
                    "created": item.message.created.isoformat(),
                    "type": "document",
                    "kind": "Письмо",
                    "document_uid": package.payload.uid,  # type: ignore[union-attr]
                    "number": "12-3/4567",
                    "date": "2026-11-21",
                    "title": "О подготовке к паводку",
                }
            ]
        }
        message = await request(session, "GET", inbox_url(rest, f"/{message_id}"), headers=auth())
        assert message.status == 200
        body = message.body
        assert body["format"] == "gateway-drop/1"
        assert body["context"] == {
            "case": "12-3/4567",
            "gateway.message_id": message_id,
            "gateway.sender": "ru-61",
            "gateway.created": item.message.created.isoformat(),
        }
        document = package.payload
        assert isinstance(document, Document)
        for entry, ref in zip(body["document"]["files"], document.files, strict=True):
            assert entry["id"] == ref.id and entry["name"] == ref.name and "file" not in entry
            assert entry["url"] == inbox_url(rest, f"/{message_id}/files/{ref.id}")
            got = await request(session, "GET", entry["url"], headers=auth(), binary=True)
            assert got.status == 200
            assert got.headers["Content-Type"] == ref.media_type
            assert got.body == package.files[ref.id].read_bytes()
        awkward = await request(
            session, "GET", body["document"]["files"][2]["url"], headers=auth(), binary=True
        )
        # The peer's name, quoted so that it is only a suggestion, never a path.
        assert awkward.headers["Content-Disposition"].startswith(
            "attachment; filename*=UTF-8''..%2F%D0%9F"
        )
        for _ in range(2):  # acknowledging twice is fine
            ack = await request(
                session, "POST", inbox_url(rest, f"/{message_id}/ack"), headers=auth()
            )
            assert ack.status == 200 and ack.body == {"id": message_id, "acknowledged": True}
        assert (await request(session, "GET", inbox_url(rest), headers=auth())).body == {
            "messages": []
        }
        again = await request(session, "GET", inbox_url(rest, f"/{message_id}"), headers=auth())
        assert again.status == 200  # still readable after the acknowledgement
        # The gateway repeats the export (a crash before it marked it): not offered again.
        assert "acknowledged" in await rest.export(item)
        assert (await request(session, "GET", inbox_url(rest), headers=auth())).body == {
            "messages": []
        }


async def test_unknown_messages_and_files_are_json_404(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    async with running(tmp_path) as rest:
        item = outgoing(refusal())
        await rest.export(item)
        for method, path in [
            ("GET", "/no-such-id"),
            ("POST", "/no-such-id/ack"),
            ("GET", f"/{item.message.message_id}/files/main"),  # a notification has no files
            ("GET", "/no-such-id/files/main"),
        ]:
            result = await request(session, method, inbox_url(rest, path), headers=auth())
            assert result.status == 404 and result.body["code"] == "rest.not_found", path


async def test_notifications_are_listed_oldest_first(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    async with running(tmp_path) as rest:
        first = created(outgoing(refusal()), dt.datetime(2026, 11, 22, tzinfo=dt.UTC))
        second = created(
            outgoing(letter_package(tmp_path / "l")), dt.datetime(2026, 11, 23, tzinfo=dt.UTC)
        )
        await rest.export(second)
        await rest.export(first)
        listing = await request(session, "GET", inbox_url(rest, "?limit=5"), headers=auth())
        one = await request(session, "GET", inbox_url(rest, "?limit=1"), headers=auth())
        bad = await request(session, "GET", inbox_url(rest, "?limit=x"), headers=auth())
    ids = [m["id"] for m in listing.body["messages"]]
    assert ids == [first.message.message_id, second.message.message_id]
    assert listing.body["messages"][0]["type"] == "notification"
    assert listing.body["messages"][0]["kind"] == "refused"
    assert [m["id"] for m in one.body["messages"]] == ids[:1]
    assert (bad.status, bad.body["code"]) == (400, "rest.bad_query")


# ---- webhooks ------------------------------------------------------------------------------
async def test_the_webhook_gets_the_message_as_the_inbox_shows_it_after_a_blip(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    item = outgoing(letter_package(tmp_path / "letter"), sender="ru-61")
    message_id = item.message.message_id
    async with local_system([500]) as system:
        options = {"webhook": system.url, "webhook_token_file": webhook_token_file(tmp_path)}
        async with running(tmp_path, **options) as rest:
            description = await rest.export(item)  # 500, then 200 within the quick retries
            assert "answered 200" in description
            shown = await request(session, "GET", inbox_url(rest, f"/{message_id}"), headers=auth())
            assert len(system.received) == 2
            for headers, body in system.received:
                assert headers["Idempotency-Key"] == message_id
                assert headers["Authorization"] == f"Bearer {WEBHOOK_TOKEN}"
                assert headers["Content-Type"].startswith("application/json")
                assert body == shown.body  # exactly what GET /local/v1/inbox/{id} gives
            # The URLs in the webhook work for the local system, with its token.
            entry = system.received[0][1]["document"]["files"][0]
            got = await request(session, "GET", entry["url"], headers=auth(), binary=True)
            assert got.status == 200
            assert got.body == item.package.files[entry["id"]].read_bytes()


async def test_a_webhook_that_keeps_failing_raises_a_recoverable_error_and_a_retry_resends(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    item = outgoing(refusal())
    async with (
        local_system([503] * BLIP_ATTEMPTS) as system,
        running(tmp_path, webhook=system.url) as rest,
    ):
        with pytest.raises(WebhookError) as caught:
            await rest.export(item)
        assert isinstance(caught.value, RestAdapter.recoverable_errors)
        assert caught.value.code == "rest.webhook_failed"
        assert "answered 503" in caught.value.message and item.message.message_id in str(
            caught.value
        )
        assert len(system.received) == BLIP_ATTEMPTS
        assert "Authorization" not in system.received[0][0]  # no token configured
        # The gateway exports again later: the inbox copy stays one, the webhook is re-sent.
        assert "answered 200" in await rest.export(item)
        assert len(system.received) == BLIP_ATTEMPTS + 1
        listing = await request(session, "GET", inbox_url(rest), headers=auth())
        assert [m["id"] for m in listing.body["messages"]] == [item.message.message_id]


async def test_a_webhook_refusal_is_not_retried_in_process(tmp_path: Path) -> None:
    async with local_system([400]) as system, running(tmp_path, webhook=system.url) as rest:
        with pytest.raises(WebhookError) as caught:
            await rest.export(outgoing(refusal()))
        assert len(system.received) == 1
        assert "answered 400" in caught.value.message


async def test_an_unreachable_webhook_is_a_recoverable_error(tmp_path: Path) -> None:
    async with local_system([]) as system:
        gone = system.url
    async with running(tmp_path, webhook=gone, webhook_timeout=2.0) as rest:
        with pytest.raises(WebhookError) as caught:
            await rest.export(outgoing(refusal()))
    assert "could not be reached" in caught.value.message
    assert isinstance(caught.value.__cause__, aiohttp.ClientError)


# ---- TLS -----------------------------------------------------------------------------------
async def test_https_both_ways_with_a_private_ca(tmp_path: Path) -> None:
    ca, ca_key = new_ca("Региональный УЦ (тест)")
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert, key = tls_certificate(tmp_path, "rest", ca, ca_key, ExtendedKeyUsageOID.SERVER_AUTH)
    hook_cert, hook_key = tls_certificate(
        tmp_path, "sed", ca, ca_key, ExtendedKeyUsageOID.SERVER_AUTH
    )
    server_ssl = tls.server_context(hook_cert, hook_key)
    client_ssl = tls.client_context(ca=ca_file)
    async with local_system([], ssl_context=server_ssl) as system:
        options = {
            "tls_certificate": cert,
            "tls_private_key": key,
            "webhook": system.url,
            "webhook_ca": ca_file,
        }
        async with running(tmp_path, **options) as rest:
            assert rest.base_url.startswith("https://127.0.0.1:")
            item = outgoing(refusal())
            assert "answered 200" in await rest.export(item)
            assert system.received[0][1]["context"]["gateway.message_id"] == item.message.message_id
            async with aiohttp.ClientSession() as session:
                listing = await request(
                    session, "GET", inbox_url(rest), headers=auth(), ssl=client_ssl
                )
                assert listing.status == 200 and len(listing.body["messages"]) == 1
                with pytest.raises(aiohttp.ClientConnectorCertificateError):
                    await request(session, "GET", inbox_url(rest), headers=auth())
