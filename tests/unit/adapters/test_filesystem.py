"""The filesystem adapter: the conformance kit, hostile items, a real drop folder, exports."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from adapters.api import FormatError, Package, Refused, Taken
from adapters.filerefs import describe
from adapters.filesystem import FilesystemAdapter
from adapters.filesystem.adapter import FilesystemConfig
from adapters.filesystem.sidecar import parse
from adapters.registry import build_config, resolve
from adapters.testing import AdapterConformance, MemoryContext, outgoing
from gateway.errors import ConfigError
from gateway.model import (
    Document,
    FileRole,
    Notification,
    NotificationKind,
    Organization,
    Person,
    Registration,
    Urgency,
)

SAMPLES = Path(__file__).parent / "samples" / "filesystem"
ROOT = Path(__file__).resolve().parents[3]
LETTER_FILES = (
    "Письмо о подготовке к паводку.pdf",
    "Письмо о подготовке к паводку.pdf.sig",
    "Приложение 1.txt",
)


# ---- canonical samples ---------------------------------------------------------------------
def letter_package(folder: Path, *, names: Iterable[str] = ()) -> Package:
    """A letter from Rostov to Sakha with a main file, its signature and attachments; extra
    ``names`` become attachments with exactly those (possibly hostile) names."""
    folder.mkdir(parents=True, exist_ok=True)
    main = folder / "main.pdf"
    main.write_bytes("%PDF-1.4\n% Письмо Минстроя Ростовской области\n".encode())
    sig = folder / "main.sig"
    sig.write_bytes(bytes(range(256)))
    refs = [
        describe(main, id="main", role=FileRole.MAIN, name="Письмо № 12-3.pdf", pages=2),
        describe(
            sig,
            id="main-sig",
            role=FileRole.SIGNATURE,
            name="Письмо № 12-3.pdf.sig",
            signature_of="main",
        ),
    ]
    files = {"main": main, "main-sig": sig}
    for index, name in enumerate(names):
        path = folder / f"extra-{index}"
        path.write_bytes(f"Приложение {index}: {name}\n".encode())
        description = f"Приложение {index}"
        refs.append(
            describe(
                path,
                id=f"att-{index}",
                role=FileRole.ATTACHMENT,
                name=name,
                description=description,
            )
        )
        files[f"att-{index}"] = path
    rostov = Organization(short_name="Минстрой Ростовской области", inn="6163021632", region="61")
    sakha = Organization(short_name="Минстрой РС(Я)", inn="1435193052", region="14")
    document = Document(
        uid="6f1c2a9e-3b7d-4c1e-9a52-61d0c0ffee02",
        kind="Письмо",
        sender=rostov,
        registration=Registration("12-3/4567", dt.date(2026, 11, 21)),
        title="О подготовке к паводку",
        addressees=(Person(sakha, name="Петров П. П.", post="Министр"),),
        urgency=Urgency.URGENT,
        subscriptions=(NotificationKind.REGISTERED, NotificationKind.REFUSED),
        files=tuple(refs),
    )
    return Package(document, files, {"case": "12-3/4567"})


def refusal() -> Package:
    return Package(
        Notification(
            kind=NotificationKind.REFUSED,
            document_uid="6f1c2a9e-3b7d-4c1e-9a52-61d0c0ffee02",
            message_id="0b8e6d1a-5c4f-4e2b-8f3a-2d9c7e1b4a60",
            time=dt.datetime(2026, 11, 22, 10, 20, tzinfo=dt.timezone(dt.timedelta(hours=9))),
            reason="Документ неверно адресован",
        )
    )


# Names a peer may send that cannot be used as they are in a folder (or not on every system).
AWKWARD_NAMES = (
    "../../Письмо.pdf",
    "/etc/passwd",
    "a\\b.txt",
    "message.json",
    "CON.txt",
    "скан.pdf",
    "СКАН.pdf",
    "Письмо № 12-3.pdf",  # the same name as the main file
    "вопрос?.txt",
    "ends with a dot.",
    "x" * 300 + ".pdf",
)


# ---- hostile items -------------------------------------------------------------------------
def _sidecar(**document: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "uid": "b0f5c3d2-0000-4000-8000-00000000000a",
        "kind": "Письмо",
        "sender": {"short_name": "Администрация г. Аксай", "inn": "6102001234"},
        "files": [{"id": "main", "name": "letter.txt", "role": "main"}],
    }
    body.update(document)
    return {"format": "gateway-drop/1", "document": body}


def _item(folder: Path, sidecar: dict[str, Any] | bytes | None, **files: bytes) -> Path:
    folder.mkdir(parents=True)
    (folder / "letter.txt").write_text("Текст письма\n", encoding="utf-8")
    for name, data in files.items():
        (folder / name).write_bytes(data)
    if sidecar is not None:
        raw = sidecar if isinstance(sidecar, bytes) else json.dumps(sidecar).encode()
        (folder / "message.json").write_bytes(raw)
    return folder


def _one_file(**entry: Any) -> dict[str, Any]:
    return _sidecar(files=[{"id": "main", "name": "letter.txt", "role": "main", **entry}])


def _two(*files: tuple[str, str]) -> dict[str, Any]:
    return _sidecar(files=[{"id": i, "name": name, "role": "main"} for i, name in files])


def hostile_items(tmp: Path) -> list[tuple[Path, str]]:
    tmp.mkdir(parents=True)
    outside = tmp / "outside.txt"
    outside.write_text("не для шлюза", encoding="utf-8")
    cases: list[tuple[Path, str]] = [
        (SAMPLES / "hostile" / "traversal", "format.unsafe_name"),
        (SAMPLES / "hostile" / "digest-mismatch", "format.digest_mismatch"),
        (_item(tmp / "no-sidecar", None), "format.no_sidecar"),
        (_item(tmp / "bad-json", b'{"format": "gateway-drop/1", '), "format.json"),
        (_item(tmp / "not-utf8", '{"format": "х"}'.encode("cp1251")), "format.json"),
        (
            _item(tmp / "repeated-key", b'{"format": "gateway-drop/1", "format": "x"}'),
            "format.json",
        ),
        (_item(tmp / "not-an-object", b"[]"), "format.invalid"),
        (
            _item(tmp / "newer", {**_sidecar(), "format": "gateway-drop/2"}),
            "format.unknown_version",
        ),
        (_item(tmp / "no-format", {"document": _sidecar()["document"]}), "format.unknown_version"),
        (
            _item(tmp / "bad-inn", _sidecar(sender={"short_name": "А", "inn": 6102001234})),
            "format.invalid",
        ),
        (_item(tmp / "unknown-field", _sidecar(colour="red")), "format.invalid"),
        (_item(tmp / "both", {**_sidecar(), "notification": {}}), "format.invalid"),
        (_item(tmp / "bad-role", _one_file(role="cover")), "format.invalid"),
        (_item(tmp / "bad-id", _one_file(id="a/b")), "format.invalid"),
        (_item(tmp / "bad-sha", _one_file(sha256="xyz")), "format.invalid"),
        (_item(tmp / "context", {**_sidecar(), "context": {"n": 1}}), "format.invalid"),
        (
            _item(tmp / "twice", _two(("a", "letter.txt"), ("a", "x.txt")), **{"x.txt": b"x"}),
            "format.invalid",
        ),
        (
            _item(tmp / "same-file", _two(("a", "letter.txt"), ("b", "letter.txt"))),
            "format.invalid",
        ),
        (
            _item(tmp / "sig-of-nothing", _one_file(role="signature", signature_of="gone")),
            "format.invalid",
        ),
        (
            _item(tmp / "sig-of-itself", _one_file(role="signature", signature_of="main")),
            "format.invalid",
        ),
        (_item(tmp / "missing", _one_file(name="Письмо.pdf")), "format.missing_file"),
        (_item(tmp / "is-a-folder", _one_file(name="sub")), "format.missing_file"),
        (_item(tmp / "absolute", _one_file(name=str(outside))), "format.unsafe_name"),
        (_item(tmp / "backslash", _one_file(name="..\\outside.txt")), "format.unsafe_name"),
        (_item(tmp / "dotdot", _one_file(name="..")), "format.unsafe_name"),
        (_item(tmp / "itself", _one_file(name="message.json")), "format.unsafe_name"),
        (_item(tmp / "file-key", _one_file(file="../outside.txt")), "format.unsafe_name"),
        (_item(tmp / "control", _one_file(name="letter\n.txt")), "format.unsafe_name"),
        (_item(tmp / "size", _one_file(size=1)), "format.digest_mismatch"),
        (_item(tmp / "sha", _one_file(sha256="A" * 64)), "format.digest_mismatch"),
    ]
    (tmp / "is-a-folder" / "sub").mkdir()
    linked = _item(tmp / "linked-file", _one_file(name="link.txt"))
    (linked / "link.txt").symlink_to(outside)
    linked_sidecar = _item(tmp / "linked-sidecar", None)
    (tmp / "real-sidecar.json").write_text(json.dumps(_sidecar()), encoding="utf-8")
    (linked_sidecar / "message.json").symlink_to(tmp / "real-sidecar.json")
    real = _item(tmp / "real-item", _sidecar())
    (tmp / "linked-item").symlink_to(real, target_is_directory=True)
    fifo = _item(tmp / "fifo", _one_file(name="pipe"))
    os.mkfifo(fifo / "pipe")  # opening it for reading would wait for a writer forever
    loose = tmp / "loose.pdf"
    loose.write_bytes(b"%PDF-1.4")
    cases += [
        (linked, "format.unsafe_name"),
        (linked_sidecar, "format.unsafe_name"),
        (tmp / "linked-item", "format.unsafe_name"),
        (fifo, "format.missing_file"),
        (loose, "format.no_sidecar"),
    ]
    return cases


def _tree(folder: Path) -> list[tuple[str, str]]:
    return sorted(
        (
            str(p.relative_to(folder)),
            hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "",
        )
        for p in folder.rglob("*")
    )


class TestFilesystemAdapter(AdapterConformance):
    adapter = FilesystemAdapter

    def config(self, tmp_path: Path) -> FilesystemConfig:
        return FilesystemConfig(
            outgoing=tmp_path / "outgoing",
            incoming=tmp_path / "incoming",
            poll_interval=0.01,
            quiet=0,
        )

    def native_samples(self, tmp_path: Path) -> Iterable[Path]:
        return [SAMPLES / "letter", SAMPLES / "registered", SAMPLES / "refused"]

    def canonical_samples(self, tmp_path: Path) -> Iterable[Package]:
        return [
            letter_package(tmp_path / "plain"),
            letter_package(tmp_path / "awkward", names=AWKWARD_NAMES),
            refusal(),
        ]

    def hostile_samples(self, tmp_path: Path) -> Iterable[tuple[Path, str]]:
        return hostile_items(tmp_path / "hostile")

    def exported(self, config: FilesystemConfig) -> list[Path]:
        return sorted(config.incoming.rglob("*"))


# ---- decoding ------------------------------------------------------------------------------
def make(tmp_path: Path, **options: Any) -> FilesystemAdapter:
    config = FilesystemConfig(
        outgoing=tmp_path / "outgoing",
        incoming=tmp_path / "incoming",
        poll_interval=0.01,
        quiet=0,
        **options,
    )
    return FilesystemAdapter(config, MemoryContext(tmp_path / "work"))


def test_the_letter_sample_decodes_to_what_its_sidecar_says(tmp_path: Path) -> None:
    package = make(tmp_path).decode(SAMPLES / "letter")
    document = package.payload
    assert isinstance(document, Document)
    assert document.registration == Registration("12-3/4567", dt.date(2026, 11, 21))
    assert document.addressees[0].organization.inn == "1435193052"
    assert [(f.id, f.role, f.name) for f in document.files] == [
        ("main", FileRole.MAIN, LETTER_FILES[0]),
        ("main-sig", FileRole.SIGNATURE, LETTER_FILES[1]),
        ("att-1", FileRole.ATTACHMENT, LETTER_FILES[2]),
    ]
    signature = document.files[1]
    assert signature.signature_of == "main"
    assert signature.media_type == "application/pkcs7-signature"  # from the name: not stated
    for ref in document.files:  # measured from the bytes
        data = package.files[ref.id].read_bytes()
        assert (ref.sha256, ref.size) == (hashlib.sha256(data).hexdigest(), len(data))
        assert package.files[ref.id].parent == SAMPLES / "letter"
    assert package.context == {"case": "12-3/4567", "ведомство.журнал": "Исходящие 2026"}


def test_notification_samples_decode(tmp_path: Path) -> None:
    adapter = make(tmp_path)
    registered = adapter.decode(SAMPLES / "registered").payload
    refused = adapter.decode(SAMPLES / "refused").payload
    assert isinstance(registered, Notification) and isinstance(refused, Notification)
    assert registered.kind is NotificationKind.REGISTERED
    assert registered.registration == Registration("вх-01-14/882", dt.date(2026, 11, 22))
    assert registered.time.utcoffset() == dt.timedelta(hours=9)
    assert refused.kind is NotificationKind.REFUSED
    assert refused.reason == "Документ неверно адресован"


def _refusal(adapter: FilesystemAdapter, item: Path) -> FormatError:
    with pytest.raises(FormatError) as caught:
        adapter.decode(item)
    return caught.value


def test_path_traversal_is_refused_naming_the_entry(tmp_path: Path) -> None:
    error = _refusal(make(tmp_path), SAMPLES / "hostile" / "traversal")
    assert error.code == "format.unsafe_name"
    assert "document.files[1].name" in error.message and "../secret.txt" in error.message


def test_a_digest_mismatch_is_refused_with_both_digests(tmp_path: Path) -> None:
    error = _refusal(make(tmp_path), SAMPLES / "hostile" / "digest-mismatch")
    actual = hashlib.sha256((SAMPLES / "hostile" / "digest-mismatch" / "letter.txt").read_bytes())
    assert error.code == "format.digest_mismatch"
    assert "document.files[0].sha256" in error.message
    assert "0" * 64 in error.message and actual.hexdigest() in error.message


def test_a_model_error_names_its_json_path(tmp_path: Path) -> None:
    item = _item(tmp_path / "i", _sidecar(addressees=[{"organization": {"short_name": 5}}]))
    error = _refusal(make(tmp_path), item)
    assert error.code == "format.invalid"
    assert error.message.startswith("document.addressees[0].organization.short_name: must be")


def test_a_stated_digest_in_capitals_is_accepted(tmp_path: Path) -> None:
    sha = hashlib.sha256("Текст письма\n".encode()).hexdigest()
    item = _item(tmp_path / "i", _one_file(sha256=sha.upper(), size=len("Текст письма\n".encode())))
    document = make(tmp_path).decode(item).payload
    assert isinstance(document, Document) and document.files[0].sha256 == sha


def test_a_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    item = _item(tmp_path / "i", b"\xef\xbb\xbf" + json.dumps(_sidecar()).encode())
    assert isinstance(make(tmp_path).decode(item).payload, Document)


def test_extra_files_in_an_item_are_left_alone(tmp_path: Path) -> None:
    item = _item(tmp_path / "i", _sidecar(), **{"notes.txt": b"for the operator"})
    package = make(tmp_path).decode(item)
    assert set(package.files) == {"main"}


# ---- intake through a real drop folder ----------------------------------------------------
async def _next_item(items: Any) -> Any:
    return await asyncio.wait_for(anext(items), 5)


async def test_a_dropped_letter_is_taken_and_moved_to_processed(tmp_path: Path) -> None:
    adapter = make(tmp_path)
    outgoing_dir = tmp_path / "outgoing"
    items = adapter.intake()
    try:
        shutil.copytree(SAMPLES / "letter", outgoing_dir / "letter-0001")
        item = await _next_item(items)
        assert item.local_ref == "letter-0001" and item.problem is None
        assert not (outgoing_dir / "letter-0001").exists()  # picked up: in .processing/
        document = item.package.payload
        assert isinstance(document, Document) and document.title == "О подготовке к паводку"
        for ref in document.files:
            original = (SAMPLES / "letter" / ref.name).read_bytes()
            assert item.package.files[ref.id].read_bytes() == original
            assert ref.sha256 == hashlib.sha256(original).hexdigest()
        await item.settle(Taken(("m-1", "m-2")))
    finally:
        await items.aclose()
    processed = outgoing_dir / "processed" / "letter-0001"
    assert sorted(p.name for p in processed.iterdir()) == sorted((*LETTER_FILES, "message.json"))
    assert not any((outgoing_dir / ".processing").iterdir())
    await adapter.close()


async def test_a_hostile_item_goes_to_failed_with_its_code(tmp_path: Path) -> None:
    adapter = make(tmp_path)
    outgoing_dir = tmp_path / "outgoing"
    shutil.copytree(SAMPLES / "hostile" / "traversal", outgoing_dir / "traversal")
    items = adapter.intake()
    try:
        item = await _next_item(items)
        assert item.package is None
        assert item.problem is not None and item.problem.code == "format.unsafe_name"
        await item.settle(Refused(item.problem.code, item.problem.message))
    finally:
        await items.aclose()
    failed = outgoing_dir / "failed"
    assert (failed / "traversal" / "message.json").is_file()
    note = (failed / "traversal.error.txt").read_text(encoding="utf-8")
    assert "code: format.unsafe_name" in note and "../secret.txt" in note


async def test_a_letter_the_gateway_refuses_goes_to_failed(tmp_path: Path) -> None:
    adapter = make(tmp_path)
    shutil.copytree(SAMPLES / "letter", tmp_path / "outgoing" / "to-nowhere")
    items = adapter.intake()
    try:
        item = await _next_item(items)
        assert item.package is not None
        await item.settle(Refused("routing.unknown_recipient", "ИНН 1435193052 не обслуживается"))
    finally:
        await items.aclose()
    note = (tmp_path / "outgoing" / "failed" / "to-nowhere.error.txt").read_text(encoding="utf-8")
    assert "routing.unknown_recipient" in note and "ИНН 1435193052" in note


# ---- export --------------------------------------------------------------------------------
async def test_export_writes_the_sidecar_with_gateway_context_and_exact_files(
    tmp_path: Path,
) -> None:
    adapter = make(tmp_path)
    package = letter_package(tmp_path / "src", names=["../../Письмо.pdf"])
    item = outgoing(package, sender="ru-61")
    description = await adapter.export(item)
    folder = tmp_path / "incoming" / item.message.message_id
    assert str(folder) in description and description.startswith("written to")
    sidecar = json.loads((folder / "message.json").read_text(encoding="utf-8"))
    assert sidecar["format"] == "gateway-drop/1"
    assert sidecar["context"] == {
        "case": "12-3/4567",
        "gateway.message_id": item.message.message_id,
        "gateway.sender": "ru-61",
        "gateway.created": item.message.created.isoformat(),
    }
    entries = {e["id"]: e for e in sidecar["document"]["files"]}
    assert entries["main"]["sha256"] == package.payload.files[0].sha256  # type: ignore[union-attr]
    assert (
        entries["att-0"]["name"] == "../../Письмо.pdf" and entries["att-0"]["file"] == "Письмо.pdf"
    )
    assert "file" not in entries["main"]
    for file_id, source in package.files.items():
        entry = entries[file_id]
        assert (folder / entry.get("file", entry["name"])).read_bytes() == source.read_bytes()
    assert not (tmp_path / "Письмо.pdf").exists()
    assert adapter.decode(folder).payload == package.payload
    again = await adapter.export(item)
    assert again.startswith("already in")
    assert [p.name for p in (tmp_path / "incoming").iterdir()] == [item.message.message_id]


async def test_export_of_a_notification(tmp_path: Path) -> None:
    adapter = make(tmp_path)
    item = outgoing(refusal())
    await adapter.export(item)
    back = adapter.decode(tmp_path / "incoming" / item.message.message_id)
    assert back.payload == refusal().payload
    assert back.context["gateway.message_id"] == item.message.message_id


async def test_an_unsafe_message_id_gets_a_stable_safe_folder(tmp_path: Path) -> None:
    adapter = make(tmp_path)
    item = outgoing(refusal())
    item = dataclasses.replace(
        item, message=dataclasses.replace(item.message, message_id="{urn:x}:../1")
    )
    await adapter.export(item)
    await adapter.export(item)
    (folder,) = (tmp_path / "incoming").iterdir()
    assert re.fullmatch(r"msg-[0-9a-f]{40}", folder.name)
    assert adapter.decode(folder).context["gateway.message_id"] == "{urn:x}:../1"


async def test_a_failed_write_leaves_nothing_in_incoming(tmp_path: Path) -> None:
    adapter = make(tmp_path)
    package = letter_package(tmp_path / "src")
    os.remove(package.files["main-sig"])
    with pytest.raises(FileNotFoundError) as caught:
        await adapter.export(outgoing(package))
    assert isinstance(caught.value, FilesystemAdapter.recoverable_errors)
    assert list((tmp_path / "incoming").iterdir()) == []


# ---- configuration -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("outgoing_dir", "incoming_dir"),
    [("drop", "drop"), ("drop", "drop/in"), ("exchange/in/out", "exchange/in")],
)
def test_folders_inside_each_other_are_a_config_error(
    tmp_path: Path, outgoing_dir: str, incoming_dir: str
) -> None:
    config = FilesystemConfig(outgoing=tmp_path / outgoing_dir, incoming=tmp_path / incoming_dir)
    with pytest.raises(ConfigError) as caught:
        FilesystemAdapter(config, MemoryContext(tmp_path / "work"))
    assert caught.value.key == "incoming"


def test_the_registry_builds_the_config_from_gateway_toml_options(tmp_path: Path) -> None:
    described = resolve("filesystem")
    assert described.cls is FilesystemAdapter
    assert described.summary.startswith("A generic drop folder")
    config = build_config(
        described, {"outgoing": "drop/out", "incoming": "drop/in", "quiet": 2}, base_dir=tmp_path
    )
    assert config == FilesystemConfig(tmp_path / "drop/out", tmp_path / "drop/in", 1.0, 2.0)


# ---- the reference documentation ----------------------------------------------------------
DOC = ROOT / "docs" / "adapters" / "filesystem.md"


def _json_blocks(path: Path) -> list[str]:
    return re.findall(r"```json\n(.*?)```", path.read_text(encoding="utf-8"), re.S)


def test_the_documented_example_is_a_valid_sidecar() -> None:
    example = _json_blocks(DOC)[0]
    sidecar = parse(example.encode())
    assert isinstance(sidecar.payload, Document)
    assert [f.role for f in sidecar.files] == [
        FileRole.MAIN,
        FileRole.SIGNATURE,
        FileRole.ATTACHMENT,
    ]
    assert sidecar.context


def test_every_error_code_is_documented() -> None:
    find = re.compile(r'code ?= ?"([a-z_]+(?:\.[a-z_]+)+)"').findall
    source = ROOT / "adapters" / "filesystem"
    codes = {c for p in source.rglob("*.py") for c in find(p.read_text(encoding="utf-8"))}
    assert {"format.unsafe_name", "format.digest_mismatch", "format.no_sidecar"} <= codes
    documented = set(re.findall(r"^\| `([a-z_.]+)` \|", DOC.read_text(encoding="utf-8"), re.M))
    assert (codes | {"format.invalid", "adapter.failed"}) - documented == set()
