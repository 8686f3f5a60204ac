"""``gateway convert``: offline translation between local formats."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.cli import main

EXAMPLE = Path(__file__).parents[2] / "docs" / "examples" / "textletter"
TEXT = "textletter:TextLetterAdapter"


@pytest.fixture(autouse=True)
def example_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLE))


def letter(folder: Path, number: str = "01-12/345") -> Path:
    folder.mkdir(parents=True)
    (folder / "letter.txt").write_text(
        f"Uid: u-{folder.name}\nFrom: Минфин Ростовской области\nTo-INN: 1435000001\n"
        f"Number: {number}\nDate: 2026-11-20\nAttachment: смета.xlsx\n\nТекст письма\n",
        encoding="utf-8",
    )
    (folder / "смета.xlsx").write_bytes(b"PK\x03\x04" + bytes(range(200)))
    return folder


def test_one_package_is_converted_byte_for_byte(tmp_path: Path) -> None:
    source = letter(tmp_path / "in")
    result = CliRunner().invoke(main, ["convert", "--from", TEXT, "--to", TEXT,
                                       str(source), str(tmp_path / "out")])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "document №01-12/345, 2 file(s)" in result.output
    for name in ("letter.txt", "смета.xlsx"):
        assert (tmp_path / "out" / name).read_bytes() == (source / name).read_bytes()


def test_many_packages_report_each_failure_and_convert_the_rest(tmp_path: Path) -> None:
    letter(tmp_path / "in" / "a")
    letter(tmp_path / "in" / "b")
    (tmp_path / "in" / "broken").mkdir()
    result = CliRunner().invoke(main, ["convert", "--from", TEXT, "--to", TEXT, "--many",
                                       str(tmp_path / "in"), str(tmp_path / "out")])  # fmt: skip
    assert result.exit_code == 1
    assert "broken: error [format.not_text]" in result.output
    assert "converted 2 of 3" in result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a", "b"]


def test_bad_requests_are_clear_errors(tmp_path: Path) -> None:
    source = letter(tmp_path / "in")
    runner = CliRunner()
    unknown = runner.invoke(main, ["convert", "--from", "medoo", "--to", TEXT, str(source),
                                   str(tmp_path / "o1")])  # fmt: skip
    assert unknown.exit_code == 1
    assert "error [config.invalid]: unknown adapter 'medoo'; did you mean 'medo'?" in unknown.output
    (tmp_path / "o2").mkdir()
    (tmp_path / "o2" / "keep.txt").write_text("mine")
    occupied = runner.invoke(main, ["convert", "--from", TEXT, "--to", TEXT, str(source),
                                    str(tmp_path / "o2")])  # fmt: skip
    assert occupied.exit_code == 1 and "error [convert.exists]" in occupied.output
    assert (tmp_path / "o2" / "keep.txt").read_text() == "mine"
    option = runner.invoke(main, ["convert", "--from", TEXT, "--to", TEXT, "--to-option",
                                  "colour=blue", str(source), str(tmp_path / "o3")])  # fmt: skip
    assert option.exit_code == 1 and "unknown option 'colour'" in option.output
