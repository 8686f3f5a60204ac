"""The numbered SQL migration files of a backend (``gateway/store/migrations[/postgres]``).

Both backends read their migrations the same way: files named ``NNNN_what.sql``, numbered 1,
2, … without gaps, applied in order. How a migration is applied and the version recorded is
the backend's own (:mod:`gateway.store.sqlite.schema`, :mod:`gateway.store.postgres.schema`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from typing import Final

_NAME: Final = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def read(*folder: str) -> tuple[Migration, ...]:
    """The migrations in ``gateway/store/migrations/<folder…>``, in order; RuntimeError if one
    is missing (a packaging mistake, found at start-up)."""
    where = resources.files("gateway.store").joinpath("migrations")
    for part in folder:
        where = where.joinpath(part)
    found = []
    for entry in where.iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), entry.name, entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            raise RuntimeError(f"migration {expected:04d} is missing before {migration.name}")
    return tuple(found)
