"""Peer health, the console's alerts and the JSON log format, on real certificates and records."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
from pathlib import Path

from gateway import logs
from gateway.api import views
from gateway.config import Participant
from gateway.crypto import issue_certificate, new_ca, write_certificate
from gateway.metrics import UNREACHABLE_AFTER, PeerHealth
from gateway.store.api import Delivered, Rejected, Retry

NOW = dt.datetime.now(dt.UTC)


def _retry() -> Retry:
    return Retry(NOW, "connection refused")


def test_a_peer_is_unreachable_after_failures_in_a_row_and_reachable_after_an_answer() -> None:
    health = PeerHealth()
    for n in range(UNREACHABLE_AFTER):
        assert not health.peers.get("ru-14") or not health.peers["ru-14"].unreachable, n
        health.record("ru-14", _retry(), NOW)
    status = health.peers["ru-14"]
    assert status.unreachable and status.last_error == "connection refused"
    # a signed refusal is an answer: the peer is there
    health.record("ru-14", Rejected("x.no", "no", notification=None), NOW)  # type: ignore[arg-type]
    assert not status.unreachable and status.last_success == NOW
    health.record("ru-14", _retry(), NOW)
    health.record("ru-14", Delivered(b"r", b"s"), NOW)
    assert status.failures_in_a_row == 0


def _cert(tmp_path: Path, name: str, days: int) -> Path:
    ca, ca_key = new_ca("Test CA")
    cert, _ = issue_certificate(ca, ca_key, name, name, days=days)
    path = tmp_path / f"{name}.pem"
    write_certificate(cert, path)
    return path


def test_alerts_name_expiring_certificates_unreachable_peers_and_dead_letters(
    tmp_path: Path,
) -> None:
    own = views.certificates((_cert(tmp_path, "ru-61", 10),))
    soon = _cert(tmp_path, "ru-14", 20)
    later = _cert(tmp_path, "ru-16", 400)
    health = PeerHealth()
    for _ in range(UNREACHABLE_AFTER):
        health.record("ru-16", _retry(), NOW)
    partners = [
        views.partner(Participant(pid, pid, f"https://{pid}/gw/v1/messages", (path,)),
                      views.certificates((path,)), {}, health.peers.get(pid), None, NOW)
        for pid, path in (("ru-14", soon), ("ru-16", later))
    ]  # fmt: skip
    found = views.alerts(own, partners, dead_letters=3, now=NOW)
    kinds = sorted((a["kind"], a["subject"]) for a in found)
    assert kinds == [("certificate", "own"), ("certificate", "ru-14"),
                     ("dead_letters", "queue"), ("unreachable", "ru-16")]  # fmt: skip
    ru14 = next(a for a in found if a["subject"] == "ru-14")
    assert ru14["severity"] == "warning"
    assert ru14["text"].endswith(("19 days left", "20 days left")), ru14
    assert partners[1]["certificates"][0]["expiring"] is False
    assert views.alerts(views.certificates((later,)), [], 0, NOW) == []


def test_json_log_lines_carry_the_message_id() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    logger = logging.getLogger("test.gateway.logs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        logger.info("message %s delivered", "m-1", extra={"message_id": "m-1"})
        logger.info("no message here")
    finally:
        logger.removeHandler(handler)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == "message m-1 delivered" and first["message_id"] == "m-1"
    assert first["level"] == "info" and first["logger"] == "test.gateway.logs"
    assert "message_id" not in second
    text = logs.TextFormatter().format(logging.makeLogRecord(
        {"msg": "x", "levelname": "INFO", "name": "n", "message_id": "m-2"}))  # fmt: skip
    assert text.endswith("[message_id=m-2]")
