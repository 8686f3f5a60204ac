"""The REST adapter: conformance, and submissions over real HTTP with a test acting as the
gateway (it takes each item from ``intake()`` and settles it)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from adapters.api import Package, Refused, Taken
from adapters.registry import build_config, resolve
from adapters.rest import RestAdapter
from adapters.rest.adapter import RestConfig
from adapters.testing import AdapterConformance, MemoryContext
from gateway.errors import ConfigError
from gateway.model import Document, Notification, NotificationKind
from tests.unit.adapters.test_filesystem import (
    SAMPLES,
    hostile_items,
    letter_package,
    refusal,
)
from tests.unit.adapters.test_rest_support import (
    OTHER_TOKEN,
    TOKEN,
    auth,
    form,
    gateway,
    request,
    rest_config,
    running,
    tokens_file,
)

ROOT = Path(__file__).resolve().parents[3]
LETTER = json.loads((SAMPLES / "letter" / "message.json").read_text(encoding="utf-8"))
LETTER_FILES = {
    entry["id"]: (entry["name"], (SAMPLES / "letter" / entry["name"]).read_bytes())
    for entry in LETTER["document"]["files"]
}
REGISTERED = json.loads((SAMPLES / "registered" / "message.json").read_text(encoding="utf-8"))


class TestRestAdapter(AdapterConformance):
    adapter = RestAdapter

    def config(self, tmp_path: Path) -> RestConfig:
        return rest_config(tmp_path)

    def native_samples(self, tmp_path: Path) -> Iterable[Path]:
        return [SAMPLES / "letter", SAMPLES / "registered", SAMPLES / "refused"]

    def canonical_samples(self, tmp_path: Path) -> Iterable[Package]:
        return [letter_package(tmp_path / "letter", names=["../скан.pdf", "скан.pdf"]), refusal()]

    def hostile_samples(self, tmp_path: Path) -> Iterable[tuple[Path, str]]:
        return hostile_items(tmp_path / "hostile")

    def exported(self, config: RestConfig) -> list[Path]:
        assert config.inbox is not None
        return sorted(config.inbox.rglob("*"))


@pytest.fixture
async def session() -> Any:
    async with aiohttp.ClientSession() as session:
        yield session


def url(adapter: RestAdapter, path: str) -> str:
    return f"{adapter.base_url}/local/v1/{path}"


def spooled(adapter: RestAdapter) -> list[Path]:
    return sorted(adapter.spool.rglob("*"))


# ---- documents -----------------------------------------------------------------------------
async def test_a_document_is_answered_202_only_once_the_gateway_took_it(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    async with running(tmp_path) as rest, gateway(rest) as take:
        files = {
            "main": LETTER_FILES["main"],
            "att-1": LETTER_FILES["att-1"],
            "main-sig": LETTER_FILES["main-sig"],
        }
        answer = asyncio.create_task(
            request(
                session,
                "POST",
                url(rest, "documents"),
                data=form(LETTER, files),
                headers=auth(**{"Idempotency-Key": "Исх-12-3-4567".encode().hex()}),
            )
        )
        item = await take()
        assert item.local_ref == "lab:" + "Исх-12-3-4567".encode().hex()
        assert item.package is not None and item.problem is None
        document = item.package.payload
        assert isinstance(document, Document) and document.title == "О подготовке к паводку"
        assert [f.id for f in document.files] == ["main", "main-sig", "att-1"]
        for ref in document.files:
            content = LETTER_FILES[ref.id][1]
            path = item.package.files[ref.id]
            assert path.is_relative_to(rest.spool) and path.read_bytes() == content
            assert (ref.sha256, ref.size) == (hashlib.sha256(content).hexdigest(), len(content))
        assert item.package.context == {
            "case": "12-3/4567",
            "ведомство.журнал": "Исходящие 2026",
            "rest.caller": "lab",
        }
        await asyncio.sleep(0.05)
        assert not answer.done()  # no answer before the gateway has committed
        await item.settle(Taken(("m-14", "m-16")))
        result = await answer
    assert result.status == 202 and result.body == {"message_ids": ["m-14", "m-16"]}
    assert spooled(rest) == []  # removed once settled


@pytest.mark.parametrize(
    ("code", "status"), [("routing.unknown_recipient", 422), ("intake.missing_file", 400)]
)
async def test_a_refusal_reaches_the_client_with_its_code(
    tmp_path: Path, session: aiohttp.ClientSession, code: str, status: int
) -> None:
    async with running(tmp_path) as rest, gateway(rest) as take:
        answer = asyncio.create_task(
            request(
                session,
                "POST",
                url(rest, "documents"),
                data=form(LETTER, LETTER_FILES),
                headers=auth(),
            )
        )
        item = await take()
        assert item.local_ref.startswith("lab:")  # a fresh key per request without a header
        await item.settle(Refused(code, "ИНН 1435193052: нет такого участника"))
        result = await answer
    assert result.status == status
    assert result.body == {"code": code, "message": "ИНН 1435193052: нет такого участника"}
    assert spooled(rest) == []


async def test_idempotency_keys_belong_to_their_local_system(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    async with running(tmp_path) as rest, gateway(rest) as take:
        refs = []
        for token in (TOKEN, OTHER_TOKEN):
            answer = asyncio.create_task(
                request(
                    session,
                    "POST",
                    url(rest, "notifications"),
                    json=REGISTERED,
                    headers=auth(token, **{"Idempotency-Key": "1"}),
                )
            )
            item = await take()
            refs.append(item.local_ref)
            await item.settle(Taken(()))
            assert (await answer).status == 202
    assert refs == ["lab:1", "registry:1"]


@pytest.mark.parametrize(
    ("case", "code", "status"),
    [
        ("bad field", "format.invalid", 400),
        ("missing part", "format.missing_file", 400),
        ("unlisted part", "format.invalid", 400),
        ("digest", "format.digest_mismatch", 400),
        ("not json", "format.json", 400),
        ("version", "format.unknown_version", 400),
        ("notification", "format.invalid", 400),
        ("file key", "format.invalid", 400),
        ("no document part", "format.invalid", 400),
        ("bad key", "rest.bad_idempotency_key", 400),
        ("not multipart", "rest.unsupported_media_type", 415),
    ],
)
async def test_a_submission_that_cannot_be_read_is_answered_at_once(
    tmp_path: Path, session: aiohttp.ClientSession, case: str, code: str, status: int
) -> None:
    document = json.loads(json.dumps(LETTER))
    files = dict(LETTER_FILES)
    headers = auth()
    kwargs: dict[str, Any] = {}
    if case == "bad field":
        document["document"]["addressees"][0]["organization"]["inn"] = 1435193052
    elif case == "missing part":
        del files["att-1"]
    elif case == "unlisted part":
        files["extra"] = ("extra.txt", b"x")
    elif case == "digest":
        files["main"] = (files["main"][0], b"%PDF-1.4 another file")
    elif case == "not json":
        document = b"{"
    elif case == "version":
        document["format"] = "gateway-drop/9"
    elif case == "notification":
        document = REGISTERED
        files = {}
    elif case == "file key":
        document["document"]["files"][0]["file"] = "x.pdf"
    elif case == "bad key":
        headers = auth(**{"Idempotency-Key": "with space"})
    if case == "no document part":
        data = aiohttp.FormData(default_to_multipart=True)
        data.add_field("main", b"x", filename="x.pdf")
        kwargs["data"] = data
    elif case == "not multipart":
        kwargs["json"] = LETTER
    else:
        kwargs["data"] = form(document, files)
    async with running(tmp_path) as rest:
        result = await request(session, "POST", url(rest, "documents"), headers=headers, **kwargs)
        assert rest.handover.waiting == 0  # the gateway never saw it
    assert (result.status, result.body["code"]) == (status, code), result.body
    assert result.body["message"]
    if case == "bad field":
        assert result.body["message"].startswith("document.addressees[0].organization.inn:")
    assert spooled(rest) == []


async def test_an_oversized_file_is_413_and_leaves_nothing_behind(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    async with running(tmp_path, max_file_bytes=200) as rest:
        result = await request(
            session, "POST", url(rest, "documents"), data=form(LETTER, LETTER_FILES), headers=auth()
        )
        assert rest.handover.waiting == 0
    assert result.status == 413 and result.body["code"] == "rest.file_too_large"
    assert "'main'" in result.body["message"]
    assert spooled(rest) == []


async def test_an_oversized_request_is_413_before_it_is_read(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    async with running(tmp_path, max_request_bytes=300) as rest:
        result = await request(
            session, "POST", url(rest, "documents"), data=form(LETTER, LETTER_FILES), headers=auth()
        )
    assert result.status == 413 and result.body["code"] == "rest.too_large"


async def test_too_many_files_is_413(tmp_path: Path, session: aiohttp.ClientSession) -> None:
    async with running(tmp_path, max_files=2) as rest:
        result = await request(
            session, "POST", url(rest, "documents"), data=form(LETTER, LETTER_FILES), headers=auth()
        )
    assert result.status == 413 and result.body["code"] == "rest.too_large"


# ---- notifications -------------------------------------------------------------------------
@pytest.mark.parametrize("shape", ["bare", "sidecar"])
async def test_a_notification_is_taken_like_a_document(
    tmp_path: Path, session: aiohttp.ClientSession, shape: str
) -> None:
    body = REGISTERED["notification"] if shape == "bare" else REGISTERED
    async with running(tmp_path) as rest, gateway(rest) as take:
        answer = asyncio.create_task(
            request(
                session,
                "POST",
                url(rest, "notifications"),
                json=body,
                headers=auth(**{"Idempotency-Key": "reg-882"}),
            )
        )
        item = await take()
        assert item.local_ref == "lab:reg-882" and item.package is not None
        notification = item.package.payload
        assert isinstance(notification, Notification)
        assert notification.kind is NotificationKind.REGISTERED
        assert notification.registration is not None
        assert notification.registration.number == "вх-01-14/882"
        assert item.package.files == {}
        assert item.package.context.get("case") == ("12-3/4567" if shape == "sidecar" else None)
        await item.settle(Taken(("m-n1",)))
        result = await answer
    assert result.status == 202 and result.body == {"message_ids": ["m-n1"]}


async def test_a_notification_with_a_bad_time_names_the_field(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    body = {**REGISTERED["notification"], "time": "2026-11-22T10:15:00"}
    async with running(tmp_path) as rest:
        result = await request(
            session, "POST", url(rest, "notifications"), json=body, headers=auth()
        )
    assert result.status == 400 and result.body["code"] == "format.invalid"
    assert result.body["message"].startswith("notification.time: the time needs a zone")


# ---- the hand-over -------------------------------------------------------------------------
async def test_an_item_the_gateway_does_not_take_in_time_is_withdrawn(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    async with running(tmp_path, queue_timeout=0.2) as rest:
        late = await request(
            session, "POST", url(rest, "documents"), data=form(LETTER, LETTER_FILES), headers=auth()
        )
        assert late.status == 503 and late.body["code"] == "rest.busy"
        assert late.headers["Retry-After"] == "5"
        assert spooled(rest) == []
        async with gateway(rest) as take:
            answer = asyncio.create_task(
                request(
                    session, "POST", url(rest, "notifications"), json=REGISTERED, headers=auth()
                )
            )
            item = await take()  # the withdrawn document is skipped
            assert item.package is not None and isinstance(item.package.payload, Notification)
            await item.settle(Taken(("m-1",)))
            assert (await answer).status == 202


async def test_a_taken_item_is_waited_for_beyond_the_queue_timeout(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    async with running(tmp_path, queue_timeout=0.1) as rest, gateway(rest) as take:
        answer = asyncio.create_task(
            request(
                session,
                "POST",
                url(rest, "documents"),
                data=form(LETTER, LETTER_FILES),
                headers=auth(),
            )
        )
        item = await take()
        await asyncio.sleep(0.3)  # the gateway is slow, but it has the item
        assert item.package is not None
        assert all(p.exists() for p in item.package.files.values())  # still there to read
        await item.settle(Taken(("m-slow",)))
        assert (await answer).body == {"message_ids": ["m-slow"]}


async def test_closing_answers_waiting_clients_503(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    async with running(tmp_path) as rest:
        answer = asyncio.create_task(
            request(session, "POST", url(rest, "notifications"), json=REGISTERED, headers=auth())
        )
        for _ in range(100):
            if rest.handover.waiting:
                break
            await asyncio.sleep(0.01)
        await rest.close()
        result = await answer
    assert result.status == 503 and result.body["code"] == "rest.busy"


async def test_too_many_waiting_submissions_are_503(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    async with running(tmp_path, max_pending=1) as rest, gateway(rest) as take:
        first = asyncio.create_task(
            request(session, "POST", url(rest, "notifications"), json=REGISTERED, headers=auth())
        )
        item = await take()
        second = await request(
            session, "POST", url(rest, "notifications"), json=REGISTERED, headers=auth()
        )
        assert second.status == 503 and second.body["code"] == "rest.busy"
        await item.settle(Taken(()))
        assert (await first).status == 202


# ---- authentication ------------------------------------------------------------------------
async def test_every_route_but_healthz_needs_a_token(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    async with running(tmp_path) as rest:
        assert rest.app is not None
        routes = [(r.method, r.resource.canonical) for r in rest.app.router.routes() if r.resource]
        assert len(routes) >= 7 and all(path.startswith("/local/v1/") for _, path in routes)
        for method, path in [*routes, ("GET", "/local/v1/no-such-route"), ("GET", "/")]:
            target = rest.base_url + path.replace("{id}", "m-1").replace("{file_id}", "main")
            for headers in ({}, auth("wrong-token-0123456789"), {"Authorization": TOKEN}):
                result = await request(session, method, target, headers=headers)
                if path == "/local/v1/healthz":
                    assert result.status == 200
                    continue
                assert result.status == 401, (method, path, headers)
                assert result.headers["WWW-Authenticate"] == "Bearer"
                if method != "HEAD":
                    assert result.body["code"] == "api.unauthorized"
                    assert TOKEN not in json.dumps(result.body)


async def test_with_a_token_an_unknown_route_is_a_json_404(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    async with running(tmp_path) as rest:
        missing = await request(session, "GET", url(rest, "nothing"), headers=auth())
        wrong = await request(session, "DELETE", url(rest, "inbox"), headers=auth())
    assert (missing.status, missing.body["code"]) == (404, "rest.not_found")
    assert (wrong.status, wrong.body["code"]) == (405, "rest.method_not_allowed")
    assert "GET" in wrong.headers["Allow"]


# ---- configuration -------------------------------------------------------------------------
def test_the_registry_builds_the_config(tmp_path: Path) -> None:
    described = resolve("rest")
    assert described.cls is RestAdapter
    assert described.summary.startswith("HTTP for modern local systems")
    tokens = tokens_file(tmp_path)
    config = build_config(
        described,
        {
            "tokens_file": "tokens",
            "listen": "[::1]:8480",
            "webhook": "https://sed.local/hook",
            "max_file_bytes": 1000,
        },
        base_dir=tmp_path,
    )
    assert config.tokens_file == tokens and config.max_file_bytes == 1000
    adapter = RestAdapter(config, MemoryContext(tmp_path / "work"))
    assert adapter.base_url == "http://[::1]:8480"


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"listen": "8480"}, "listen"),
        ({"listen": "host:http"}, "listen"),
        ({"max_file_bytes": 0}, "max_file_bytes"),
        ({"tls_certificate": Path("cert.pem")}, "tls_private_key"),
        ({"tokens_file": Path("/nonexistent/tokens")}, "tokens_file"),
        ({"webhook": "sed.local/hook"}, "webhook"),
        ({"public_url": "ftp://gw"}, "public_url"),
        ({"queue_timeout": 0}, "queue_timeout"),
        ({"max_pending": 0}, "max_pending"),
    ],
)
def test_bad_options_are_config_errors_naming_the_key(
    tmp_path: Path, options: dict[str, Any], key: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        RestAdapter(rest_config(tmp_path, **options), MemoryContext(tmp_path / "work"))
    assert caught.value.key == key


def test_readable_secrets_are_refused(tmp_path: Path) -> None:
    config = rest_config(tmp_path)
    config.tokens_file.chmod(0o644)
    with pytest.raises(ConfigError) as caught:
        RestAdapter(config, MemoryContext(tmp_path / "work"))
    assert caught.value.key == "tokens_file" and "chmod 600" in caught.value.message
    assert not caught.value.message.startswith("api.")
    secret = tmp_path / "hook-token"
    secret.write_text("t" * 20, encoding="utf-8")
    secret.chmod(0o640)
    config = rest_config(tmp_path / "2", webhook="http://127.0.0.1:9/", webhook_token_file=secret)
    with pytest.raises(ConfigError) as caught:
        RestAdapter(config, MemoryContext(tmp_path / "work"))
    assert caught.value.key == "webhook_token_file" and "t" * 20 not in caught.value.message


# ---- the reference documentation ----------------------------------------------------------
DOC = ROOT / "docs" / "adapters" / "rest.md"


def test_every_error_code_is_documented() -> None:
    find = re.compile(r'code ?= ?"([a-z_]+(?:\.[a-z_]+)+)"').findall
    codes = {c for p in (ROOT / "adapters" / "rest").rglob("*.py") for c in find(p.read_text())}
    assert {"rest.too_large", "rest.file_too_large", "rest.busy", "rest.webhook_failed"} <= codes
    documented = set(re.findall(r"^\| `([a-z_.]+)` \|", DOC.read_text(encoding="utf-8"), re.M))
    assert (codes | {"api.unauthorized", "format.invalid"}) - documented == set()


def test_the_documented_webhook_example_has_the_served_shape() -> None:
    blocks = re.findall(r"```json\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    examples = [json.loads(block) for block in blocks]
    webhook = next(e for e in examples if "document" in e and "context" in e)
    assert webhook["format"] == "gateway-drop/1"
    assert {"gateway.message_id", "gateway.sender", "gateway.created"} <= set(webhook["context"])
    for entry in webhook["document"]["files"]:
        assert {"id", "name", "role", "media_type", "sha256", "size", "url"} <= set(entry)
        assert entry["url"].endswith(f"/files/{entry['id']}") and "file" not in entry
