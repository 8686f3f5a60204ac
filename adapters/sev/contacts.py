"""Organisations and officials ↔ СЭВ ``Contact`` elements.

СЭВ's ``Organization`` holds a UID, short and full name and INN — the ids the gateway routes
by — but no OGRN and no МЭДО address. Those travel as typed ``Econtact`` entries of the same
contact (``Type="ОГРН"``, ``Type="МЭДО"``): the only typed, repeatable slot a Contact has, and
one ДЕЛО keeps with the correspondent. The region code rides in ``Address/Region/@UID``.
Any other ``Econtact`` (a phone, an e-mail) is the official's contact.
"""

from __future__ import annotations

from typing import Final

from lxml import etree

from adapters.api import FormatError
from adapters.sev.xmlio import attr, find, find_all, opt, sub, text
from gateway.model import Organization, Person

OGRN: Final = "ОГРН"
MEDO: Final = "МЭДО"
_OGRN_TYPES = frozenset({"огрн", "ogrn"})
_MEDO_TYPES = frozenset({"мэдо", "medo"})


def read_organization(contact: etree._Element, where: str) -> Organization:
    """The organisation of a ``Contact``; FormatError when it has no name at all."""
    org = find(contact, "Organization")
    if org is None:
        raise FormatError(f"{where}/Organization is missing; a contact names its organisation")
    short = text(org, "ShortName")
    full = text(org, "FullName")
    name = short or full
    if not name:
        raise FormatError(f"{where}/Organization has neither ShortName nor FullName")
    ogrn = medo = None
    for econtact in find_all(contact, "Econtact"):
        kind = (econtact.get("Type") or "").strip().casefold()
        if kind in _OGRN_TYPES:
            ogrn = ogrn or _strip(econtact.text)
        elif kind in _MEDO_TYPES:
            medo = medo or econtact.text or None  # an address is kept as written
    return Organization(
        short_name=name,
        full_name=full,
        inn=_strip(text(org, "INN")),
        ogrn=ogrn,
        medo_address=medo,
        uid=_strip(attr(org, "UID")),
        region=_region(contact),
    )


def read_person(contact: etree._Element, where: str) -> Person:
    """An official: the contact's organisation, department, name, post and contacts."""
    reachable = [
        econtact.text
        for econtact in find_all(contact, "Econtact")
        if econtact.text
        and (econtact.get("Type") or "").strip().casefold() not in _OGRN_TYPES | _MEDO_TYPES
    ]
    return Person(
        organization=read_organization(contact, where),
        name=text(contact, "OfficialPerson/FIO"),
        post=text(contact, "OfficialPerson/Post"),
        department=text(contact, "Department/Name"),
        contact="; ".join(reachable) or None,
    )


def write_contact(parent: etree._Element, who: Person | Organization) -> etree._Element:
    """A ``Contact`` under ``parent`` for an official or an organisation alone."""
    person = who if isinstance(who, Person) else None
    org = who.organization if isinstance(who, Person) else who
    contact = sub(parent, "Contact")
    element = sub(contact, "Organization", **({"UID": org.uid} if org.uid else {}))
    sub(element, "ShortName", org.short_name or org.full_name or "—")
    opt(element, "FullName", org.full_name)
    opt(element, "INN", org.inn)
    if person is not None and person.department:
        sub(sub(contact, "Department"), "Name", person.department)
    if person is not None and (person.name or person.post):
        official = sub(contact, "OfficialPerson")
        opt(official, "FIO", person.name)
        opt(official, "Post", person.post)
    if org.region:
        sub(sub(contact, "Address"), "Region", org.region, UID=org.region)
    if org.ogrn:
        sub(contact, "Econtact", org.ogrn, Type=OGRN)
    if org.medo_address:
        sub(contact, "Econtact", org.medo_address, Type=MEDO)
    if person is not None and person.contact:
        sub(contact, "Econtact", person.contact)
    return contact


def _region(contact: etree._Element) -> str | None:
    region = find(contact, "Address/Region")
    if region is None:
        return None
    code = _strip(attr(region, "UID"))
    if code:
        return code
    name = _strip(region.text)
    return name if name and name.isdigit() else None  # a region name is not a code


def _strip(value: str | None) -> str | None:
    return value.strip() or None if value else None
