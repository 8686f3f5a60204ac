"""The МЭДО adapter through the conformance kit: one class per version it writes.

Native samples are real-shaped МЭДО message folders (windows-1251 and UTF-8, 2.2, 2.6, 2.7.1,
notifications and acknowledgments; containers are built by zipfile in the fixtures). What the
adapter writes is checked against the published xdms schemas (2.2, 2.6; 2.7.1 is 2.6 in a new
namespace) when ../shared is there, and always against the project's own schemas.
"""

from __future__ import annotations

import io
import zipfile
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from adapters.api import Package, Payload
from adapters.medo import MedoAdapter, envelope_ini
from adapters.medo.xdms import validate
from adapters.testing import AdapterConformance
from tests.unit.adapters.test_medo_fixtures import container_folder, hostile
from tests.unit.adapters.test_medo_support import REFERENCE, SAMPLES, expected, letter, notices

DOCUMENTS = ("doc-2.2-cp1251", "doc-2.6", "doc-2.7.1")
NOTICES = ("notice-registered-2.2", "notice-refused-2.2", "ack-2.7.1", "ack-negative-2.6")
IEDMS = "http://www.infpres.com/IEDMS"


@cache
def official(version: str) -> etree.XMLSchema | None:
    path = REFERENCE / f"IEDMS-{version}.xsd"
    return etree.XMLSchema(etree.parse(str(path))) if path.is_file() else None


class MedoConformance(AdapterConformance):
    adapter = MedoAdapter
    version = "2.6"
    container = False
    charset = "utf-8"
    samples: tuple[str, ...] = (*DOCUMENTS, *NOTICES, "notice-executor-2.6")

    def config(self, tmp_path: Path) -> MedoAdapter.Config:
        return MedoAdapter.Config(
            outgoing=tmp_path / "out",
            incoming=tmp_path / "in",
            version=self.version,
            container=self.container,
            charset=self.charset,
            addressee="MINCIFRA~RO61",
        )

    def native_samples(self, tmp_path: Path) -> list[Path]:
        return [SAMPLES / name for name in self.samples]

    def canonical_samples(self, tmp_path: Path) -> list[Package]:
        return [letter(tmp_path / "letter"), *notices()]

    def hostile_samples(self, tmp_path: Path) -> list[tuple[Path, str]]:
        return hostile(tmp_path / "hostile")

    def expected(self, payload: Payload) -> Payload:
        return expected(payload, self.version, self.container)

    def exported(self, config: MedoAdapter.Config) -> list[Any]:
        return [(p, p.stat().st_mtime_ns) for p in sorted(config.incoming.rglob("*"))]

    def check_native(self, package: Path) -> None:
        envelope = envelope_ini.read(package / "envelope.ini")
        assert "document.xml" in envelope.files
        assert envelope.addressees == ("MINCIFRA~RO61",)
        for name in envelope.files:
            assert (package / name).is_file(), f"envelope.ini lists {name}, which is missing"
        data = (package / "document.xml").read_bytes()
        assert data.startswith(f'<?xml version="1.0" encoding="{self.charset}"?>'.encode())
        root = etree.fromstring(data)
        assert root.get(f"{{{etree.QName(root).namespace}}}version") == self.version
        validate(root, "what we wrote")  # our own schema
        if (package / "document.edc.zip").exists():
            self._check_container(package / "document.edc.zip")
            return
        # The published schemas: 2.7.1 is 2.6 with the urn:IEDMS:MESSAGE namespace.
        schema = official("2.2" if self.version == "2.2" else "2.6")
        if schema is None:
            pytest.skip("the published xdms schemas (../shared/reference/medo) are missing")
        text = data.replace(b"urn:IEDMS:MESSAGE", IEDMS.encode())
        assert schema.validate(etree.fromstring(text)), schema.error_log

    def _check_container(self, path: Path) -> None:
        assert self.container
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            assert names[0] == "passport.xml"
            passport = etree.parse(io.BytesIO(archive.read("passport.xml"))).getroot()
        validate(passport, "passport")
        named = {e.get(f"{{{etree.QName(passport).namespace}}}localName") for e in passport.iter()}
        assert set(names) - {"passport.xml"} <= named, "every file in the ZIP is in the passport"


class TestMedo26(MedoConformance):
    pass


class TestMedo22(MedoConformance):
    """2.2 has no signedData and no @mid: samples with their own signature names or a mid
    cannot come back as they were (see test_medo_mapping for what happens to them)."""

    version = "2.2"
    samples = ("doc-2.2-cp1251", "doc-2.6", *NOTICES)


class TestMedo271(MedoConformance):
    version = "2.7.1"


class TestMedo271Container(MedoConformance):
    version = "2.7.1"
    container = True
    samples = NOTICES

    def native_samples(self, tmp_path: Path) -> list[Path]:
        return [
            container_folder(tmp_path / "container-2.7", version="2.7"),
            container_folder(tmp_path / "container-2.7.1", version="2.7.1", signed=False),
            *super().native_samples(tmp_path),
        ]

    def canonical_samples(self, tmp_path: Path) -> list[Package]:
        return [letter(tmp_path / "letter", links=False), *notices()]


class TestMedo27ContainerWindows1251(TestMedo271Container):
    version = "2.7"
    charset = "windows-1251"
