"""The example adapter of docs/adapters.md: the conformance kit, the registry, entry points."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pytest

from adapters import registry
from adapters.api import Package
from adapters.testing import AdapterConformance
from gateway.errors import ConfigError
from gateway.model import Notification, NotificationKind, Registration

EXAMPLE = Path(__file__).parents[3] / "docs" / "examples" / "textletter"
sys.path.insert(0, str(EXAMPLE))
from textletter import TextLetterAdapter  # noqa: E402

LETTER = (
    "Uid: 9b2f6a4e-1111-4c1e-9d51-3e1f1b8c0a01\n"
    "From: Министерство экономического развития Ростовской области\n"
    "From-INN: 6163000001\n"
    "To-INN: 1435000002\n"
    "Number: 01-12/345\n"
    "Date: 2026-11-20\n"
    "Subject: О межрегиональном сотрудничестве\n"
    "Attachment: план.pdf\n"
    "\n"
    "Уважаемые коллеги! Направляем план мероприятий.\n"
)


def letter(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "letter.txt").write_text(LETTER, encoding="utf-8")
    (folder / "план.pdf").write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 40)
    return folder


class TestTextLetter(AdapterConformance):
    adapter = TextLetterAdapter

    def config(self, tmp_path: Path) -> TextLetterAdapter.Config:
        return TextLetterAdapter.Config(outgoing=tmp_path / "out", incoming=tmp_path / "in")

    def native_samples(self, tmp_path: Path) -> list[Path]:
        notice = tmp_path / "samples" / "notice"
        notice.mkdir(parents=True)
        (notice / "notice.txt").write_text(
            "Event: registered\nDocument: doc-1\nMessage: m-1\n"
            "Time: 2026-11-21T10:00:00+03:00\nNumber: 14-07/1002\nDate: 2026-11-21\n",
            encoding="utf-8",
        )
        return [letter(tmp_path / "samples" / "letter"), notice]

    def canonical_samples(self, tmp_path: Path) -> list[Package]:
        refused = Notification(
            kind=NotificationKind.REFUSED,
            document_uid="doc-2",
            message_id="m-2",
            time=dt.datetime(2026, 11, 21, 9, 0, tzinfo=dt.UTC),
            reason="Ошибка адресации",
            comment="адресовано не нам",
        )
        registered = Notification(
            kind=NotificationKind.REGISTERED,
            document_uid="doc-3",
            message_id="m-3",
            time=dt.datetime(2026, 11, 21, 9, 0, tzinfo=dt.UTC),
            registration=Registration("14-07/1003", dt.date(2026, 11, 21)),
        )
        first = TextLetterAdapter.decode(
            self.make(tmp_path), letter(tmp_path / "canonical" / "letter")
        )
        return [first, Package(refused), Package(registered)]

    def hostile_samples(self, tmp_path: Path) -> list[tuple[Path, str]]:
        empty = tmp_path / "hostile" / "empty"
        empty.mkdir(parents=True)
        escape = letter(tmp_path / "hostile" / "escape")
        (escape / "letter.txt").write_text(
            LETTER.replace("план.pdf", "../../etc/passwd"), encoding="utf-8"
        )
        no_addressee = letter(tmp_path / "hostile" / "nobody")
        (no_addressee / "letter.txt").write_text(
            LETTER.replace("To-INN: 1435000002\n", ""), encoding="utf-8"
        )
        return [
            (empty, "format.not_text"),
            (escape, "format.missing_file"),
            (no_addressee, "format.invalid"),
        ]

    def exported(self, config: TextLetterAdapter.Config) -> list[Path]:
        return sorted(config.incoming.rglob("*"))


def test_the_example_registers_through_an_entry_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What `pip install docs/examples/textletter` leaves on sys.path: a dist-info folder.
    info = tmp_path / "gateway_textletter-1.0.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: gateway-textletter\nVersion: 1.0.0\n"
    )
    (info / "entry_points.txt").write_text(
        "[gateway.adapters]\ntextletter = textletter:TextLetterAdapter\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))

    described = registry.resolve("textletter")

    assert described.cls is TextLetterAdapter
    assert described.origin == "entry point of gateway-textletter"
    assert described.summary.startswith("An example adapter")
    assert registry.known()["textletter"] == "entry point of gateway-textletter"


def test_a_class_path_resolves_and_an_unknown_name_lists_the_known_ones() -> None:
    assert registry.resolve("textletter:TextLetterAdapter").cls is TextLetterAdapter
    with pytest.raises(ConfigError) as caught:
        registry.resolve("svе")  # a Cyrillic "е": the kind of typo people make
    text = str(caught.value)
    assert "did you mean 'sev'?" in text
    for name in ("sev", "medo", "filesystem", "rest"):
        assert name in text
    with pytest.raises(ConfigError, match="cannot import"):
        registry.resolve("no_such_module:Adapter")


def test_options_are_typed_and_checked(tmp_path: Path) -> None:
    described = registry.resolve("textletter:TextLetterAdapter")
    config = registry.build_config(
        described, {"outgoing": "out", "incoming": "/srv/in", "quiet": 0}, base_dir=tmp_path
    )
    assert config.outgoing == tmp_path / "out" and config.incoming == Path("/srv/in")
    assert config.quiet == 0.0 and isinstance(config.quiet, float)
    with pytest.raises(ConfigError, match=r"adapters\[0\]\.outgong.*options are"):
        registry.build_config(described, {"outgong": "x", "incoming": "y"}, base_dir=tmp_path,
                              key="adapters[0]")  # fmt: skip
    with pytest.raises(ConfigError, match=r"adapters\.incoming: adapter .* needs this option"):
        registry.build_config(described, {"outgoing": "x"}, base_dir=tmp_path)
    with pytest.raises(ConfigError, match="must be a number"):
        registry.build_config(
            described, {"outgoing": "x", "incoming": "y", "quiet": "soon"}, base_dir=tmp_path
        )
