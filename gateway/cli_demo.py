"""``gateway demo``: the demo network of four gateways (see :mod:`gateway.demo`)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from gateway.errors import GatewayError


@click.command("demo")
@click.option("--dir", "folder", type=click.Path(file_okay=False, path_type=Path),
              default="gateway-demo", show_default=True,
              help="working folder (replaced if it holds an earlier demo)")  # fmt: skip
@click.option("--once", is_flag=True, help="exit when the letters are done (status 0 if all "
              "messages reached their expected state)")  # fmt: skip
def demo(folder: Path, once: bool) -> None:
    """Four gateways on 127.0.0.1 — Rostov (ДЕЛО), Sakha (drop folder), Tatarstan (REST) and a
    federal ministry (МЭДО) — exchanging letters, registrations and a refusal."""
    from gateway import demo as demo_module

    try:
        ok = demo_module.run(folder, once=once, echo=click.echo)
    except GatewayError as exc:
        click.secho(f"error [{exc.code}]: {exc.message}", fg="red", err=True)
        sys.exit(1)
    sys.exit(0 if ok else 1)
