"""The conformance kit: checks every adapter should pass, for an adapter's own test suite.

A third-party adapter's tests subclass :class:`AdapterConformance` (a pytest test class),
set ``adapter`` and provide samples; they get, for free, checks of the contract members,
decoding, both round trips (native → canonical → native and canonical → native →
canonical), output validity, the mapping of bad input to stable error codes, and export
idempotence::

    class TestMyAdapter(AdapterConformance):
        adapter = MyAdapter

        def config(self, tmp_path):            # default: adapter.Config()
            return MyAdapter.Config(incoming=tmp_path / "in")

        def native_samples(self, tmp_path):    # packages in the native format
            return [SAMPLES / "letter"]

        def canonical_samples(self, tmp_path): # canonical packages (payload + files)
            return [letter_package(tmp_path)]

        def hostile_samples(self, tmp_path):   # (bad package, expected error code)
            return [(SAMPLES / "no-signature", "format.missing_signature")]

The built-in adapters' tests use this very kit (see ``tests/unit/adapters/``). Requires pytest.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import filecmp
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar

import pytest

from adapters.api import Capabilities, FormatError, Outgoing, Package, Payload
from adapters.filerefs import sha256_of
from gateway.model import Document, Message


class MemoryContext:
    """A :class:`adapters.api.Context` for tests: values in a dict, a fixed or moving clock."""

    def __init__(self, work_dir: Path, participant: str = "ru-test") -> None:
        self.participant = participant
        self.work_dir = work_dir
        work_dir.mkdir(parents=True, exist_ok=True)
        self.values: dict[str, str] = {}
        self.clock: dt.datetime | None = None

    async def remember(self, key: str, value: str) -> None:
        self.values[key] = value

    async def recall(self, key: str) -> str | None:
        return self.values.get(key)

    def now(self) -> dt.datetime:
        return self.clock or dt.datetime.now(dt.UTC)


def outgoing(package: Package, *, sender: str = "ru-peer", recipient: str = "ru-test") -> Outgoing:
    """An :class:`Outgoing` as the gateway would hand it over, for export tests."""
    message = Message(
        message_id=str(uuid.uuid4()),
        created=dt.datetime.now(dt.UTC).replace(microsecond=0),
        sender=sender,
        recipient=recipient,
        payload=package.payload,
    )
    return Outgoing(message=message, package=package, envelope=b"", signature=b"")


def assert_files_match(package: Package) -> None:
    """Every FileRef of the payload has a file whose digest and size are what it says."""
    files = package.payload.files if isinstance(package.payload, Document) else ()
    assert set(package.files) == {f.id for f in files}, "files and FileRefs differ"
    for ref in files:
        sha, size = sha256_of(package.files[ref.id])
        assert (sha, size) == (ref.sha256, ref.size), f"file {ref.id!r}: digest or size differs"


class AdapterConformance:
    """Subclass in a test module (name it ``Test…``) and set :attr:`adapter`."""

    adapter: ClassVar[type[Any]]

    # ---- hooks a subclass provides ---------------------------------------------------------
    def config(self, tmp_path: Path) -> Any:
        return self.adapter.Config()

    def native_samples(self, tmp_path: Path) -> Iterable[Path]:
        return ()

    def canonical_samples(self, tmp_path: Path) -> Iterable[Package]:
        return ()

    def hostile_samples(self, tmp_path: Path) -> Iterable[tuple[Path, str]]:
        return ()

    def check_native(self, package: Path) -> None:
        """Raise AssertionError if ``package`` is not valid in the native format (schemas)."""

    def expected(self, payload: Payload) -> Payload:
        """What of ``payload`` survives a trip through the native format (default: all)."""
        return payload

    def exported(self, config: Any) -> list[Path]:
        """The items an export wrote into the local system (for the idempotence check);
        an empty list skips that check."""
        return []

    # ---- the checks ------------------------------------------------------------------------
    def make(self, tmp_path: Path) -> Any:
        return self.adapter(self.config(tmp_path), MemoryContext(tmp_path / "work"))

    def test_declares_the_contract(self, tmp_path: Path) -> None:
        cls = self.adapter
        assert isinstance(cls.name, str) and cls.name
        assert isinstance(cls.capabilities, Capabilities)
        assert dataclasses.is_dataclass(cls.Config)
        assert isinstance(cls.recoverable_errors, tuple)
        assert all(issubclass(e, BaseException) for e in cls.recoverable_errors)

    def test_native_samples_decode(self, tmp_path: Path) -> None:
        adapter = self.make(tmp_path)
        samples = list(self.native_samples(tmp_path))
        if not samples:
            pytest.skip("no native samples given")
        for sample in samples:
            assert_files_match(adapter.decode(sample))

    def test_native_round_trip(self, tmp_path: Path) -> None:
        adapter = self.make(tmp_path)
        samples = list(self.native_samples(tmp_path))
        if not samples:
            pytest.skip("no native samples given")
        for index, sample in enumerate(samples):
            first = adapter.decode(sample)
            target = tmp_path / f"native-{index}"
            target.mkdir()
            adapter.encode(first, target)
            self.check_native(target)
            second = adapter.decode(target)
            assert second.payload == first.payload
            _same_bytes(first, second)

    def test_canonical_round_trip(self, tmp_path: Path) -> None:
        adapter = self.make(tmp_path)
        samples = list(self.canonical_samples(tmp_path))
        if not samples:
            pytest.skip("no canonical samples given")
        for index, package in enumerate(samples):
            target = tmp_path / f"canonical-{index}"
            target.mkdir()
            adapter.encode(package, target)
            self.check_native(target)
            back = adapter.decode(target)
            assert back.payload == self.expected(package.payload)
            _same_bytes(package, back)

    def test_hostile_samples_refused(self, tmp_path: Path) -> None:
        adapter = self.make(tmp_path)
        samples = list(self.hostile_samples(tmp_path))
        if not samples:
            pytest.skip("no hostile samples given")
        for sample, code in samples:
            with pytest.raises(FormatError) as caught:
                adapter.decode(sample)
            assert caught.value.code == code, f"{sample.name}: {caught.value}"
            assert caught.value.message.strip(), "the error must say what is wrong"

    async def test_export_is_idempotent(self, tmp_path: Path) -> None:
        if not self.adapter.capabilities.export:
            pytest.skip("the adapter does not export")
        config = self.config(tmp_path)
        samples = list(self.canonical_samples(tmp_path))
        if not samples:
            pytest.skip("no canonical samples given")
        adapter = self.adapter(config, MemoryContext(tmp_path / "work"))
        try:
            item = outgoing(samples[0])
            await adapter.export(item)
            before = self.exported(config)
            if not before:
                pytest.skip("exported() not provided")
            await adapter.export(item)  # a crash between export and the mark: called again
            assert self.exported(config) == before
        finally:
            await adapter.close()


def _same_bytes(first: Package, second: Package) -> None:
    """The files of two packages of the same payload hold identical bytes, id by id."""
    one = first.payload.files if isinstance(first.payload, Document) else ()
    two = second.payload.files if isinstance(second.payload, Document) else ()
    for a, b in zip(one, two, strict=True):
        assert filecmp.cmp(first.files[a.id], second.files[b.id], shallow=False), a.name
