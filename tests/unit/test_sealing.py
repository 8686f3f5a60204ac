"""Sealing and opening envelopes: the claimed sender is believed only when its signature proves it."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from gateway import envelope
from gateway.crypto import CmsSigner, TrustPolicy, TrustStore, issue_certificate, new_ca
from gateway.errors import SignatureError, TrustError, XmlSecurityError
from gateway.model import Document, Message, Organization, Person
from gateway.sealing import open_envelope, seal

NOW = dt.datetime.now(dt.UTC)


@pytest.fixture(scope="module")
def network() -> tuple[dict[str, CmsSigner], TrustPolicy]:
    ca, ca_key = new_ca()
    signers = {}
    for pid in ("ru-61", "ru-14"):
        cert, key = issue_certificate(ca, ca_key, pid, pid)
        signers[pid] = CmsSigner(cert, key)
    trust = TrustPolicy(TrustStore([ca]), {pid: [s.certificate] for pid, s in signers.items()})
    return signers, trust


def letter(sender: str = "ru-61", recipient: str = "ru-14", uid: str = "doc-1") -> Message:
    doc = Document(
        uid, "Письмо", Organization("Минстрой РО", inn="6163000001"),
        annotation="О ходе работ", addressees=(Person(Organization("Минстрой РС(Я)", inn="1435000001")),),
    )  # fmt: skip
    return Message(f"msg-{uid}", NOW, sender, recipient, doc)


def test_a_sealed_envelope_opens_to_the_same_message(
    network: tuple[dict[str, CmsSigner], TrustPolicy],
) -> None:
    signers, trust = network
    sealed = seal(letter(), signers["ru-61"])
    opened = open_envelope(sealed.envelope, sealed.signature, trust)
    assert opened.message == letter()
    assert opened.signature.certificate == signers["ru-61"].certificate
    assert sealed.envelope == envelope.encode(letter())


def test_a_forged_sender_is_refused(network: tuple[dict[str, CmsSigner], TrustPolicy]) -> None:
    signers, trust = network
    # ru-14's valid key signs an envelope that claims to come from ru-61.
    sealed = seal(letter(sender="ru-61", recipient="ru-14"), signers["ru-14"])
    with pytest.raises(TrustError) as info:
        open_envelope(sealed.envelope, sealed.signature, trust)
    assert info.value.code == "signature.sender_mismatch"
    assert "'ru-14'" in info.value.message and "'ru-61'" in info.value.message


def test_a_changed_envelope_is_refused(network: tuple[dict[str, CmsSigner], TrustPolicy]) -> None:
    signers, trust = network
    sealed = seal(letter(), signers["ru-61"])
    changed = sealed.envelope.replace("О ходе работ".encode(), "О ходе робот".encode())
    assert changed != sealed.envelope
    with pytest.raises(SignatureError) as info:
        open_envelope(changed, sealed.signature, trust)
    assert info.value.code == "signature.invalid"


def test_a_signature_of_another_envelope_is_refused(
    network: tuple[dict[str, CmsSigner], TrustPolicy],
) -> None:
    signers, trust = network
    first = seal(letter(uid="doc-1"), signers["ru-61"])
    second = seal(letter(uid="doc-2"), signers["ru-61"])
    with pytest.raises(SignatureError):
        open_envelope(second.envelope, first.signature, trust)


def test_an_unregistered_sender_is_refused(
    network: tuple[dict[str, CmsSigner], TrustPolicy],
) -> None:
    signers, trust = network
    sealed = seal(letter(sender="ru-99"), signers["ru-61"])
    with pytest.raises(TrustError) as info:
        open_envelope(sealed.envelope, sealed.signature, trust)
    assert info.value.code == "signature.unknown_participant"


def test_hostile_xml_is_refused_before_any_signature_work(
    network: tuple[dict[str, CmsSigner], TrustPolicy],
) -> None:
    signers, trust = network
    bomb = b'<!DOCTYPE r [<!ENTITY a "aaaa">]><Envelope xmlns="urn:interregional-gateway:1">&a;</Envelope>'
    with pytest.raises(XmlSecurityError) as info:
        open_envelope(bomb, signers["ru-61"].sign(bomb), trust)
    assert info.value.code == "xml.entity_forbidden"


def test_the_size_cap_is_applied(network: tuple[dict[str, CmsSigner], TrustPolicy]) -> None:
    signers, trust = network
    big = dataclasses.replace(
        letter(), payload=dataclasses.replace(letter().payload, annotation="я" * 50_000)
    )
    sealed = seal(big, signers["ru-61"])
    with pytest.raises(XmlSecurityError) as info:
        open_envelope(sealed.envelope, sealed.signature, trust, max_bytes=64 * 1024)
    assert info.value.code == "xml.too_large"
    assert open_envelope(sealed.envelope, sealed.signature, trust).message == big


def test_a_signature_older_than_the_window_is_refused(
    network: tuple[dict[str, CmsSigner], TrustPolicy],
) -> None:
    signers, trust = network
    sealed = seal(letter(), signers["ru-61"])
    window_start = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)  # signed before it
    with pytest.raises(TrustError) as info:
        open_envelope(sealed.envelope, sealed.signature, trust, oldest=window_start)
    assert info.value.code == "signature.too_old"
    earlier = dt.datetime.now(dt.UTC) - dt.timedelta(days=7)
    assert (
        open_envelope(sealed.envelope, sealed.signature, trust, oldest=earlier).message == letter()
    )
