"""The ``gateway`` command: each subcommand on real files, exit status and error codes."""

from __future__ import annotations

import datetime as dt
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from gateway import envelope, receipts
from gateway.cli import main
from gateway.model import Document, ErrorReport, Message, Organization, Person

ROOT = Path(__file__).resolve().parents[2]
PARTICIPANTS = ("ru-61=Правительство Ростовской области", "ru-14", "ru-16", "fed-minstroy")


def run(*args: str | Path, ok: bool = True) -> Result:
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    assert (result.exit_code == 0) is ok, result.output
    return result


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example configuration of the demo network, with keys made for it."""
    folder = tmp_path_factory.mktemp("network")
    shutil.copy(ROOT / "config" / "gateway.example.toml", folder / "gateway.toml")
    shutil.copy(ROOT / "config" / "participants.example.toml", folder / "participants.toml")
    run(
        "keys",
        "new",
        "--out",
        folder / "keys",
        *[a for p in PARTICIPANTS for a in ("--participant", p)],
    )
    return folder


def test_keys_new_writes_private_keys_for_the_owner_only(network: Path) -> None:
    for name in ("ca.key", "ru-61.key", "fed-minstroy.key"):
        mode = stat.S_IMODE((network / "keys" / name).stat().st_mode)
        assert mode == 0o600, f"{name} has mode {oct(mode)}"
    assert "BEGIN CERTIFICATE" in (network / "keys" / "ru-14.pem").read_text()


def test_keys_new_reuses_the_ca_and_never_overwrites_silently(network: Path) -> None:
    ca_before = (network / "keys" / "ca.pem").read_bytes()
    result = run("keys", "new", "--out", network / "keys", "--participant", "ru-61", ok=False)
    assert result.exit_code == 1
    assert "error [keys.exists]" in result.output
    assert (network / "keys" / "ca.pem").read_bytes() == ca_before


def test_the_example_configuration_checks_clean(network: Path) -> None:
    result = run("config", "check", "--config", network / "gateway.toml")
    assert "0 error(s), 0 warning(s)" in result.output
    assert "participant 'fed-minstroy': 1 valid certificate(s)" in result.output


def test_config_check_warns_of_expiry_and_fails_after_it(network: Path) -> None:
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(days=720)
    result = run(
        "config", "check", "--config", network / "gateway.toml", "--at", f"{soon:%Y-%m-%d}"
    )
    assert "warning" in result.output and "expires on" in result.output
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=800)
    result = run(
        "config",
        "check",
        "--config",
        network / "gateway.toml",
        "--at",
        f"{later:%Y-%m-%d}",
        ok=False,
    )
    assert f"has no certificate valid on {later:%Y-%m-%d}" in result.output
    assert "our own certificate expired on" in result.output  # an error, in the past tense


def test_config_check_names_a_broken_key(network: Path, tmp_path: Path) -> None:
    broken = tmp_path / "net"
    shutil.copytree(network, broken)
    (broken / "keys" / "ru-61.key").write_text("not a key")
    result = run("config", "check", "--config", broken / "gateway.toml", ok=False)
    assert "keys.unreadable" in result.output and "ru-61.key" in result.output
    assert "1 error(s)" in result.output


def test_config_check_catches_a_certificate_registered_twice(network: Path, tmp_path: Path) -> None:
    swapped = tmp_path / "net"
    shutil.copytree(network, swapped)
    text = (
        (swapped / "participants.toml")
        .read_text()
        .replace('["keys/ru-61.pem"]', '["keys/ru-14.pem"]')
    )
    (swapped / "participants.toml").write_text(text)
    result = run("config", "check", "--config", swapped / "gateway.toml", ok=False)
    assert "registered for both 'ru-61' and 'ru-14'" in result.output
    assert str(swapped / "participants.toml") in result.output  # the file to fix is named


def test_config_check_warns_of_a_readable_key_and_a_wrong_profile(
    network: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "net"
    shutil.copytree(network, copy)
    (copy / "keys" / "ru-61.key").chmod(0o644)
    result = run("config", "check", "--config", copy / "gateway.toml")
    assert "readable by others (mode 644); chmod 600" in result.output
    (copy / "gateway.toml").write_text(
        (copy / "gateway.toml").read_text().replace('profile = "ecdsa"', 'profile = "rsa"')
    )
    result = run("config", "check", "--config", copy / "gateway.toml", ok=False)
    assert (
        "keys.profile: profile 'rsa' does not match our certificate's key (EC secp256r1)"
        in result.output
    )


@pytest.mark.parametrize("pid", ["../evil", "RU 61", ""])
def test_keys_new_refuses_a_bad_participant_id(tmp_path: Path, pid: str) -> None:
    result = run("keys", "new", "--out", tmp_path / "k", "--participant", pid, ok=False)
    assert "is not a participant id" in result.output
    assert not (tmp_path / "evil.key").exists() and not (tmp_path / "k").exists()


def test_keys_new_refuses_half_a_ca(tmp_path: Path) -> None:
    run("keys", "new", "--out", tmp_path / "k", "--participant", "ru-61")
    (tmp_path / "k" / "ca.key").unlink()
    before = (tmp_path / "k" / "ca.pem").read_bytes()
    result = run("keys", "new", "--out", tmp_path / "k", "--participant", "ru-14", ok=False)
    assert "error [keys.ca_incomplete]" in result.output
    assert (tmp_path / "k" / "ca.pem").read_bytes() == before


def test_sign_then_verify_with_the_configuration(network: Path, tmp_path: Path) -> None:
    letter = tmp_path / "письмо.pdf"
    letter.write_bytes(b"%PDF-1.7 " + bytes(range(256)) * 40)
    result = run("sign", letter, "--config", network / "gateway.toml")
    assert "CN=ru-61" in result.output
    signature = tmp_path / "письмо.pdf.p7s"
    assert signature.read_bytes()[:1] == b"\x30"  # DER
    result = run("verify", letter, "--config", network / "gateway.toml", "--participant", "ru-61")
    assert "signature valid" in result.output and "CN=ru-61" in result.output
    result = run(
        "verify", letter, "--config", network / "gateway.toml", "--participant", "ru-14", ok=False
    )
    assert "error [signature.sender_mismatch]" in result.output
    run("sign", letter, "--config", network / "gateway.toml", ok=False)  # no silent overwrite


def test_verify_with_a_one_off_ca_and_tampering(network: Path, tmp_path: Path) -> None:
    letter = tmp_path / "report.txt"
    letter.write_text("отчёт")
    keys = network / "keys"
    run("sign", letter, "--certificate", keys / "ru-16.pem", "--key", keys / "ru-16.key")
    result = run(
        "verify", letter, "--signature", tmp_path / "report.txt.p7s", "--ca", keys / "ca.pem"
    )
    assert "CN=ru-16" in result.output
    letter.write_text("отчёт!")
    result = run("verify", letter, "--ca", keys / "ca.pem", ok=False)
    assert "error [signature.invalid]" in result.output and "changed" in result.output


def test_verify_refuses_a_signer_outside_the_anchors(network: Path, tmp_path: Path) -> None:
    run("keys", "new", "--out", tmp_path / "other", "--participant", "ru-61")
    letter = tmp_path / "a.txt"
    letter.write_text("x")
    other = tmp_path / "other"
    run("sign", letter, "--certificate", other / "ru-61.pem", "--key", other / "ru-61.key")
    result = run("verify", letter, "--ca", network / "keys" / "ca.pem", ok=False)
    assert "error [signature.untrusted]" in result.output


def _message() -> Message:
    org = Organization("Минстрой РО", inn="6163000001")
    doc = Document(
        "doc-1",
        "Письмо",
        org,
        addressees=(Person(Organization("Минстрой РС(Я)", inn="1435000001")),),
    )
    return Message("msg-1", dt.datetime.now(dt.UTC), "ru-61", "ru-14", doc)


def test_validate_accepts_all_three_documents(tmp_path: Path) -> None:
    env = tmp_path / "envelope.xml"
    env.write_bytes(envelope.encode(_message()))
    assert (
        "valid envelope: message msg-1 (document, ru-61 → ru-14), 0 files"
        in run("validate", env).output
    )
    err = tmp_path / "error.xml"
    err.write_bytes(
        receipts.encode_error(
            ErrorReport("routing.unknown_recipient", "нет", dt.datetime.now(dt.UTC), "ru-14")
        )
    )
    assert "valid error document: [routing.unknown_recipient]" in run("validate", err).output


def test_validate_fails_with_the_code(tmp_path: Path) -> None:
    env = tmp_path / "envelope.xml"
    env.write_bytes(
        envelope.encode(_message()).replace(b"<Kind>", b"<Knd>").replace(b"</Kind>", b"</Knd>")
    )
    result = run("validate", env, "--explain", ok=False)
    assert result.exit_code == 1
    assert "error [xml.schema_invalid]" in result.output
    assert "Knd" in result.output
    bomb = tmp_path / "bomb.xml"
    bomb.write_bytes(b'<!DOCTYPE r [<!ENTITY a "aaaa">]><r>&a;</r>')
    assert "error [xml.entity_forbidden]" in run("validate", bomb, ok=False).output


def test_the_console_script_is_installed() -> None:
    gateway = Path(sys.executable).with_name("gateway")
    result = subprocess.run([gateway, "--version"], capture_output=True, text=True, check=True)
    assert "gateway, version" in result.stdout


def test_config_check_warns_when_our_listed_endpoint_cannot_be_this_gateway(
    network: Path, tmp_path: Path
) -> None:
    result = run("config", "check", "--config", network / "gateway.toml")
    assert "our endpoint" not in result.output  # the example lists ru-61 at plain http://
    secure = tmp_path / "net"
    shutil.copytree(network, secure)
    listed = secure / "participants.toml"
    listed.write_text(listed.read_text().replace("http://127.0.0.1:8061", "https://127.0.0.1:8061"))
    result = run("config", "check", "--config", secure / "gateway.toml")
    assert "serves plain HTTP (no [tls])" in result.output
