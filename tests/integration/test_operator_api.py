"""The operator API and /metrics on real gateway processes: search, timeline, partners, resend
of a dead letter (audited), downloads, Prometheus figures; its OpenAPI document validates and a
bounded schemathesis run against the live API finds no server error."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from openapi_spec_validator import validate

from gateway.api.openapi import document
from gateway.localnet import Node
from tests.integration.conftest import cli, letter, pdf_and_signature, submit_with_retry


def api(node: Node, path: str) -> str:
    return f"{node.url}/api/v1/operator{path}"


def auth(node: Node) -> dict[str, str]:
    return {"Authorization": f"Bearer {node.operator_token}"}


async def get_json(session: aiohttp.ClientSession, node: Node, path: str) -> Any:
    async with session.get(api(node, path), headers=auth(node)) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def until(check: Callable[[], Awaitable[bool]], seconds: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while not await check():
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def post(session: aiohttp.ClientSession, node: Node, path: str) -> tuple[int, Any]:
    async with session.post(api(node, path), headers=auth(node)) as response:
        return response.status, await response.json()


async def test_operator_finds_a_letter_reads_its_timeline_and_resends_a_dead_letter(
    make_network: Callable[..., dict[str, Node]],
) -> None:
    nodes = make_network(sender_extra="\n[retry]\ninitial_delay = 0.2\nmax_delay = 0.5\n")
    a, b = nodes["ru-61"], nodes["ru-14"]
    a.start()
    b.start()
    async with aiohttp.ClientSession() as session:
        doc = letter(4242)
        (queued,) = await submit_with_retry(session, a, doc, pdf_and_signature(4242), "k-4242")
        mid = queued["message_id"]

        async def state(node: Node, message_id: str) -> str:
            return str((await get_json(session, node, f"/messages/{message_id}"))["state"])

        async def delivered(message_id: str) -> bool:
            return await state(a, message_id) == "delivered"

        await until(lambda: delivered(mid), 30, "delivery")
        found = await get_json(session, a, "/messages?q=61-01/4242")
        assert [m["message_id"] for m in found["messages"]] == [mid]
        assert found["messages"][0]["state"] == "delivered"
        # case-insensitive substring, and exact document uid
        assert [m["message_id"] for m in (await get_json(session, a, "/messages?q=/4242"))[
            "messages"]] == [mid]  # fmt: skip
        by_uid = await get_json(session, a, f"/messages?q={doc.uid}")
        assert [m["message_id"] for m in by_uid["messages"]] == [mid]

        page = await get_json(session, a, f"/messages/{mid}")
        kinds = [e["kind"] for e in page["timeline"]]
        assert kinds[0] == "accepted" and "attempt" in kinds and "receipt" in kinds
        attempt = next(e for e in page["timeline"] if e["kind"] == "attempt")
        assert attempt["outcome"] == "delivered" and attempt["http_status"] == 200
        assert {f["name"] for f in page["files"]} == {"письмо-4242.pdf", "письмо-4242.pdf.sig"}
        assert all(len(f["sha256"]) == 64 and f["size"] > 0 for f in page["files"])
        assert page["payload"]["registration_number"] == "61-01/4242"

        async with session.get(api(a, f"/messages/{mid}/envelope"), headers=auth(a)) as r:
            body = await r.read()
            assert r.status == 200 and r.content_type == "application/xml"
        assert hashlib.sha256(body).hexdigest() == page["envelope_sha256"]
        async with session.get(api(a, f"/messages/{mid}/receipt"), headers=auth(a)) as r:
            assert r.status == 200 and b"Receipt" in await r.read()

        # the receiving side shows it too, handed off
        async def handed_off() -> bool:
            return await state(b, mid) == "handed-off"

        await until(handed_off, 30, "the hand-off at B")
        inbound = await get_json(session, b, f"/messages/{mid}")
        assert inbound["direction"] == "in"
        assert "handoff" in [e["kind"] for e in inbound["timeline"]]

        partners = (await get_json(session, a, "/partners"))["partners"]
        assert [p["id"] for p in partners] == ["ru-14"]
        (peer,) = partners
        assert peer["last_contact"] is not None and not peer["unreachable"]
        assert peer["certificates"] and peer["certificates"][0]["days_left"] >= 0
        assert peer["recent_states"] == {"out:delivered": 1}

        # a dead letter: B is down, the operator cancels the queued letter, then resends it
        b.stop()
        doc2 = letter(4243)
        (queued2,) = await submit_with_retry(session, a, doc2, pdf_and_signature(4243), "k-4243")
        mid2 = queued2["message_id"]
        status, body2 = await post(session, a, f"/messages/{mid}/retry")
        assert status == 409 and body2["code"] == "api.conflict"  # delivered is not dead
        # while an attempt holds the letter the store refuses (409, "being delivered"); the
        # attempt to the stopped peer fails soon and lets go
        answers: list[tuple[int, Any]] = []

        async def cancelled() -> bool:
            answers.append(await post(session, a, f"/messages/{mid2}/cancel"))
            return answers[-1][0] != 409

        await until(cancelled, 30, "the cancel to be accepted")
        assert answers[-1][0] == 200 and answers[-1][1]["state"] == "cancelled", answers
        dead = await get_json(session, a, "/messages?dead=1")
        assert [m["message_id"] for m in dead["messages"]] == [mid2]
        overview = await get_json(session, a, "/overview")
        assert overview["dead_letters"] == 0  # cancelled by an operator: not an alert
        status, revived = await post(session, a, f"/messages/{mid2}/retry")
        assert status == 200 and revived["state"] == "queued"
        b.start()
        await until(lambda: delivered(mid2), 30, "delivery of the resent letter")
        status, missing = await post(session, a, "/messages/no-such-id/retry")
        assert status == 404 and missing["code"] == "api.not_found"

        async with session.get(f"{a.url}/metrics", headers=auth(a)) as r:
            assert r.status == 200
            metrics = await r.text()
        assert 'gateway_messages{direction="out",state="delivered"} 2.0' in metrics
        assert 'gateway_delivery_attempts_total{outcome="delivered",peer="ru-14"} 2.0' in metrics
        assert "gateway_delivery_latency_seconds_bucket" in metrics
        assert 'gateway_queue_depth{queue="delivery"} 0.0' in metrics

    a.stop()
    audit = cli(a, "audit", "verify")
    assert audit.returncode == 0, audit.stderr
    log = cli(a, "queue", "ls", "--all")
    assert mid2 in log.stdout


async def test_openapi_document_validates_and_matches_the_served_routes(
    make_network: Callable[..., dict[str, Node]],
) -> None:
    spec = document()
    validate(spec)  # type: ignore[arg-type]
    a = make_network()["ru-61"]
    a.start()
    async with aiohttp.ClientSession() as session:
        served = await get_json(session, a, "/openapi.json")
    assert served == spec
    from gateway.api import operator

    documented = set(spec["paths"])
    routes = {r.path for r in operator.routes()} | {"/api/v1/operator/openapi.json", "/metrics"}
    assert documented == routes


@pytest.mark.slow
def test_schemathesis_finds_no_server_error_in_the_operator_api(
    make_network: Callable[..., dict[str, Node]], tmp_path: Path
) -> None:
    a = make_network()["ru-61"]
    a.start()
    st = shutil.which("st", path=str(Path(sys.executable).parent))
    assert st, "schemathesis is part of the test extra"
    run = subprocess.run(
        [st, "run", f"{a.url}/api/v1/operator/openapi.json",
         "-H", f"Authorization: Bearer {a.operator_token}",
         "--checks", "not_a_server_error,status_code_conformance,"
                     "content_type_conformance,response_schema_conformance",
         "--max-examples", "15", "--seed", "1", "--generation-deterministic",
         "--exclude-path", "/metrics"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "passed" in run.stdout.lower()


async def test_officials_signatures_are_checked_on_request_and_never_changed(
    make_network: Callable[..., dict[str, Node]],
) -> None:
    from gateway.crypto import CmsSigner
    from gateway.intake import FileSpec
    from gateway.model import FileRole

    nodes = make_network()
    a, b = nodes["ru-61"], nodes["ru-14"]
    a.start()
    b.start()
    keys = a.folder.parent / "keys"
    text = "Письмо о паводке".encode() * 500
    official = CmsSigner.from_files(keys / "ru-61.pem", keys / "ru-61.key").sign(text)
    files = [
        (FileSpec("f1", "письмо.txt", "text/plain", FileRole.MAIN), text),
        (FileSpec("s1", "письмо.txt.sig", "application/pkcs7-signature", FileRole.SIGNATURE,
                  signature_of="f1"), official),
        (FileSpec("f2", "приложение.txt", "text/plain", FileRole.ATTACHMENT), b"annex"),
        (FileSpec("s2", "приложение.txt.sig", "application/pkcs7-signature",
                  FileRole.SIGNATURE, signature_of="f2"), official),  # signs another text
    ]  # fmt: skip
    async with aiohttp.ClientSession() as session:
        (queued,) = await submit_with_retry(session, a, letter(5151), files, "k-5151")
        mid = queued["message_id"]

        async def handed_off() -> bool:
            async with session.get(api(b, f"/messages/{mid}"), headers=auth(b)) as r:
                return r.status == 200 and (await r.json())["state"] == "handed-off"

        await until(handed_off, 30, "the letter at B")
        for node in (a, b):  # the sender's copy and the receiver's copy
            checked = (await get_json(session, node, f"/messages/{mid}/signatures"))["signatures"]
            by_id = {c["file_id"]: c for c in checked}
            assert set(by_id) == {"s1", "s2"}
            assert by_id["s1"]["valid"] is True and "ru-61" in by_id["s1"]["signer"]
            assert by_id["s1"]["signs_name"] == "письмо.txt"
            assert by_id["s2"]["valid"] is False and by_id["s2"]["code"] == "signature.invalid"
        page = await get_json(session, b, f"/messages/{mid}")
        sig = next(f for f in page["files"] if f["id"] == "s1")
        assert sig["sha256"] == hashlib.sha256(official).hexdigest()  # carried untouched
