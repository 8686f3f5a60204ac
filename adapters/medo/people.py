"""Organisations and officials: the xdms ``anyone`` shape ↔ canonical Organization and Person.

xdms names an organisation by text; its ids live elsewhere: the МЭДО participant GUID in
``source/@uid``, ``addressee/@uid`` (2.6+) and ``deliveryIndex/destination/@uid``; the МЭДО
address (``NAME~DOMAIN``) in the ``@id`` of an ``organization`` element, where this adapter
writes it. INN, OGRN and the full name have no place in xdms and are not carried.

An organisation named like the message's source *is* the source: it gets the source's uid, so
the sender that signs a letter and the sender in its header are one Organization again.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import Final

from lxml import etree

from adapters.medo import names
from adapters.medo.xdms import Builder, Node, clip
from gateway.model import Organization, Person

_MEDO_ADDRESS: Final = re.compile(r"[A-Za-z0-9_.\-]{1,63}~[A-Za-z0-9_.\-]{1,63}")
STRING: Final = 511  # the xdms stringValue limit


def medo_address(value: str | None) -> str | None:
    """``value`` if it is shaped like an МЭДО address (``WH-MEDO~APRF``), else None."""
    return value if value and _MEDO_ADDRESS.fullmatch(value) else None


def source(node: Node) -> Organization:
    """The organisation of a ``source``/``destination`` (communicationPartner) element."""
    name = node.text("organization") or ""
    return Organization(short_name=name, uid=names.read_org_uid(node.attr("uid"), name))


def organization(node: Node, *, uid: str | None = None) -> Organization | None:
    """The organisation an ``anyone``-shaped element names, or None if it names none."""
    org = node.child("organization")
    if org is None or org.value is None:
        return None
    return Organization(
        short_name=org.value,
        medo_address=medo_address(org.attr("id")),
        region=node.text("region"),
        uid=uid,
    )


def person(node: Node, org: Organization) -> Person:
    return Person(
        organization=org,
        name=node.text("person"),
        post=node.text("post"),
        department=node.text("department"),
        contact=node.text("contactInfo"),
    )


def enrich(sender: Organization, named: Sequence[Organization | None]) -> Organization:
    """The sender with the МЭДО address and region of the first organisation named like it."""
    for org in named:
        if org is not None and org.short_name == sender.short_name:
            return dataclasses.replace(sender, medo_address=org.medo_address, region=org.region)
    return sender


def same_as(org: Organization | None, sender: Organization) -> Organization:
    """``org`` as read, or the sender itself when it is named like the sender (or unnamed)."""
    if org is None or org.short_name == sender.short_name:
        return sender
    return org


def destinations(root: Node) -> dict[str, str]:
    """Organisation name → МЭДО participant GUID, from ``deliveryIndex``."""
    index = root.child("deliveryIndex")
    found: dict[str, str] = {}
    for outer in index.children("destination") if index is not None else []:
        inner = outer.child("destination")
        if inner is None:
            continue
        org = source(inner)
        if org.uid:
            found.setdefault(org.short_name, org.uid)
    return found


def addressee_uid(
    explicit: str | None, name: str | None, index: Mapping[str, str], single: bool
) -> str | None:
    """An addressee's GUID: its own ``@uid``, else the delivery index entry of its name, else
    the only destination when the document has one addressee organisation."""
    value = names.guid(explicit)
    if value:
        return value
    if name and name in index:
        return index[name]
    if single and len(index) == 1:
        return next(iter(index.values()))
    return None


# ---- writing ---------------------------------------------------------------------------------


def partner_uid(org: Organization) -> str:
    """The GUID written for an organisation: its uid, or (xdms requires one) a GUID derived
    from its name, which :func:`names.read_org_uid` recognises and drops again."""
    return names.as_guid(org.uid) if org.uid else names.org_guid(org.short_name)


def write_partner(b: Builder, parent: etree._Element, tag: str, org: Organization) -> None:
    """A communicationPartner (``source``, ``destination``): GUID and name."""
    element = b.add(parent, tag, uid=partner_uid(org))
    b.add(element, "organization", clip(org.short_name, STRING))


def write_anyone(b: Builder, element: etree._Element, who: Person | Organization) -> None:
    """The children of an ``anyone`` element, in schema order."""
    org = who.organization if isinstance(who, Person) else who
    b.opt(element, "region", clip(org.region, STRING))
    b.add(element, "organization", clip(org.short_name, STRING), id=medo_address(org.medo_address))
    if isinstance(who, Person):
        b.opt(element, "person", clip(who.name, STRING))
        b.opt(element, "department", clip(who.department, STRING))
        b.opt(element, "post", clip(who.post, STRING))
        b.opt(element, "contactInfo", clip(who.contact, STRING))


def write_destinations(b: Builder, root: etree._Element, orgs: Sequence[Organization]) -> None:
    """``deliveryIndex``: one destination per organisation that has a GUID (names unique)."""
    chosen: dict[str, Organization] = {}
    for org in orgs:
        if org.uid and org.short_name not in chosen:
            chosen[org.short_name] = org
    if not chosen:
        return
    index = b.add(root, "deliveryIndex")
    for org in chosen.values():
        write_partner(b, b.add(index, "destination"), "destination", org)
