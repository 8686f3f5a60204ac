"""Store URLs for PostgreSQL: what asyncpg is given, and what may be shown to a person.

A URL may carry a password (``postgresql://gw:secret@db/gateway``). It never appears in a log
line, an error or the console: everything that names the database uses :func:`masked`.
Query parameters other than the ones asyncpg knows become server settings
(``?search_path=ru61`` puts a participant's tables in their own schema).
"""

from __future__ import annotations

import re
from typing import Final

_PASSWORD: Final = re.compile(r"^(?P<head>[a-z]+://[^/@:]*):(?P<secret>[^@/]*)@")
_PASSWORD_PARAM: Final = re.compile(r"([?&]password=)[^&]*", re.IGNORECASE)


def masked(url: str) -> str:
    """``url`` with any password replaced by ``***``."""
    url = _PASSWORD.sub(lambda m: f"{m.group('head')}:***@", url)
    return _PASSWORD_PARAM.sub(r"\1***", url)


def normalised(url: str) -> str:
    """asyncpg takes ``postgresql://`` and ``postgres://``; the gateway accepts both too."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("postgresql", "postgres"):
        raise ValueError(f"not a PostgreSQL URL: {masked(url)!r}")
    return f"postgresql://{rest}"
