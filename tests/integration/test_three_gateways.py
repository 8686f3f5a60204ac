"""End to end across three gateways, through the real adapters (issue: adapters).

Rostov (ru-61) runs ДЕЛО behind the `sev` adapter, the federal body (fed-minstroy) an МЭДО
client behind `medo`, Tatarstan (ru-16) a modern system behind `rest`; Sakha (ru-14) a drop
folder behind `filesystem`. Packages are made the way the local systems make them — written in
their own format by the adapters' encoders, which the unit tests check against the formats'
published schemas — and dropped into the local systems' outgoing folders.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from adapters.api import Package
from adapters.filerefs import describe
from adapters.filesystem import FilesystemAdapter
from adapters.medo import MedoAdapter
from adapters.sev import SevAdapter
from adapters.testing import MemoryContext
from gateway import localnet
from gateway.localnet import Member, Node
from gateway.model import (
    Document,
    FileRole,
    Notification,
    NotificationKind,
    Organization,
    Person,
    Registration,
    Signatory,
)
from tests.integration.conftest import cli, wait_for

ROSTOV = Organization("Министерство строительства Ростовской области", inn="6163000001",
                      uid="5e0c2f3a-61aa-4c1b-9d0e-000000000061", region="61")  # fmt: skip
MINSTROY = Organization("Министерство строительства и ЖКХ Российской Федерации",
                        inn="7707000001", uid="39b3deb1-9f60-49a5-8fb9-2af8020071ed",
                        medo_address="MINSTROY~MEDO")  # fmt: skip
TATARSTAN = Organization("Министерство строительства Республики Татарстан", inn="1655000001")
SAKHA = Organization("Министерство строительства Республики Саха (Якутия)", inn="1435000001")


def folders(root: Path, name: str) -> tuple[Path, Path]:
    return root / name / "out", root / name / "in"


def sev_options(root: Path) -> str:
    out, inc = folders(root, "delo")
    return (f'\n[[adapters]]\nname = "sev"\noutgoing = "{out}"\nincoming = "{inc}"\n'
            "poll_interval = 0.1\nquiet = 0.0\n")  # fmt: skip


def medo_options(root: Path) -> str:
    out, inc = folders(root, "medo")
    return (f'\n[[adapters]]\nname = "medo"\noutgoing = "{out}"\nincoming = "{inc}"\n'
            "poll_interval = 0.1\nquiet = 0.0\n")  # fmt: skip


@pytest.fixture
def network(tmp_path: Path) -> Iterator[dict[str, Node]]:
    ports = localnet.free_ports(4)
    local = tmp_path / "local"
    rest_token = tmp_path / "rest.tokens"
    rest_token.write_text("ias:rest-secret-token\n")
    rest_token.chmod(0o600)
    fs_out, fs_in = folders(local, "drop")
    nodes = localnet.build(
        tmp_path / "net",
        [
            Member("ru-61", ROSTOV.short_name, ROSTOV.inn or "", ports[0],
                   extra=sev_options(local)),
            Member("fed-minstroy", MINSTROY.short_name, MINSTROY.inn or "", ports[1],
                   extra=medo_options(local)),
            Member("ru-16", TATARSTAN.short_name, TATARSTAN.inn or "", ports[2],
                   extra=(f'\n[[adapters]]\nname = "rest"\nlisten = "127.0.0.1:{ports[3]}"\n'
                          f'tokens_file = "{rest_token}"\n')),
            Member("ru-14", SAKHA.short_name, SAKHA.inn or "", localnet.free_ports(1)[0],
                   extra=(f'\n[[adapters]]\nname = "filesystem"\noutgoing = "{fs_out}"\n'
                          f'incoming = "{fs_in}"\npoll_interval = 0.1\nquiet = 0.0\n')),
        ],
    )  # fmt: skip
    yield nodes
    for node in nodes.values():
        node.stop(timeout=10)


def items(folder: Path) -> list[Path]:
    if not folder.exists():
        return []
    return sorted(p for p in folder.iterdir() if not p.name.startswith(".") and p.is_dir())


def letter(folder: Path, number: str, addressee: Organization, sender: Organization) -> Package:
    """A signed letter as a local system holds it: a PDF, an attachment, officials' .sig files."""
    folder.mkdir(parents=True)
    main = folder / "letter.pdf"
    main.write_bytes(b"%PDF-1.7\n" + os.urandom(120_000))
    annex = folder / "annex.pdf"
    annex.write_bytes(b"%PDF-1.7\n" + os.urandom(40_000))
    sig_main = folder / "letter.pdf.sig"
    sig_main.write_bytes(b"0\x82\x05" + os.urandom(1400))  # detached CMS, carried untouched
    sig_annex = folder / "annex.pdf.sig"
    sig_annex.write_bytes(b"0\x82\x05" + os.urandom(1400))
    files = (
        describe(main, id="f1", role=FileRole.MAIN),
        describe(annex, id="f2", role=FileRole.ATTACHMENT),
        describe(sig_main, id="s1", role=FileRole.SIGNATURE, signature_of="f1"),
        describe(sig_annex, id="s2", role=FileRole.SIGNATURE, signature_of="f2"),
    )
    document = Document(
        uid=str(uuid.uuid4()),
        kind="Письмо",
        sender=sender,
        registration=Registration(number, dt.date(2026, 11, 20)),
        title="О ходе реализации программы капитального ремонта",
        annotation="Доклад о ходе реализации региональной программы капитального ремонта",
        signatories=(
            Signatory(Person(sender, name="Иванов И. И.", post="Министр"), dt.date(2026, 11, 20)),
        ),
        addressees=(Person(addressee, name="Петров П. П.", post="Министр"),),
        pages=3,
        files=files,
    )
    return Package(
        document,
        {
            f.id: folder / p
            for f, p in zip(
                files, ("letter.pdf", "annex.pdf", "letter.pdf.sig", "annex.pdf.sig"), strict=True
            )
        },
    )


