"""Log lines for people and for machines.

``gateway run --log-format json`` writes one JSON object per line: time, level, logger,
message, and ``message_id`` on every line about a message (the workers pass it as ``extra``),
so a log search by message id finds its whole story. The text format shows the same id in
brackets. Secrets never reach a log line: nothing logs keys or tokens in the first place.
"""

from __future__ import annotations

import datetime as dt
import json
import logging

_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value if isinstance(value, str | int | float | bool) else str(value)
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        message_id = getattr(record, "message_id", None)
        return f"{text} [message_id={message_id}]" if message_id else text


def configure(level: str = "info", fmt: str = "text") -> None:
    # Neither format says where in the code, in which thread or in which process a line was
    # written, so records need not find out (the logging HOWTO's "Optimization" switches):
    # ~20 % of each line's cost, and a gateway writes a few lines per letter.
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    # No walk up the stack for the caller's file and line. Process-wide: ``lineno`` and
    # ``funcName`` stay empty and ``stack_info=True`` is ignored (nothing here uses them).
    logging._srcfile = None
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
