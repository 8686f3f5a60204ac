"""``gateway demo --once``: four gateways, five letters, four registrations and one refusal.

The test reads the outcome from the gateways' own stores and the local systems' folders after
the demo has exited, not from its printout.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from gateway import envelope
from gateway.model import Notification, NotificationKind
from gateway.store import open_store
from gateway.store.api import Direction, MessageRecord, State


def demo(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", "demo", "--once", "--dir", str(folder)],
        capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )  # fmt: skip


async def records(node_dir: Path) -> list[MessageRecord]:
    store = await open_store("sqlite:///gateway.sqlite3", node_dir / "var", lock=False)
    try:
        return await store.list_messages(limit=1000)
    finally:
        await store.close()


async def test_demo_once_ends_with_every_message_in_its_expected_state(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    run = demo(folder)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]

    stores = {}
    for pid in ("ru-61", "ru-14", "ru-16", "fed-minstroy"):
        stores[pid] = await records(folder / "network" / pid)
        assert stores[pid], f"{pid} recorded nothing"
        for record in stores[pid]:
            expected = {Direction.OUT: State.DELIVERED, Direction.IN: State.HANDED_OFF}
            assert record.direction in expected, (pid, record)  # no failure notices
            assert record.state is expected[record.direction], (pid, record.message_id)
    sent = {pid: {r.registration_number for r in rs
                  if r.direction is Direction.OUT and r.type.value == "document"}
            for pid, rs in stores.items()}  # fmt: skip
    assert sent == {"ru-61": {"61-03/2215", "61-01/2290"}, "ru-14": {"14-05/1130", "14-01/1201"},
                    "ru-16": {"16-07/559"}, "fed-minstroy": set()}  # fmt: skip
    # every outbound message was received by the peer it names, under the same id
    for pid, rs in stores.items():
        for r in rs:
            if r.direction is Direction.OUT:
                twin = [x for x in stores[r.peer] if x.message_id == r.message_id]
                assert twin and twin[0].direction is Direction.IN and twin[0].peer == pid

    # the refusal: the federal ministry sent it, Sakha's gateway got it with its listed reason
    notes = [envelope.decode(r.envelope).payload for r in stores["ru-14"]
             if r.direction is Direction.IN and r.type.value == "notification"]  # fmt: skip
    refusals = [n for n in notes if isinstance(n, Notification)
                and n.kind is NotificationKind.REFUSED]  # fmt: skip
    assert len(refusals) == 1
    assert refusals[0].reason == "Отсутствует приложение, указанное в документе"

    # ... and Sakha's drop folder holds it as a sidecar its clerk can read
    sidecars = [json.loads(p.read_text(encoding="utf-8"))
                for p in (folder / "local" / "drop" / "in").glob("*/message.json")]  # fmt: skip
    kinds = sorted((s.get("notification") or {}).get("kind", "document") for s in sidecars)
    assert kinds == ["document", "refused", "registered"], kinds
    # ДЕЛО got the federal registration as a СЭВ Report
    reports = list((folder / "local" / "delo" / "in").glob("*/Report*.xml")) + list(
        (folder / "local" / "delo" / "in").glob("*/*.xml"))  # fmt: skip
    assert any("ФМ-12345/06" in p.read_text(encoding="utf-8") for p in reports)

    result = json.loads((folder / "result.json").read_text(encoding="utf-8"))
    assert result["ok"] is True
    outcomes = {x["number"]: x["outcome"] for x in result["letters"]}
    assert outcomes["14-01/1201"].startswith("refused")
    assert outcomes["61-01/2290"] == "registered as № ФМ-12345/06"


def test_demo_never_overwrites_a_folder_that_is_not_a_demo(tmp_path: Path) -> None:
    precious = tmp_path / "documents"
    precious.mkdir()
    (precious / "letter.txt").write_text("keep me")
    run = demo(precious)
    assert run.returncode == 1
    assert "demo.failed" in run.stderr and "--dir" in run.stderr
    assert (precious / "letter.txt").read_text() == "keep me"
