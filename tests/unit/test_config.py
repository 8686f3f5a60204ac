"""Configuration files: defaults, path resolution, and errors that name the file and key."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from gateway import config
from gateway.errors import ConfigError
from gateway.model import OrgIdKind

GATEWAY_TOML = """
[gateway]
participant = "ru-61"
listen = "127.0.0.1:8061"

[keys]
certificate = "keys/ru-61.pem"
private_key = "keys/ru-61.key"
trust_anchors = ["keys/ca.pem"]
"""

PARTICIPANTS_TOML = """
[[participant]]
id = "ru-61"
name = "Ростовская область"
endpoint = "https://127.0.0.1:8061/gw/v1/messages"
certificates = ["keys/ru-61.pem"]
[participant.serves]
inn = ["6163 000000"]
uid = ["{5F3A0C2E-0000-4000-8000-000000000061}"]

[[participant]]
id = "ru-14"
name = "Республика Саха (Якутия)"
endpoint = "https://127.0.0.1:8014/gw/v1/messages"
certificates = ["keys/ru-14.pem", "keys/ru-14-2027.pem"]
profile = "rsa"
[participant.serves]
inn = ["1435000000"]
medo = ["wh-medo~sakha"]
"""


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    keys = tmp_path / "keys"
    keys.mkdir()
    for name in ("ca.pem", "ru-61.pem", "ru-61.key", "ru-14.pem", "ru-14-2027.pem"):
        (keys / name).write_text("placeholder")
    (tmp_path / "gateway.toml").write_text(GATEWAY_TOML)
    (tmp_path / "participants.toml").write_text(PARTICIPANTS_TOML)
    return tmp_path


def write(folder: Path, text: str, name: str = "gateway.toml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def error_of(call: object, *args: object) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        call(*args)  # type: ignore[operator]
    return info.value


def test_a_minimal_file_gets_sensible_defaults(folder: Path) -> None:
    cfg = config.load(folder / "gateway.toml")
    assert cfg.participant == "ru-61"
    assert (cfg.listen_host, cfg.listen_port) == ("127.0.0.1", 8061)
    assert cfg.keys.certificate == folder / "keys" / "ru-61.pem"
    assert cfg.keys.trust_anchors == (folder / "keys" / "ca.pem",)
    assert cfg.data_dir == folder / "var"
    assert cfg.store == f"sqlite:///{folder / 'var' / 'gateway.sqlite3'}"
    assert cfg.participants_file == folder / "participants.toml"
    assert cfg.retry.expire_after == dt.timedelta(days=7)
    assert cfg.keys.profile == "ecdsa"


def test_paths_are_relative_to_the_file_not_the_working_directory(
    folder: Path, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    assert config.load(folder / "gateway.toml").keys.private_key == folder / "keys" / "ru-61.key"


def test_retry_and_adapters_are_read(folder: Path) -> None:
    path = write(
        folder,
        GATEWAY_TOML
        + """
[retry]
initial_delay = 0.5
max_delay = 60
expire_after_hours = 24

