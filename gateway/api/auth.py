"""Bearer tokens for the local/operator API.

Tokens live in a file of ``name:token`` lines (mode 0600, never logged). Requests name their
caller by the token's name, which goes into the audit log; the token itself never leaves this
module. Comparison is constant-time.
"""

from __future__ import annotations

import hmac
import stat
from collections.abc import Mapping
from pathlib import Path

from gateway.errors import ConfigError, GatewayError


class AuthError(GatewayError):
    """A valid API token is required (Authorization: Bearer <token>)."""

    code = "api.unauthorized"
    http_status = 401


class Tokens:
    def __init__(self, tokens: Mapping[str, str]) -> None:
        self._tokens = [(name, token.encode()) for name, token in tokens.items()]

    @classmethod
    def load(cls, path: Path) -> Tokens:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(
                f"{path} is readable by others (mode {stat.S_IMODE(mode):o}); chmod 600 it",
                key="api.tokens_file",
            )
        tokens: dict[str, str] = {}
        for number, line in enumerate(path.read_text().splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            name, sep, token = line.partition(":")
            if not sep or not name or len(token) < 16:
                raise ConfigError(
                    f"{path}, line {number}: expected NAME:TOKEN with a token of 16+ characters",
                    key="api.tokens_file",
                )
            tokens[name.strip()] = token.strip()
        return cls(tokens)

    def caller(self, authorization: str | None) -> str:
        """The name of the caller whose token this is; AuthError otherwise."""
        scheme, _, presented = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not presented:
            raise AuthError()
        found = None
        for name, token in self._tokens:  # check every token: timing says nothing about which
            if hmac.compare_digest(token, presented.strip().encode()):
                found = name
        if found is None:
            raise AuthError()
        return found
