"""The canonical model as JSON: what local systems send to the intake API and tools read.

Generic over the frozen dataclasses of :mod:`gateway.model`: field names as they are, enums by
value, dates and times in ISO 8601 (times must carry a zone), tuples as lists, ``None`` fields
omitted on output and optional on input. Input is untrusted: every problem is one
:class:`IntakeError` naming the JSON path (``document.addressees[2].organization.inn``), and
unknown keys are refused so that a misspelt field is not silently dropped.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import functools
import types
import typing
from typing import Any, TypeVar, Union, get_args, get_origin

from gateway.errors import GatewayError

T = TypeVar("T")


class IntakeError(GatewayError):
    """The submitted document is not valid."""

    code = "intake.invalid"
    http_status = 400


def to_json(value: Any) -> Any:
    """A JSON-ready structure for a model value."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: to_json(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if getattr(value, f.name) is not None
        }
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dt.date):  # datetime is a date too
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [to_json(item) for item in value]
    return value


def from_json(cls: type[T], data: Any, path: str = "document") -> T:
    """Build ``cls`` from JSON data, or raise IntakeError naming the path of the problem."""
    return typing.cast(T, _convert(cls, data, path))


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _convert(kind: Any, data: Any, path: str) -> Any:
    origin = get_origin(kind)
    if origin in (Union, types.UnionType):
        options = [a for a in get_args(kind) if a is not type(None)]
        if data is None:
            if len(options) < len(get_args(kind)):
                return None
            raise IntakeError(f"{path}: a value is required")
        return _convert(options[0], data, path)
    if origin is tuple:
        if not isinstance(data, list):
            raise IntakeError(f"{path}: must be a list")
        item = get_args(kind)[0]
        return tuple(_convert(item, v, f"{path}[{i}]") for i, v in enumerate(data))
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        return _dataclass(kind, data, path)
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        try:
            return kind(data)
        except ValueError:
            known = ", ".join(str(m.value) for m in kind)
            raise IntakeError(f"{path}: {data!r} is not one of {known}") from None
    if kind is dt.datetime:
        value = _parse(dt.datetime.fromisoformat, data, path, "a date and time (ISO 8601)")
        if value.tzinfo is None:
            raise IntakeError(f"{path}: the time needs a zone, e.g. 2026-11-21T09:30:00+03:00")
        return value
    if kind is dt.date:
        return _parse(dt.date.fromisoformat, data, path, "a date (YYYY-MM-DD)")
    if kind is int:
        if not isinstance(data, int) or isinstance(data, bool):
            raise IntakeError(f"{path}: must be a whole number")
        return data
    if kind is str:
        if not isinstance(data, str):
            raise IntakeError(f"{path}: must be a string")
        return data
    raise TypeError(f"{path}: no JSON form for {kind!r}")  # a model type this module forgot


def _parse(parse: Any, data: Any, path: str, what: str) -> Any:
    if not isinstance(data, str):
        raise IntakeError(f"{path}: must be {what}")
    try:
        return parse(data)
    except ValueError:
        raise IntakeError(f"{path}: {data!r} is not {what}") from None


def _dataclass(kind: type, data: Any, path: str) -> Any:
    if not isinstance(data, dict):
        raise IntakeError(f"{path}: must be an object")
    fields = {f.name: f for f in dataclasses.fields(kind)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise IntakeError(f"{path}: unknown field {unknown[0]!r}; known: {', '.join(fields)}")
    hints = _hints(kind)
    values = {}
    for name, f in fields.items():
        if name in data:
            values[name] = _convert(hints[name], data[name], f"{path}.{name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise IntakeError(f"{path}.{name}: is required")
    return kind(**values)