[[adapters]]
name = "sev"
incoming = "/srv/delo/out"
""",
    )
    cfg = config.load(path)
    assert cfg.retry.initial_delay == 0.5 and cfg.retry.max_delay == 60.0
    assert cfg.retry.expire_after == dt.timedelta(hours=24)
    assert cfg.adapters[0].name == "sev"
    assert cfg.adapters[0].options == {"incoming": "/srv/delo/out"}


def test_a_missing_key_file_is_named_with_its_key(folder: Path) -> None:
    (folder / "keys" / "ru-61.key").unlink()
    error = error_of(config.load, folder / "gateway.toml")
    assert error.key == "keys.private_key"
    assert error.file == str(folder / "gateway.toml")
    assert "keys/ru-61.key" in error.message and "not found" in error.message


def test_a_typo_is_an_error_with_a_suggestion(folder: Path) -> None:
    path = write(folder, GATEWAY_TOML.replace('listen = "127', 'listne = "127'))
    error = error_of(config.load, path)
    assert error.key == "gateway.listne"
    assert "did you mean 'listen'" in error.message


@pytest.mark.parametrize(
    ("old", "new", "key", "says"),
    [
        (
            'participant = "ru-61"',
            'participant = "Ru 61"',
            "gateway.participant",
            "not a participant id",
        ),
        ('listen = "127.0.0.1:8061"', 'listen = "localhost"', "gateway.listen", "HOST:PORT"),
        ('listen = "127.0.0.1:8061"', "listen = 8061", "gateway.listen", "must be a string"),
        (
            'trust_anchors = ["keys/ca.pem"]',
            "trust_anchors = []",
            "keys.trust_anchors",
            "non-empty",
        ),
        ("[keys]", '[keys]\nprofile = "dsa"', "keys.profile", "known: rsa, rsa-pss, ecdsa"),
        ("[gateway]", '[gateway]\nstore = "mysql://x"', "gateway.store", "postgresql://"),
    ],
)
def test_bad_values_name_their_key(folder: Path, old: str, new: str, key: str, says: str) -> None:
    error = error_of(config.load, write(folder, GATEWAY_TOML.replace(old, new)))
    assert error.key == key
    assert says in error.message
    assert str(error).startswith("[config.invalid] ")


def test_bad_retry_values_are_refused(folder: Path) -> None:
    error = error_of(config.load, write(folder, GATEWAY_TOML + "[retry]\njitter = 1.5\n"))
    assert error.key == "retry.jitter"
    error = error_of(config.load, write(folder, GATEWAY_TOML + "[retry]\nmax_delay = 0\n"))
    assert error.key == "retry.max_delay"


def test_broken_toml_names_the_file_and_line(folder: Path) -> None:
    error = error_of(config.load, write(folder, "[gateway\nparticipant = 1"))
    assert error.file == str(folder / "gateway.toml")
    assert "line 1" in error.message


def test_a_missing_section_is_named(folder: Path) -> None:
    error = error_of(config.load, write(folder, GATEWAY_TOML.split("[keys]")[0]))
    assert error.key == "keys"


def test_participants_are_read_and_ids_normalised(folder: Path) -> None:
    rostov, sakha = config.load_participants(folder / "participants.toml")
    assert rostov.serves[OrgIdKind.INN] == ("6163000000",)
    assert rostov.serves[OrgIdKind.UID] == ("5f3a0c2e-0000-4000-8000-000000000061",)
    assert sakha.serves[OrgIdKind.MEDO] == ("WH-MEDO~SAKHA",)
    assert sakha.certificates == (folder / "keys" / "ru-14.pem", folder / "keys" / "ru-14-2027.pem")
    assert sakha.profile == "rsa"


def test_an_organisation_served_twice_is_refused(folder: Path) -> None:
    text = PARTICIPANTS_TOML.replace('inn = ["1435000000"]', 'inn = ["6163000000"]')
    error = error_of(config.load_participants, write(folder, text, "participants.toml"))
    assert error.key == "participant[1].serves.inn"
    assert "already served by participant 'ru-61'" in error.message


def test_a_duplicate_participant_and_a_bad_endpoint_are_refused(folder: Path) -> None:
    error = error_of(
        config.load_participants,
        write(
            folder, PARTICIPANTS_TOML.replace('id = "ru-14"', 'id = "ru-61"'), "participants.toml"
        ),
    )
    assert "defined twice" in error.message and error.key == "participant[1].id"
    error = error_of(
        config.load_participants,
        write(
            folder,
            PARTICIPANTS_TOML.replace("https://127.0.0.1:8014", "ftp://x"),
            "participants.toml",
        ),
    )
    assert error.key == "participant[1].endpoint"


def test_a_missing_certificate_is_named(folder: Path) -> None:
    (folder / "keys" / "ru-14-2027.pem").unlink()
    error = error_of(config.load_participants, folder / "participants.toml")
    assert error.key == "participant[1].certificates"
    assert "ru-14-2027.pem" in error.message


def test_a_file_that_is_not_utf8_is_named(folder: Path) -> None:
    (folder / "gateway.toml").write_bytes(GATEWAY_TOML.encode() + "# Ростов\n".encode("cp1251"))
    error = error_of(config.load, folder / "gateway.toml")
    assert "not UTF-8" in error.message and error.file == str(folder / "gateway.toml")


@pytest.mark.parametrize(
    ("old", "new", "says"),
    [
        ('inn = ["1435000000"]', 'inn = ["14350OOOO1"]', "is not an INN"),
        ('medo = ["wh-medo~sakha"]', 'medo = ["wh-medo~sakha"]\nogrn = ["12"]', "is not an OGRN"),
    ],
)
def test_organisation_ids_that_can_never_match_are_refused(
    folder: Path, old: str, new: str, says: str
) -> None:
    error = error_of(
        config.load_participants,
        write(folder, PARTICIPANTS_TOML.replace(old, new), "participants.toml"),
    )
    assert says in error.message
    assert error.key is not None and error.key.startswith("participant[1].serves.")


def test_ipv6_needs_brackets_and_concurrency_a_whole_number(folder: Path) -> None:
    assert (
        config.load(write(folder, GATEWAY_TOML.replace("127.0.0.1:8061", "[::1]:8061"))).listen_host
        == "::1"
    )
    error = error_of(config.load, write(folder, GATEWAY_TOML.replace("127.0.0.1:8061", "::1:8061")))
    assert error.key == "gateway.listen"
    error = error_of(
        config.load, write(folder, GATEWAY_TOML + "[retry]\nper_peer_concurrency = 2.5\n")
    )
    assert error.key == "retry.per_peer_concurrency" and "integer" in error.message


def test_receive_limits_have_defaults_and_can_be_set(folder: Path) -> None:
    assert config.load(folder / "gateway.toml").limits == config.ReceiveLimits()
    text = (
        GATEWAY_TOML
        + "[limits]\nmax_request_mib = 8192\nmax_concurrent = 16\nmax_age_days = 7\n"
        + "max_held_mib = 32\n"
    )
    limits = config.load(write(folder, text)).limits
    assert limits.max_request_bytes == 8 << 30
    assert limits.max_concurrent == 16
    assert limits.max_held_bytes == 32 << 20
    assert limits.max_age == dt.timedelta(days=7)
    error = error_of(config.load, write(folder, GATEWAY_TOML + "[limits]\nmax_concurrent = 0\n"))
    assert error.key == "limits.max_concurrent"
    error = error_of(config.load, write(folder, GATEWAY_TOML + "[limits]\nmax_held_mib = 0\n"))
    assert error.key == "limits.max_held_mib"