def place(adapter: SevAdapter | MedoAdapter, package: Package, outgoing: Path, name: str) -> Path:
    """Write ``package`` in the local format, then move it into the outgoing folder whole."""
    staging = outgoing.parent / f".staging-{name}"
    staging.mkdir(parents=True)
    adapter.encode(package, staging)
    outgoing.mkdir(parents=True, exist_ok=True)
    return staging.rename(outgoing / name)


def files_by_digest(folder: Path) -> dict[bytes, str]:
    return {p.read_bytes(): p.name for p in folder.rglob("*") if p.is_file()}


async def test_delo_to_medo_and_the_registration_and_refusal_come_back(
    network: dict[str, Node], tmp_path: Path
) -> None:
    rostov, federal = network["ru-61"], network["fed-minstroy"]
    rostov.start()
    federal.start()
    local = tmp_path / "local"
    delo_out, delo_in = folders(local, "delo")
    medo_out, medo_in = folders(local, "medo")
    sev = SevAdapter(SevAdapter.Config(outgoing=tmp_path / "x1", incoming=tmp_path / "x2"),
                     MemoryContext(tmp_path / "sev-work"))  # fmt: skip
    medo = MedoAdapter(MedoAdapter.Config(outgoing=tmp_path / "x3", incoming=tmp_path / "x4"),
                       MemoryContext(tmp_path / "medo-work"))  # fmt: skip

    # ДЕЛО in Rostov registers two letters to the federal ministry and exports them.
    first = letter(tmp_path / "src1", "61-01/1001", MINSTROY, ROSTOV)
    second = letter(tmp_path / "src2", "61-01/1002", MINSTROY, ROSTOV)
    place(sev, first, delo_out, "pkg-1001")
    place(sev, second, delo_out, "pkg-1002")

    await wait_for(lambda: len(items(medo_in)) == 2, 40, "both letters in the МЭДО folder")
    arrived = {}
    for folder in items(medo_in):
        package = medo.decode(folder)  # a valid МЭДО message (the unit tests check the XSD)
        assert isinstance(package.payload, Document)
        arrived[package.payload.registration.number] = (folder, package)  # type: ignore[union-attr]
    assert set(arrived) == {"61-01/1001", "61-01/1002"}
    for source, (folder, package) in ((first, arrived["61-01/1001"]),
                                      (second, arrived["61-01/1002"])):  # fmt: skip
        delivered = files_by_digest(folder)
        for path in source.files.values():  # every file, the officials' .sig included, intact
            assert path.read_bytes() in delivered, path.name
        assert package.payload.uid == source.payload.uid  # type: ignore[union-attr]
    await wait_for(lambda: len(items(delo_out / "processed")) == 2, 10, "ДЕЛО items acknowledged")

    # The МЭДО client registers the first letter and refuses the second.
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    accepted = Notification(
        kind=NotificationKind.REGISTERED,
        document_uid=first.payload.uid,  # type: ignore[union-attr]
        message_id=arrived["61-01/1001"][0].name,
        time=now,
        registration=Registration("ФМ-12345/06", dt.date(2026, 11, 21)),
        author=MINSTROY,
    )
    refused = Notification(
        kind=NotificationKind.REFUSED,
        document_uid=second.payload.uid,  # type: ignore[union-attr]
        message_id=arrived["61-01/1002"][0].name,
        time=now,
        reason="Документ неверно адресован",
        comment="Направьте в Минфин",
        author=MINSTROY,
    )
    place(medo, Package(accepted), medo_out, "note-accepted")
    place(medo, Package(refused), medo_out, "note-refused")

    await wait_for(lambda: len(items(delo_in)) == 2, 40, "two reports in ДЕЛО's incoming folder")
    reports = {}
    for folder in items(delo_in):
        package = sev.decode(folder)
        assert isinstance(package.payload, Notification)
        reports[package.payload.kind] = (folder, package.payload)
    registered = reports[NotificationKind.REGISTERED][1]
    assert registered.document_uid == first.payload.uid  # type: ignore[union-attr]
    assert registered.registration == Registration("ФМ-12345/06", dt.date(2026, 11, 21))
    refusal = reports[NotificationKind.REFUSED][1]
    assert refusal.document_uid == second.payload.uid  # type: ignore[union-attr]
    assert refusal.reason == "Документ неверно адресован"
    # ДЕЛО matches reports to its own documents by the ReturnID it sent: it comes back.
    sent_ids = {m for p in (delo_out / "processed").rglob("*.xml")
                for m in re.findall(r'ReturnID="([^"]+)"', p.read_text(encoding="utf-8"))}  # fmt: skip
    for folder, _ in reports.values():
        got = {m for p in folder.rglob("*.xml")
               for m in re.findall(r'ReturnID="([^"]+)"', p.read_text(encoding="utf-8"))}  # fmt: skip
        assert got and got <= sent_ids, (got, sent_ids)

    for node in (rostov, federal):
        node.stop()
        assert cli(node, "audit", "verify").returncode == 0


