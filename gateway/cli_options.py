"""Options shared by the ``gateway`` subcommands (kept apart so every CLI module can import it)."""

from __future__ import annotations

from pathlib import Path

import click

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default="gateway.toml",
    envvar="GATEWAY_CONFIG",
    show_default=True,
    help="The gateway's configuration file (or set GATEWAY_CONFIG).",
)
