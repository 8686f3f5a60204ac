"""The receiver under the GOST profile: Streebog-256 file digests are required and checked."""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path

import pytest

from gateway.crypto import CmsSigner, TrustPolicy, TrustStore, demo
from gateway.crypto.gost import Streebog
from gateway.errors import GatewayError
from gateway.model import FileRef, FileRole
from gateway.receiver import Receiver
from gateway.sealing import seal
from tests.gost_engine import require_gost
from tests.unit.transport.harness import described, memory_store
from tests.unit.transport.test_receiver import FakePart, Parts

PDF = os.urandom(200_000)


@pytest.fixture(autouse=True)
def _engine() -> None:
    require_gost()


@pytest.fixture(scope="module")
def gost_signers() -> tuple[dict[str, CmsSigner], TrustPolicy]:
    require_gost()
    ca, ca_key = demo.new_ca("GOST CA", profile="gost2012")
    signers = {}
    for pid in ("ru-61", "ru-14"):
        cert, key = demo.issue_certificate(ca, ca_key, pid, f"Gateway {pid}", profile="gost2012")
        signers[pid] = CmsSigner(cert, key)
    trust = TrustPolicy(TrustStore([ca]), {pid: [s.certificate] for pid, s in signers.items()})
    return signers, trust


def _ref(streebog256: str | None) -> FileRef:
    return FileRef(
        id="f1",
        role=FileRole.MAIN,
        name="f1.pdf",
        media_type="application/pdf",
        size=len(PDF),
        sha256=hashlib.sha256(PDF).hexdigest(),
        streebog256=streebog256,
    )


async def _receive(
    gost_signers: tuple[dict[str, CmsSigner], TrustPolicy], tmp_path: Path, ref: FileRef
) -> None:
    signers, trust = gost_signers
    sealed = seal(described((ref,)), signers["ru-61"])
    receiver = Receiver("ru-14", signers["ru-14"], trust, memory_store(tmp_path))  # type: ignore[arg-type]
    parts = Parts(
        [
            FakePart("envelope", sealed.envelope),
            FakePart("envelope.p7s", sealed.signature),
            FakePart("f1", PDF),
        ]
    )
    answer = await receiver.receive(aiter(parts))
    trust.verify_from("ru-14", answer.document, answer.signature)


async def test_a_gost_envelope_with_streebog_digests_is_accepted(
    gost_signers: tuple[dict[str, CmsSigner], TrustPolicy], tmp_path: Path
) -> None:
    await _receive(gost_signers, tmp_path, _ref(Streebog("streebog256", PDF).hexdigest()))


async def test_a_wrong_streebog_digest_is_refused(
    gost_signers: tuple[dict[str, CmsSigner], TrustPolicy], tmp_path: Path
) -> None:
    wrong = Streebog("streebog256", PDF + b"x").hexdigest()
    with pytest.raises(GatewayError, match="Streebog-256") as error:
        await _receive(gost_signers, tmp_path, _ref(wrong))
    assert error.value.code == "file.digest_mismatch"


async def test_a_gost_envelope_without_streebog_digests_is_refused(
    gost_signers: tuple[dict[str, CmsSigner], TrustPolicy], tmp_path: Path
) -> None:
    with pytest.raises(GatewayError) as error:
        await _receive(gost_signers, tmp_path, dataclasses.replace(_ref(None)))
    assert error.value.code == "file.digest_missing"
