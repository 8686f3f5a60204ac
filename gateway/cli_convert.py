"""``gateway convert``: translate packages between local formats, offline (DESIGN §8).

For integrators: ``gateway convert --from medo --to sev IN OUT`` decodes the МЭДО message
folder IN to the canonical model and encodes it as a ДЕЛО package in OUT — the same pure
``decode``/``encode`` the running gateway uses, with no store, no keys and no network.
``--many`` converts every package folder inside IN into OUT/<name>, reporting each.
Adapter options (``--from-option``/``--to-option KEY=VALUE``) are those of ``[[adapters]]``;
options naming folders the adapter only uses while running default to a scratch folder.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
import sys
import tempfile
import typing
from pathlib import Path
from typing import Any

import click

from adapters.api import Package
from adapters.registry import build_config, resolve
from gateway.errors import GatewayError
from gateway.model import Document


class OfflineContext:
    """An adapter context for conversions: nothing is kept between runs."""

    def __init__(self, work_dir: Path) -> None:
        self.participant = "offline"
        self.work_dir = work_dir
        self._values: dict[str, str] = {}

    async def remember(self, key: str, value: str) -> None:
        self._values[key] = value

    async def recall(self, key: str) -> str | None:
        return self._values.get(key)

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


def _parse_options(pairs: tuple[str, ...], flag: str) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq or not key:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint=flag)
        lowered = value.lower()
        options[key] = (
            True if lowered == "true" else False if lowered == "false" else _number(value)
        )
    return options


def _number(value: str) -> Any:
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            continue
    return value


def _adapter(name: str, pairs: tuple[str, ...], flag: str, scratch: Path) -> Any:
    described = resolve(name)
    if not described.cls.capabilities.convert:
        raise GatewayError(f"adapter {name!r} cannot convert offline", code="convert.unsupported")
    options = _parse_options(pairs, flag)
    hints = typing.get_type_hints(described.cls.Config)
    for field in dataclasses.fields(described.cls.Config):
        required = (
            field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
        )
        if required and field.name not in options and hints[field.name] is Path:
            options[field.name] = str(scratch / name / field.name)
    config = build_config(described, options, base_dir=Path.cwd(), key=flag.lstrip("-"))
    return described.cls(config, OfflineContext(scratch / name / "work"))


def _describe(package: Package) -> str:
    payload = package.payload
    if isinstance(payload, Document):
        number = f" №{payload.registration.number}" if payload.registration else ""
        return f"document{number}, {len(payload.files)} file(s)"
    return f"notification {payload.kind.value} about {payload.document_uid or '?'}"


def _convert_one(source: Any, target: Any, inp: Path, out: Path) -> Package:
    package: Package = source.decode(inp)
    out.mkdir(parents=True, exist_ok=True)
    if any(out.iterdir()):
        raise GatewayError(f"{out} is not empty; convert into a new folder", code="convert.exists")
    try:
        target.encode(package, out)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    return package


@click.command()
@click.option("--from", "source_name", required=True, metavar="ADAPTER", help="Input format.")
@click.option("--to", "target_name", required=True, metavar="ADAPTER", help="Output format.")
@click.option("--from-option", "from_options", multiple=True, metavar="KEY=VALUE")
@click.option("--to-option", "to_options", multiple=True, metavar="KEY=VALUE")
@click.option("--many", is_flag=True, help="IN holds many packages; each goes to OUT/<name>.")
@click.argument("inp", metavar="IN", type=click.Path(exists=True, path_type=Path))
@click.argument("out", metavar="OUT", type=click.Path(path_type=Path))
def convert(
    source_name: str,
    target_name: str,
    from_options: tuple[str, ...],
    to_options: tuple[str, ...],
    many: bool,
    inp: Path,
    out: Path,
) -> None:
    """Convert a package from one local format to another, offline.

    Example: gateway convert --from medo --to sev ./medo/message-1 ./delo/package-1
    """
    from gateway.cli import fail

    with tempfile.TemporaryDirectory(prefix="gateway-convert-") as scratch:
        try:
            source = _adapter(source_name, from_options, "--from-option", Path(scratch))
            target = _adapter(target_name, to_options, "--to-option", Path(scratch))
        except GatewayError as exc:
            fail(exc)
        if not many:
            try:
                package = _convert_one(source, target, inp, out)
            except GatewayError as exc:
                fail(exc)
            click.echo(f"{inp} ({source_name}: {_describe(package)}) → {out} ({target_name})")
            return
        items = sorted(p for p in inp.iterdir() if not p.name.startswith("."))
        failed = 0
        bar: Any = click.progressbar(
            items, label="converting", file=sys.stderr, show_pos=True
        )
        with bar:
            for item in bar:
                try:
                    _convert_one(source, target, item, out / item.name)
                except GatewayError as exc:
                    failed += 1
                    click.secho(f"\n{item.name}: error [{exc.code}]: {exc.message}",
                                fg="red", err=True)  # fmt: skip
        click.echo(f"converted {len(items) - failed} of {len(items)} into {out}")
        if failed:
            raise SystemExit(1)
