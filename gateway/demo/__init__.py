"""``gateway demo``: four gateways on 127.0.0.1 exchanging real letters, from nothing.

:func:`run` builds the demo network in a working folder (:mod:`gateway.demo.network`), starts
the four ``gateway run`` processes, plays the scenario (:mod:`gateway.demo.scenario`) with the
local systems' stand-ins (:mod:`gateway.demo.locals`), reads every message's final state from
the gateways' operator APIs, prints a table and writes it to ``result.json``. The embedded
SQLite store is used; nothing outside the working folder is touched. A folder that is not an
earlier demo's is never overwritten.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from gateway.demo import network as net
from gateway.demo import scenario
from gateway.errors import GatewayError

MARKER = ".gateway-demo"
SETTLE_TIMEOUT = 60.0


class DemoError(GatewayError):
    """The demo could not run."""

    code = "demo.failed"


@dataclass(frozen=True)
class Row:
    gateway: str
    message_id: str
    direction: str
    peer: str
    type: str
    number: str
    state: str

    @property
    def expected(self) -> str:
        return {"out": "delivered", "in": "handed-off"}.get(self.direction, "none")

    @property
    def ok(self) -> bool:
        return self.state == self.expected


def prepare(folder: Path) -> Path:
    """An empty working folder: new, or an earlier demo's (replaced)."""
    folder = folder.resolve()
    if folder.exists() and any(folder.iterdir()):
        if not (folder / MARKER).exists():
            raise DemoError(
                f"{folder} exists and is not a gateway demo folder; name another with --dir"
            )
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).write_text("made by `gateway demo`; safe to delete\n")
    return folder


async def collect(demo: net.DemoNetwork) -> list[Row]:
    rows = []
    async with aiohttp.ClientSession() as session:
        for pid, node in demo.nodes.items():
            headers = {"Authorization": f"Bearer {node.operator_token}"}
            async with session.get(f"{node.url}/api/v1/operator/messages?limit=500",
                                   headers=headers) as response:  # fmt: skip
                response.raise_for_status()
                listed = (await response.json())["messages"]
            for m in reversed(listed):
                rows.append(Row(pid, m["message_id"], m["direction"], m["peer"], m["type"],
                                m.get("registration_number") or "", m["state"]))  # fmt: skip
    return rows


async def settle(demo: net.DemoNetwork) -> list[Row]:
    """Every message's state once they have stopped moving (or the timeout passes)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + SETTLE_TIMEOUT
    while True:
        rows = await collect(demo)
        if all(r.ok for r in rows) or loop.time() > end:
            return rows
        await asyncio.sleep(0.3)


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows, strict=True)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [line.format(*header), line.format(*("─" * w for w in widths))]
    out += [line.format(*row) for row in rows]
    return "\n".join(row.rstrip() for row in out)


def write_result(folder: Path, plan: list[scenario.Letter], rows: list[Row]) -> bool:
    ok = all(r.ok for r in rows) and all(p.answered for p in plan)
    result: dict[str, Any] = {
        "ok": ok,
        "letters": [
            {"number": p.number, "sender": p.sender, "recipient": p.recipient, "title": p.title,
             "document_uid": p.document.uid, "message_id": p.message_id,
             "expected": p.answer, "outcome": p.outcome}
            for p in plan
        ],
        "messages": [
            {**r.__dict__, "expected": r.expected} for r in rows
        ],
    }  # fmt: skip
    (folder / "result.json").write_text(
        json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    return ok


def run(folder: Path, *, once: bool, echo: Callable[[str], None]) -> bool:
    """Build, start and play the demo; True if every message ended as expected."""
    folder = prepare(folder)
    echo(f"demo folder: {folder}")
    demo = net.build(folder)
    try:
        for pid, node in demo.nodes.items():
            node.start(wait=60)
            org, system = net.PARTICIPANTS[pid]
            echo(f"  started {pid:<13} {org.short_name} — {system}, {node.url}")
        plan = scenario.letters(demo)
        steps = [0]
        total = len(plan) * 4

        def progress(text: str) -> None:
            steps[0] += 1
            echo(f"  [{min(steps[0], total):>2}/{total}] {text}")

        asyncio.run(scenario.play(demo, plan, progress))
        rows = asyncio.run(settle(demo))
        ok = write_result(folder, plan, rows)
        echo("")
        echo(table([[p.number, f"{p.sender} → {p.recipient}", p.title[:48], p.outcome]
                    for p in plan], ["№", "route", "letter", "answer"]))  # fmt: skip
        echo("")
        echo(table([[r.gateway, r.direction, r.peer, r.type, r.number, r.message_id[:8],
                     r.state + ("" if r.ok else f" (expected {r.expected})")]
                    for r in rows],
                   ["gateway", "dir", "peer", "type", "№", "message", "state"]))  # fmt: skip
        echo("")
        echo(f"{'all messages reached their expected state' if ok else 'NOT ALL MESSAGES SETTLED'}"
             f"; details in {folder / 'result.json'}")  # fmt: skip
        if once:
            return ok
        echo("\nconsoles (log in with the text after 'operator:' in the operators.tokens named):")
        for pid, node in demo.nodes.items():
            echo(f"  {pid:<13} {node.url}/console/   token: {node.folder / 'operators.tokens'}")
        echo("local systems' folders: " + str(demo.local))
        echo("Ctrl-C stops the gateways.")
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_forever())
        return ok
    except (TimeoutError, RuntimeError, OSError) as exc:
        logs = ", ".join(str(n.log) for n in demo.nodes.values())
        raise DemoError(f"{exc}; the gateways' logs: {logs}") from exc
    finally:
        for node in demo.nodes.values():
            node.stop(timeout=20)


async def _forever() -> None:
    await asyncio.Event().wait()