async def test_drop_folder_to_rest_and_the_registration_comes_back(
    network: dict[str, Node], tmp_path: Path
) -> None:
    sakha, tatarstan = network["ru-14"], network["ru-16"]
    sakha.start()
    tatarstan.start()
    drop_out, drop_in = folders(tmp_path / "local", "drop")
    source = letter(tmp_path / "src", "14-05/77", TATARSTAN, SAKHA)
    sidecar_item = drop_out.parent / ".staging"
    fs = FilesystemAdapter(FilesystemAdapter.Config(outgoing=tmp_path / "y1",
                                                    incoming=tmp_path / "y2"),
                           MemoryContext(tmp_path / "fs-work"))  # fmt: skip
    sidecar_item.mkdir(parents=True)
    fs.encode(source, sidecar_item)
    drop_out.mkdir(parents=True, exist_ok=True)
    sidecar_item.rename(drop_out / "letter-77")

    # the second listen line of its gateway.toml is the REST adapter's own
    rest_port = int(re.findall(r'listen = "127.0.0.1:(\d+)"', tatarstan.config.read_text())[-1])
    base = f"http://127.0.0.1:{rest_port}/local/v1"
    headers = {"Authorization": "Bearer rest-secret-token"}
    async with aiohttp.ClientSession(headers=headers) as session:

        async def inbox() -> list[dict[str, object]]:
            try:
                async with session.get(f"{base}/inbox") as response:
                    if response.status != 200:
                        return []
                    body = await response.json()
            except aiohttp.ClientError:
                return []
            listed = body if isinstance(body, list) else body.get("messages", body.get("items", []))
            return list(listed)

        found: list[dict[str, object]] = []

        async def poll() -> bool:
            found[:] = await inbox()
            return bool(found)

        for _ in range(300):
            if await poll():
                break
            await asyncio.sleep(0.1)
        assert len(found) == 1, found
        message_id = str(found[0].get("message_id") or found[0].get("id"))
        async with session.get(f"{base}/inbox/{message_id}") as response:
            assert response.status == 200
            detail = await response.json()
        text = json.dumps(detail, ensure_ascii=False)
        assert "14-05/77" in text and source.payload.uid in text  # type: ignore[union-attr]

        note = {
            "kind": "registered",
            "document_uid": source.payload.uid,  # type: ignore[union-attr]
            "message_id": message_id,
            "time": dt.datetime.now(dt.UTC).isoformat(),
            "registration": {"number": "16-02/555", "date": "2026-11-21"},
        }
        async with session.post(f"{base}/notifications", json=note) as response:
            assert response.status == 202, await response.text()

    await wait_for(lambda: len(items(drop_in)) == 1, 40, "the registration in the drop folder")
    (back,) = items(drop_in)
    package = fs.decode(back)
    assert isinstance(package.payload, Notification)
    assert package.payload.kind is NotificationKind.REGISTERED
    assert package.payload.registration == Registration("16-02/555", dt.date(2026, 11, 21))
    assert package.payload.document_uid == source.payload.uid  # type: ignore[union-attr]
