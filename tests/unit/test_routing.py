"""Routing organisations to participants."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import Participant
from gateway.errors import RoutingError
from gateway.model import Organization, OrgIdKind, Person
from gateway.routing import Router

ROSTOV = Participant(
    "ru-61",
    "Ростовская область",
    "https://a/gw",
    (Path("a.pem"),),
    serves={
        OrgIdKind.INN: ("6163000000",),
        OrgIdKind.UID: ("5f3a0c2e-0000-4000-8000-000000000061",),
    },
)
FEDERAL = Participant(
    "fed-minstroy",
    "Минстрой России",
    "https://f/gw",
    (Path("f.pem"),),
    serves={OrgIdKind.MEDO: ("WH-MEDO~MINSTROY",), OrgIdKind.OGRN: ("1037700000000",)},
)
ROUTER = Router([ROSTOV, FEDERAL])


def test_any_identifier_finds_the_participant() -> None:
    assert ROUTER.resolve(Organization("Минстрой РО", inn="6163000000")) is ROSTOV
    assert (
        ROUTER.resolve(Organization("Минстрой РО", uid="{5F3A0C2E-0000-4000-8000-000000000061}"))
        is ROSTOV
    )
    assert ROUTER.resolve(Organization("Минстрой", medo_address="wh-medo~minstroy")) is FEDERAL
    assert (
        ROUTER.resolve(Organization("Минстрой", ogrn="1037700000000", inn="7700000000")) is FEDERAL
    )


def test_an_unknown_recipient_is_a_clear_error() -> None:
    with pytest.raises(RoutingError) as info:
        ROUTER.resolve(Organization("Минфин Бурятии", inn="0323000000"))
    assert info.value.code == "routing.unknown_recipient"
    assert "Минфин Бурятии" in info.value.message and "inn=0323000000" in info.value.message


def test_an_organisation_without_ids_is_named() -> None:
    with pytest.raises(RoutingError, match="no identifiers at all"):
        ROUTER.resolve(Organization("Без реквизитов"))


def test_ids_pointing_at_two_participants_are_ambiguous() -> None:
    with pytest.raises(RoutingError) as info:
        ROUTER.resolve(Organization("Путаница", inn="6163000000", ogrn="1037700000000"))
    assert info.value.code == "routing.ambiguous_recipient"
    assert "fed-minstroy" in info.value.message and "ru-61" in info.value.message


def test_addressees_are_grouped_one_message_per_participant() -> None:
    a = Person(Organization("Минстрой РО", inn="6163000000"), name="А")
    b = Person(Organization("Минстрой", medo_address="WH-MEDO~MINSTROY"), name="Б")
    c = Person(Organization("Минстрой РО", inn="6163000000"), name="В")
    assert ROUTER.destinations([a, b, c]) == {"ru-61": (a, c), "fed-minstroy": (b,)}


def test_every_unknown_addressee_is_reported_at_once() -> None:
    people = [
        Person(Organization("X", inn="0000000001")),
        Person(Organization("Y", inn="0000000002")),
    ]
    with pytest.raises(RoutingError) as info:
        ROUTER.destinations(people)
    assert "'X'" in info.value.message and "'Y'" in info.value.message
    assert info.value.code == "routing.unknown_recipient"


def test_no_addressees_is_an_error() -> None:
    with pytest.raises(RoutingError) as info:
        ROUTER.destinations([])
    assert info.value.code == "routing.no_addressees"


def test_unknown_participant_id() -> None:
    with pytest.raises(RoutingError) as info:
        ROUTER.participant("ru-99")
    assert info.value.code == "routing.unknown_participant"
