"""The demo network: four participants, each with the local system it really runs.

Rostov oblast (61) runs EOS «ДЕЛО» behind the ``sev`` adapter; the Republic of Sakha (14) a
drop folder behind ``filesystem``; Tatarstan (16) a modern system behind ``rest``; the federal
ministry an МЭДО client behind ``medo``. :func:`build` writes everything under one working
folder — keys from a demo CA made on the spot, one ``gateway.toml`` per participant, the
shared ``participants.toml``, the local systems' folders — and returns the nodes to start.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from gateway import localnet
from gateway.localnet import Member, Node
from gateway.model import Organization

ROSTOV = Organization(
    "Минстрой Ростовской области",
    full_name="Министерство строительства, архитектуры и территориального развития "
    "Ростовской области",
    inn="6163021632", ogrn="1026103166563", region="61",
    uid="5e0c2f3a-61aa-4c1b-9d0e-000000000061",
)  # fmt: skip
SAKHA = Organization(
    "Минстрой Республики Саха (Якутия)",
    full_name="Министерство строительства Республики Саха (Якутия)",
    inn="1435193052", ogrn="1071435022442", region="14",
)  # fmt: skip
TATARSTAN = Organization(
    "Минстрой Республики Татарстан",
    full_name="Министерство строительства, архитектуры и жилищно-коммунального хозяйства "
    "Республики Татарстан",
    inn="1654002946", ogrn="1021602843470", region="16",
)  # fmt: skip
MINSTROY = Organization(
    "Минстрой России",
    full_name="Министерство строительства и жилищно-коммунального хозяйства Российской Федерации",
    inn="7707082071", ogrn="1147746086620",
    uid="39b3deb1-9f60-49a5-8fb9-2af8020071ed", medo_address="MINSTROY~MEDO",
)  # fmt: skip

# participant id -> (organisation, local system)
PARTICIPANTS: dict[str, tuple[Organization, str]] = {
    "ru-61": (ROSTOV, "ДЕЛО (sev)"),
    "ru-14": (SAKHA, "drop folder (filesystem)"),
    "ru-16": (TATARSTAN, "REST"),
    "fed-minstroy": (MINSTROY, "МЭДО (medo)"),
}


@dataclass(frozen=True)
class Folders:
    """A local system's exchange folders: it writes to ``out``, the gateway to ``in_``."""

    out: Path
    in_: Path


@dataclass
class DemoNetwork:
    root: Path
    nodes: dict[str, Node]
    delo: Folders  # Rostov's ДЕЛО
    drop: Folders  # Sakha's drop folder
    medo: Folders  # the federal МЭДО client
    rest_url: str  # Tatarstan's REST adapter, /local/v1
    rest_token: str

    @property
    def local(self) -> Path:
        return self.root / "local"


def _folders(root: Path, name: str) -> Folders:
    folders = Folders(root / name / "out", root / name / "in")
    folders.out.mkdir(parents=True, exist_ok=True)
    folders.in_.mkdir(parents=True, exist_ok=True)
    return folders


def _watch(name: str, folders: Folders) -> str:
    return (
        f'\n[[adapters]]\nname = "{name}"\noutgoing = "{folders.out}"\n'
        f'incoming = "{folders.in_}"\npoll_interval = 0.2\nquiet = 0.2\n'
    )


def build(root: Path) -> DemoNetwork:
    """Write the demo network under ``root`` (an existing demo there is replaced)."""
    root = root.resolve()
    local = root / "local"
    delo, drop, medo = (_folders(local, n) for n in ("delo", "drop", "medo"))
    ports = localnet.free_ports(5)
    rest_token = secrets.token_urlsafe(24)
    tokens = local / "rest.tokens"
    tokens.write_text(f"ias-tatarstan:{rest_token}\n")
    tokens.chmod(0o600)
    rest = (
        f'\n[[adapters]]\nname = "rest"\nlisten = "127.0.0.1:{ports[4]}"\n'
        f'tokens_file = "{tokens}"\n'
    )
    fast = "\n[retry]\ninitial_delay = 0.5\nmax_delay = 5.0\n"
    members = [
        Member("ru-61", ROSTOV.short_name, ROSTOV.inn or "", ports[0],
               extra=fast + _watch("sev", delo)),
        Member("ru-14", SAKHA.short_name, SAKHA.inn or "", ports[1],
               extra=fast + _watch("filesystem", drop)),
        Member("ru-16", TATARSTAN.short_name, TATARSTAN.inn or "", ports[2],
               extra=fast + rest),
        Member("fed-minstroy", MINSTROY.short_name, MINSTROY.inn or "", ports[3],
               extra=fast + _watch("medo", medo)),
    ]  # fmt: skip
    nodes = localnet.build(root / "network", members)
    return DemoNetwork(
        root=root, nodes=nodes, delo=delo, drop=drop, medo=medo,
        rest_url=f"http://127.0.0.1:{ports[4]}/local/v1", rest_token=rest_token,
    )  # fmt: skip
