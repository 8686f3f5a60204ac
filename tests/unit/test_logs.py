"""The gateway's log lines after ``logs.configure``: every field a reader relies on is there."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from gateway import logs


@pytest.fixture
def configured() -> Iterator[None]:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, logging.logThreads, logging.logProcesses,
             logging.logMultiprocessing, logging._srcfile)  # fmt: skip
    yield
    root.handlers[:], root.level = saved[0], saved[1]
    (logging.logThreads, logging.logProcesses, logging.logMultiprocessing,
     logging._srcfile) = saved[2:]  # fmt: skip


def _lines(fmt: str) -> list[str]:
    logs.configure("info", fmt)
    stream = io.StringIO()
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    log = logging.getLogger("gateway.receiver")
    log.info("accepted message %s from %s", "m-1", "ru-61", extra={"message_id": "m-1"})
    log.debug("not at this level")
    return stream.getvalue().splitlines()


@pytest.mark.usefixtures("configured")
def test_a_json_line_has_time_level_logger_message_and_message_id() -> None:
    (line,) = _lines("json")
    fields = json.loads(line)
    assert fields["level"] == "info" and fields["logger"] == "gateway.receiver"
    assert fields["message"] == "accepted message m-1 from ru-61"
    assert fields["message_id"] == "m-1" and fields["time"].endswith("+00:00")


@pytest.mark.usefixtures("configured")
def test_a_text_line_names_the_message() -> None:
    (line,) = _lines("text")
    assert "INFO gateway.receiver: accepted message m-1 from ru-61 [message_id=m-1]" in line
