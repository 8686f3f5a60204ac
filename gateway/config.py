"""Configuration: ``gateway.toml`` (this gateway) and ``participants.toml`` (the network).

Everything is checked at start-up and every error names the file and the key, so an operator
fixes the right line the first time. Relative paths are resolved against the file that names
them. Unknown keys are errors (a typo must not silently fall back to a default). This module
reads files and checks that named files exist; it never loads keys or opens connections.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from gateway.crypto.demo import PROFILES
from gateway.errors import ConfigError
from gateway.model import OrgIdKind

PARTICIPANT_ID = re.compile(r"[a-z0-9][a-z0-9.\-]{0,62}")
_ADAPTER_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")


@dataclass(frozen=True)
class RetryPolicy:
    """How the delivery worker retries a message the peer did not take (DESIGN §3 step 4)."""

    initial_delay: float = 1.0  # seconds before the first retry
    max_delay: float = 600.0  # backoff ceiling, seconds
    multiplier: float = 2.0
    jitter: float = 0.2  # ± fraction of each delay, so a recovered peer is not stampeded
    expire_after: dt.timedelta = dt.timedelta(days=7)  # then: dead letter + failure notification
    per_peer_concurrency: int = 64


@dataclass(frozen=True)
class ReceiveLimits:
    """What one inbound request may cost this gateway (the wire endpoint's limits)."""

    max_request_bytes: int = 4 << 30  # a whole request; DESIGN §5 requires 2 GiB files to pass
    max_concurrent: int = 256  # requests in progress; the next one gets 503 + Retry-After
    max_held_bytes: int = 256 << 20  # small files of those requests kept in memory together
    read_timeout: float = 60.0  # seconds of silence from a peer mid-request, then 408
    max_age: dt.timedelta = dt.timedelta(days=30)  # older envelopes and signatures are replays


@dataclass(frozen=True)
class KeyConfig:
    certificate: Path  # PEM: our certificate first, then its chain
    private_key: Path
    trust_anchors: tuple[Path, ...]
    profile: str = "ecdsa"
    # CAs of the officials' own signatures (accredited CAs), checked on request; empty: the
    # trust anchors above
    official_anchors: tuple[Path, ...] = ()


@dataclass(frozen=True)
class TlsConfig:
    """HTTPS for the gateway's endpoint and, with ``client_ca``, mutual TLS with peers."""

    certificate: Path  # our TLS certificate (PEM, chain after it): served, and shown to peers
    private_key: Path
    client_ca: Path | None = None  # require peers' client certificates chaining to it
    ca: Path | None = None  # CAs for peers' server certificates (None: the system's)


@dataclass(frozen=True)
class AdapterConfig:
    """One adapter instance; ``options`` are checked by the adapter's own typed config.

    ``id`` names the instance (default: the adapter's name; needed when one adapter is
    configured twice). ``default`` marks the adapter that receives inbound documents when
    several can (with one exporting adapter, it is the default by itself).
    """

    name: str
    options: Mapping[str, Any] = field(default_factory=dict)
    id: str = ""
    default: bool = False
    key: str = "adapters"  # where in the file it was configured, for errors


@dataclass(frozen=True)
class Participant:
    """A gateway of the network: who it is, where it listens, which certificates sign for it."""

    id: str
    name: str
    endpoint: str
    certificates: tuple[Path, ...]
    profile: str = "ecdsa"
    serves: Mapping[OrgIdKind, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class GatewayConfig:
    path: Path  # the gateway.toml this came from
    participant: str  # our own participant id
    listen_host: str
    listen_port: int
    data_dir: Path
    store: str
    keys: KeyConfig
    participants_file: Path
    retry: RetryPolicy = RetryPolicy()
    adapters: tuple[AdapterConfig, ...] = ()
    api_tokens_file: Path | None = None  # "name:token" lines; None: the local API is off
    # Operators' "name:token" lines; None: the operator API, console data and /metrics are off
    operator_tokens_file: Path | None = None
    tls: TlsConfig | None = None  # None: plain HTTP (the envelope signature is the authority)
    limits: ReceiveLimits = ReceiveLimits()
    handoff_folder: Path | None = None  # where accepted messages go until adapters do it


class _Section:
    """A TOML table being read: hands out typed values and remembers which keys were used."""

    def __init__(self, file: Path, prefix: str, data: Mapping[str, Any]) -> None:
        self.file, self.prefix, self.data = file, prefix, data
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def error(self, name: str, message: str) -> ConfigError:
        return ConfigError(message, file=str(self.file), key=self.key(name))

    def get(self, name: str, kind: type, default: Any = ...) -> Any:
        self.used.add(name)
        if name not in self.data:
            if default is ...:
                raise self.error(name, "is required")
            return default
        value = self.data[name]
        accepted = (int, float) if kind is float else kind
        if not isinstance(value, accepted) or (kind in (int, float) and isinstance(value, bool)):
            raise self.error(name, f"must be {_type_name(kind)}, not {_type_name(type(value))}")
        return value

    def path(self, name: str, *, must_exist: bool = True, default: str | None = None) -> Path:
        raw: str = self.get(name, str, default) if default is not None else self.get(name, str)
        resolved: Path = (self.file.parent / raw).resolve()
        if must_exist and not resolved.exists():
            raise self.error(name, f"file not found: {raw} (resolved to {resolved})")
        return resolved

    def paths(self, name: str) -> tuple[Path, ...]:
        raw = self.get(name, list)
        if not raw or not all(isinstance(item, str) for item in raw):
            raise self.error(name, "must be a non-empty list of file paths")
        out = []
        for item in raw:
            resolved = (self.file.parent / item).resolve()
            if not resolved.exists():
                raise self.error(name, f"file not found: {item} (resolved to {resolved})")
            out.append(resolved)
        return tuple(out)

    def table(self, name: str, *, required: bool = False) -> _Section:
        raw = self.get(name, dict, ... if required else {})
        return _Section(self.file, self.key(name), raw)

    def done(self) -> None:
        for name in self.data:
            if name not in self.used:
                hint = difflib.get_close_matches(name, sorted(self.used), n=1)
                suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
                raise self.error(name, f"unknown key{suggestion}")


def _type_name(kind: type) -> str:
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false",
            list: "a list", dict: "a table"}.get(kind, kind.__name__)  # fmt: skip


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError("file not found", file=str(path)) from None
    except (PermissionError, IsADirectoryError) as exc:
        raise ConfigError(f"cannot be read: {exc.strerror}", file=str(path)) from None
    except UnicodeDecodeError:
        raise ConfigError("is not UTF-8 text; save it as UTF-8", file=str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", file=str(path)) from None


def _profile(section: _Section, name: str = "profile") -> str:
    value: str = section.get(name, str, "ecdsa")
    if value not in PROFILES:
        raise section.error(
            name, f"unknown signature profile {value!r}; known: {', '.join(PROFILES)}"
        )
    return value


def _participant_id(section: _Section, name: str) -> str:
    value: str = section.get(name, str)
    if not PARTICIPANT_ID.fullmatch(value):
        raise section.error(
            name, f"{value!r} is not a participant id (lower-case letters, digits, '.', '-')"
        )
    return value


def load(path: str | Path) -> GatewayConfig:
    """Read and check ``gateway.toml``; ConfigError names the file and key of the first problem."""
    file = Path(path).resolve()
    top = _Section(file, "", _read_toml(file))
    gw = top.table("gateway", required=True)
    participant = _participant_id(gw, "participant")
    listen = gw.get("listen", str, "127.0.0.1:8443")
    host, sep, port_text = listen.rpartition(":")
    if (
        not sep
        or not host
        or not port_text.isdigit()
        or not 0 < int(port_text) < 65536
        or (":" in host and not (host.startswith("[") and host.endswith("]")))
    ):
        raise gw.error("listen", f"{listen!r} is not HOST:PORT (an IPv6 host in brackets)")
    data_dir = gw.path("data_dir", must_exist=False, default="var")
    store = gw.get("store", str, "sqlite")
    if store == "sqlite":
        store = f"sqlite:///{data_dir / 'gateway.sqlite3'}"
    elif not store.startswith(("sqlite:///", "postgresql://", "postgres://")):
        raise gw.error("store", f'{store!r}: use "sqlite", sqlite:///PATH or postgresql://…')
    participants_file = gw.path("participants", default="participants.toml")
    handoff_raw = gw.get("handoff_folder", str, None)
    handoff_folder = (file.parent / handoff_raw).resolve() if handoff_raw else data_dir / "inbox"
    gw.done()

    api_section = top.table("api")
    tokens_file = api_section.path("tokens_file") if "tokens_file" in api_section.data else None
    operators_file = (
        api_section.path("operator_tokens_file")
        if "operator_tokens_file" in api_section.data
        else None
    )
    api_section.done()

    tls_section = top.table("tls")
    tls = None
    if tls_section.data:
        optional = [k for k in ("client_ca", "ca") if k in tls_section.data]
        tls = TlsConfig(
            certificate=tls_section.path("certificate"),
            private_key=tls_section.path("private_key"),
            **{k: tls_section.path(k) for k in optional},
        )
    tls_section.done()

    limits_section = top.table("limits")
    base = ReceiveLimits()
    limits = ReceiveLimits(
        max_request_bytes=_positive_int(
            limits_section, "max_request_mib", base.max_request_bytes >> 20
        )
        << 20,
        max_concurrent=_positive_int(limits_section, "max_concurrent", base.max_concurrent),
        max_held_bytes=_positive_int(limits_section, "max_held_mib", base.max_held_bytes >> 20)
        << 20,
        read_timeout=_positive(limits_section, "read_timeout", base.read_timeout),
        max_age=dt.timedelta(days=_positive(limits_section, "max_age_days", base.max_age.days)),
    )
    limits_section.done()

    keys_section = top.table("keys", required=True)
    keys = KeyConfig(
        certificate=keys_section.path("certificate"),
        private_key=keys_section.path("private_key"),
        trust_anchors=keys_section.paths("trust_anchors"),
        profile=_profile(keys_section),
        official_anchors=(
            keys_section.paths("official_anchors")
            if "official_anchors" in keys_section.data
            else ()
        ),
    )
    keys_section.done()

    retry_section = top.table("retry")
    defaults = RetryPolicy()
    retry = RetryPolicy(
        initial_delay=_positive(retry_section, "initial_delay", defaults.initial_delay),
        max_delay=_positive(retry_section, "max_delay", defaults.max_delay),
        multiplier=_positive(retry_section, "multiplier", defaults.multiplier),
        jitter=float(retry_section.get("jitter", float, defaults.jitter)),
        expire_after=dt.timedelta(
            hours=_positive(
                retry_section, "expire_after_hours", defaults.expire_after / dt.timedelta(hours=1)
            )
        ),
        per_peer_concurrency=_positive_int(
            retry_section, "per_peer_concurrency", defaults.per_peer_concurrency
        ),
    )
    if not 0 <= retry.jitter < 1:
        raise retry_section.error("jitter", "must be between 0 and 1 (a fraction of each delay)")
    retry_section.done()

    adapters: list[AdapterConfig] = []
    raw_adapters = top.get("adapters", list, [])
    for index, raw in enumerate(raw_adapters):
        if not isinstance(raw, dict):
            raise ConfigError(
                "must be a table ([[adapters]])", file=str(file), key=f"adapters[{index}]"
            )
        section = _Section(file, f"adapters[{index}]", raw)
        name = section.get("name", str)
        instance = section.get("id", str, re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-._"))
        if not _ADAPTER_ID.fullmatch(instance):
            raise section.error("id", "must be lower-case letters, digits, '.', '-', '_'")
        if instance in {a.id for a in adapters}:
            raise section.error("id", f"{instance!r} is configured twice; give each an id")
        adapters.append(
            AdapterConfig(
                name=name,
                id=instance,
                default=section.get("default", bool, False),
                options={k: v for k, v in raw.items() if k not in ("name", "id", "default")},
                key=section.prefix,
            )
        )
    if sum(a.default for a in adapters) > 1:
        raise ConfigError("only one adapter may be the default", file=str(file), key="adapters")
    top.done()
    return GatewayConfig(
        path=file,
        participant=participant,
        listen_host=host.strip("[]"),
        listen_port=int(port_text),
        data_dir=data_dir,
        store=store,
        keys=keys,
        participants_file=participants_file,
        retry=retry,
        adapters=tuple(adapters),
        api_tokens_file=tokens_file,
        operator_tokens_file=operators_file,
        tls=tls,
        limits=limits,
        handoff_folder=handoff_folder,
    )


def _positive_int(section: _Section, name: str, default: int) -> int:
    value: int = section.get(name, int, default)
    if value <= 0:
        raise section.error(name, "must be a whole number greater than zero")
    return value


def _positive(section: _Section, name: str, default: float) -> float:
    value = float(section.get(name, float, default))
    if value <= 0:
        raise section.error(name, "must be greater than zero")
    return value


def load_participants(path: str | Path) -> tuple[Participant, ...]:
    """Read and check ``participants.toml`` (a list of ``[[participant]]`` tables)."""
    file = Path(path).resolve()
    top = _Section(file, "", _read_toml(file))
    raw_list = top.get("participant", list)
    top.done()
    participants: list[Participant] = []
    seen: dict[str, str] = {}
    claimed: dict[tuple[OrgIdKind, str], str] = {}
    for index, raw in enumerate(raw_list):
        if not isinstance(raw, dict):
            raise ConfigError("must be a table", file=str(file), key=f"participant[{index}]")
        section = _Section(file, f"participant[{index}]", raw)
        pid = _participant_id(section, "id")
        if pid in seen:
            raise section.error("id", f"participant {pid!r} is defined twice")
        seen[pid] = pid
        endpoint: str = section.get("endpoint", str)
        url = urlsplit(endpoint)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise section.error("endpoint", f"{endpoint!r} is not an http(s) URL")
        serves_section = section.table("serves")
        serves: dict[OrgIdKind, tuple[str, ...]] = {}
        for kind in OrgIdKind:
            values = serves_section.get(kind.value, list, [])
            if not all(isinstance(v, str) and v.strip() for v in values):
                raise serves_section.error(kind.value, "must be a list of non-empty strings")
            normalised = tuple(normalise_org_id(kind, v) for v in values)
            for value in normalised:
                problem = _org_id_problem(kind, value)
                if problem:
                    raise serves_section.error(kind.value, f"{value!r} {problem}")
            for value in normalised:
                other = claimed.setdefault((kind, value), pid)
                if other != pid:
                    raise serves_section.error(
                        kind.value, f"{value} is already served by participant {other!r}"
                    )
            if normalised:
                serves[kind] = normalised
        serves_section.done()
        participants.append(
            Participant(
                id=pid,
                name=section.get("name", str),
                endpoint=endpoint,
                certificates=section.paths("certificates"),
                profile=_profile(section),
                serves=serves,
            )
        )
        section.done()
    return tuple(participants)


def normalise_org_id(kind: OrgIdKind, value: str) -> str:
    """One spelling per identifier: GUIDs lower-case without braces, numbers without spaces."""
    value = value.strip()
    if kind is OrgIdKind.UID:
        return value.strip("{}").lower()
    if kind in (OrgIdKind.INN, OrgIdKind.OGRN):
        return re.sub(r"\s+", "", value)
    return value.upper()  # МЭДО addresses are written in any case: "wh-medo~aprf" == "WH-MEDO~APRF"


def _org_id_problem(kind: OrgIdKind, value: str) -> str | None:
    """Why an organisation id can never match an addressee, or None."""
    if kind is OrgIdKind.INN and not re.fullmatch(r"\d{10}|\d{12}", value):
        return "is not an INN (10 or 12 digits)"
    if kind is OrgIdKind.OGRN and not re.fullmatch(r"\d{13}|\d{15}", value):
        return "is not an OGRN (13 or 15 digits)"
    if kind is OrgIdKind.UID and not re.fullmatch(r"[a-z0-9][a-z0-9._:{}\-]{0,127}", value):
        return "is not an organisation GUID"
    return None
