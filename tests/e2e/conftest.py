"""The console in a real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright)
against a real two-gateway network; screenshots go to build/test-artifacts/console/."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway import localnet
from gateway.crypto import new_ca, write_certificate
from gateway.localnet import Member, Node

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]  # fmt: skip
ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "examples" / "textletter"
ENV = {"PYTHONPATH": os.pathsep.join(filter(None, [str(EXAMPLE), os.environ.get("PYTHONPATH")]))}


def adapter(folder: Path) -> str:
    """The example text-letter adapter of docs/adapters.md, so the adapters page has a row."""
    return (
        "\n[[adapters]]\n"
        'name = "textletter:TextLetterAdapter"\nid = "letters"\n'
        f'outgoing = "{folder / "out"}"\nincoming = "{folder / "in"}"\n'
        "poll_interval = 0.1\nquiet = 0.0\n"
    )


def drop(folder: Path, name: str, files: dict[str, str | bytes]) -> None:
    """Put an item into an adapter's folder atomically, as a local system would."""
    staging = folder.parent / f".{name}-{uuid.uuid4().hex[:6]}"
    staging.mkdir(parents=True)
    for file, body in files.items():
        (staging / file).write_bytes(body.encode() if isinstance(body, str) else body)
    folder.mkdir(parents=True, exist_ok=True)
    staging.rename(folder / name)


SAVED: list[Path] = []  # artefact folders of this run, named in the terminal summary


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for folder in SAVED:
        terminalreporter.write_line(f"console screenshots: {folder}")


@pytest.fixture()
def artifacts() -> Path:
    """Where the screenshots go: $GATEWAY_TEST_ARTIFACTS, else build/test-artifacts/console."""
    folder = Path(os.environ.get("GATEWAY_TEST_ARTIFACTS") or ROOT / "build" / "test-artifacts")
    folder = folder / "console"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    SAVED.append(folder)
    return folder


def expiring_certificate(folder: Path, member: str, *, days: int) -> None:
    """List a second certificate for ``member``, expiring in ``days`` (an old one kept for a
    rollover), so the console has a certificate to warn about."""
    cert, _ = new_ca(f"{member} (previous key)", days=days)
    write_certificate(cert, folder / "keys" / f"{member}-previous.pem")
    participants = folder / "participants.toml"
    text = participants.read_text(encoding="utf-8")
    current = f'certificates = ["keys/{member}.pem"]'
    assert current in text
    participants.write_text(
        text.replace(
            current, f'certificates = ["keys/{member}.pem", "keys/{member}-previous.pem"]'
        ),
        encoding="utf-8",
    )


@pytest.fixture()
def network(tmp_path: Path) -> Iterator[dict[str, Node]]:
    """ru-61 → ru-14, both running the example adapter; ru-61 retries fast."""
    a, b = localnet.free_ports(2)
    retry = "\n[retry]\ninitial_delay = 0.2\nmax_delay = 0.5\n"
    nodes = localnet.build(
        tmp_path / "net",
        [
            Member("ru-61", "Ростовская область", "6163000001", a,
                   extra=retry + adapter(tmp_path / "delo-61")),
            Member("ru-14", "Республика Саха (Якутия)", "1435000001", b,
                   extra=adapter(tmp_path / "drop-14")),
        ],
    )  # fmt: skip
    expiring_certificate(tmp_path / "net", "ru-14", days=12)
    yield nodes
    for node in nodes.values():
        node.stop(timeout=10)


@pytest.fixture()
async def browser() -> AsyncIterator[Any]:
    """Headless Debian Chromium; skipped when absent unless GATEWAY_REQUIRE_BROWSER=1."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is not installed (Debian package chromium)"
        if os.environ.get("GATEWAY_REQUIRE_BROWSER") == "1":
            pytest.fail(message + " and GATEWAY_REQUIRE_BROWSER=1")
        pytest.skip(message)
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield chromium
        finally:
            await chromium.close()


class Operator:
    """The operator API seen from the test (to set the scene and to check what the UI did)."""

    def __init__(self, session: aiohttp.ClientSession, node: Node) -> None:
        self.session, self.node = session, node

    def _url(self, path: str) -> str:
        return f"{self.node.url}/api/v1/operator{path}"

    @property
    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.node.operator_token}"}

    async def get(self, path: str) -> Any:
        async with self.session.get(self._url(path), headers=self._auth) as response:
            assert response.status == 200, await response.text()
            return await response.json()

    async def post(self, path: str) -> tuple[int, Any]:
        async with self.session.post(self._url(path), headers=self._auth) as response:
            return response.status, await response.json()

    async def state(self, message_id: str) -> str:
        return str((await self.get(f"/messages/{message_id}"))["state"])
