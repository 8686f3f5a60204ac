"""Finding adapters by name and building their typed configuration (DESIGN §8).

Lookup order: the built-in alias table, then the entry-point group ``gateway.adapters``
(a third-party package registers ``myname = "mypkg.adapter:MyAdapter"``), then a
``"pkg.mod:Class"`` path written directly in the config. An unknown name is a configuration
error that lists the known names and suggests the closest one.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import types
import typing
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any, Union, get_args, get_origin

from adapters.api import Described
from gateway.errors import ConfigError

ENTRY_POINT_GROUP = "gateway.adapters"

BUILTINS: Mapping[str, str] = {
    "sev": "adapters.sev:SevAdapter",
    "medo": "adapters.medo:MedoAdapter",
    "filesystem": "adapters.filesystem:FilesystemAdapter",
    "rest": "adapters.rest:RestAdapter",
}


def known() -> dict[str, str]:
    """Every adapter name that resolves without a path: name → where it comes from."""
    names = {name: "built-in" for name in BUILTINS}
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
        names.setdefault(entry.name, f"entry point of {entry.dist.name if entry.dist else '?'}")
    return names


def resolve(name: str) -> Described:
    """The adapter class registered under ``name`` (or at the ``pkg.mod:Class`` path)."""
    if name in BUILTINS:
        return _describe(name, _load(BUILTINS[name], name), "built-in")
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUP, name=name):
        try:
            cls = entry.load()
        except Exception as exc:
            raise ConfigError(
                f"adapter {name!r} (entry point {entry.value}) could not be loaded: {exc}"
            ) from exc
        origin = f"entry point of {entry.dist.name if entry.dist else '?'}"
        return _describe(name, cls, origin)
    if ":" in name:
        return _describe(name, _load(name, name), name)
    names = sorted(known())
    close = difflib.get_close_matches(name, names, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ConfigError(
        f"unknown adapter {name!r}{hint} Known adapters: {', '.join(names)}; "
        'a third-party adapter is named "package.module:Class" or registered in the '
        f"{ENTRY_POINT_GROUP!r} entry-point group"
    )


def _load(path: str, name: str) -> type[Any]:
    module_name, _, attribute = path.partition(":")
    try:
        module = importlib.import_module(module_name)
        cls = getattr(module, attribute)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"adapter {name!r}: cannot import {path}: {exc}") from exc
    if not isinstance(cls, type):
        raise ConfigError(f"adapter {name!r}: {path} is not a class")
    return cls


def _describe(name: str, cls: type[Any], origin: str) -> Described:
    missing = [
        member
        for member in ("name", "capabilities", "Config", "intake", "export", "decode", "encode")
        if not hasattr(cls, member)
    ]
    if missing:
        raise ConfigError(
            f"adapter {name!r} ({cls.__module__}.{cls.__qualname__}) does not implement the "
            f"adapter contract: missing {', '.join(missing)} (see adapters/api.py)"
        )
    summary = ((cls.__module__ and _module_doc(cls)) or "").strip().splitlines()
    return Described(name=name, cls=cls, origin=origin, summary=summary[0] if summary else "")


def _module_doc(cls: type[Any]) -> str:
    module = importlib.import_module(cls.__module__)
    return module.__doc__ or ""


def build_config(
    described: Described,
    options: Mapping[str, Any],
    *,
    base_dir: Path,
    file: str | None = None,
    key: str = "adapters",
) -> Any:
    """The adapter's typed ``Config`` from the options of its ``[[adapters]]`` table.

    Types are checked (``Path`` fields resolved against ``base_dir``; ``float`` accepts
    integers; ``tuple[str, ...]`` accepts a list); an unknown key or a missing required one
    is a ConfigError naming the file and key.
    """
    config_cls: Any = described.cls.Config
    if not dataclasses.is_dataclass(config_cls):
        raise ConfigError(f"adapter {described.name!r}: its Config is not a dataclass")
    hints = typing.get_type_hints(config_cls)
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(options) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown option {unknown[0]!r} for adapter {described.name!r}; "
            f"its options are: {', '.join(sorted(fields)) or 'none'}",
            file=file,
            key=f"{key}.{unknown[0]}",
        )
    values: dict[str, Any] = {}
    for name, f in fields.items():
        if name not in options:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(
                    f"adapter {described.name!r} needs this option", file=file, key=f"{key}.{name}"
                )
            continue
        values[name] = _convert(hints[name], options[name], base_dir, file, f"{key}.{name}")
    return typing.cast(Any, described.cls.Config)(**values)


def _convert(kind: Any, value: Any, base_dir: Path, file: str | None, key: str) -> Any:
    origin = get_origin(kind)
    if origin in (Union, types.UnionType):
        options = [a for a in get_args(kind) if a is not type(None)]
        if len(options) == 1:
            return _convert(options[0], value, base_dir, file, key)
    if kind is Path:
        if not isinstance(value, str) or not value:
            raise ConfigError("must be a path (a non-empty string)", file=file, key=key)
        path = Path(value).expanduser()
        return path if path.is_absolute() else (base_dir / path)
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError("must be a number", file=file, key=key)
        return float(value)
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError("must be true or false", file=file, key=key)
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError("must be an integer", file=file, key=key)
        return value
    if kind is str:
        if not isinstance(value, str):
            raise ConfigError("must be a string", file=file, key=key)
        return value
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError("must be a list", file=file, key=key)
        item = get_args(kind)[0]
        return tuple(_convert(item, v, base_dir, file, f"{key}[{i}]") for i, v in enumerate(value))
    if origin is dict or kind is dict:
        if not isinstance(value, dict):
            raise ConfigError("must be a table", file=file, key=key)
        return dict(value)
    raise ConfigError(f"option type {kind!r} is not supported by the registry", file=file, key=key)
