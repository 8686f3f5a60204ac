"""The example configurations in config/ stay valid: each passes `gateway config check` once
the keys and token files it names exist (made the way config/demo/README.md says)."""

from __future__ import annotations

import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CONFIG = Path(__file__).resolve().parents[2] / "config"
DEMO = ("ru-61", "ru-14", "ru-16", "fed-minstroy")


def gateway(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gateway.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=60)  # fmt: skip


def token_file(path: Path, name: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{name}:{secrets.token_hex(24)}\n")
    path.chmod(0o600)


@pytest.fixture(scope="module")
def demo_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("config") / "demo"
    shutil.copytree(CONFIG / "demo", folder)
    made = gateway("keys", "new", "--out", "keys", *(f"--participant={p}" for p in DEMO),
                   cwd=folder)  # fmt: skip
    assert made.returncode == 0, made.stderr
    token_file(folder / "operators.tokens", "operator")
    token_file(folder / "local" / "rest.tokens", "ias")
    return folder


@pytest.mark.parametrize("participant", DEMO)
def test_demo_network_configuration_passes_config_check(demo_folder: Path, participant: str) -> None:
    check = gateway("config", "check", "--config", f"{participant}.toml", cwd=demo_folder)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "0 error(s)" in check.stdout
    assert "adapter" in check.stdout  # its local system's adapter was built and checked


def test_demo_configuration_lists_the_four_participants(demo_folder: Path) -> None:
    from gateway.config import load_participants

    assert [p.id for p in load_participants(demo_folder / "participants.toml")] == list(DEMO)
