"""Property-based round trips: any document or notification МЭДО can carry comes back as
:func:`expected` says, in every version the adapter writes.

The text strategies stay inside what xdms holds as data (a name is one stripped line; a
number at most 31 characters, single-spaced); everything else about the model is drawn freely,
so the mapping rules (sender by name, GUIDs from the delivery index, fallback dates, derived
GUIDs, the closed list of reasons) are exercised rather than the XML escaping the shared
strategies already cover.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.api import Package
from adapters.filerefs import describe
from adapters.medo.names import NO_NUMBER
from gateway.model import (
    Document,
    FileRole,
    Link,
    LinkKind,
    Notification,
    NotificationKind,
    Organization,
    Person,
    Registration,
    Signatory,
    Urgency,
)
from tests.strategies import dates, instants
from tests.unit.adapters.test_medo_support import adapter, expected, pdf

_letters = "абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯ"
_chars = _letters + "ӘәӨөҮүҖҗҢңҺһ" + "ABCxyz0123456789 .,-№«»()/\"'&<>"


def line(max_size: int = 60) -> st.SearchStrategy[str]:
    return (
        st.text(_chars, min_size=1, max_size=max_size)
        .map(lambda t: " ".join(t.split()))
        .filter(bool)
    )


def maybe(strategy: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.none() | strategy


guids = st.uuids().map(str)
some_id = st.one_of(guids, st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._\-]{0,20}", fullmatch=True))
numbers = line(31).filter(lambda n: n != NO_NUMBER)
addresses = st.from_regex(r"[A-Z][A-Z0-9_\-]{1,15}~[A-Z][A-Z0-9]{1,10}", fullmatch=True)
names = st.sampled_from(
    ["Минстрой России", "Правительство Ростовской области", "Минцифры РС(Я)", "КМ РТ"]
) | line(80)
organizations = st.builds(
    Organization,
    short_name=names,
    full_name=maybe(line()),
    inn=maybe(st.sampled_from(["6163000000", "771234567890"])),
    ogrn=st.none(),
    medo_address=maybe(addresses | line(20)),
    uid=maybe(some_id),
    region=maybe(st.sampled_from(["61", "14", "16", "г. Москва"])),
)
persons = st.builds(
    Person,
    organization=organizations,
    name=maybe(line()),
    post=maybe(line()),
    department=maybe(line()),
    contact=maybe(line()),
)
registrations = st.builds(Registration, number=numbers, date=dates)


@st.composite
def documents(draw: st.DrawFn) -> Document:
    sender = draw(organizations)
    signatory_orgs = st.one_of(st.just(sender), organizations)
    signatories = draw(
        st.lists(
            st.builds(
                Signatory,
                person=st.builds(
                    Person, organization=signatory_orgs, name=maybe(line()), post=maybe(line())
                ),
                signed=maybe(dates),
            ),
            max_size=3,
        )
    )
    return Document(
        uid=draw(some_id),
        kind=draw(line()),
        sender=sender,
        registration=draw(maybe(registrations)),
        title=draw(maybe(line(200))),
        annotation=draw(maybe(line(200))),
        signatories=tuple(signatories),
        addressees=tuple(draw(st.lists(persons, min_size=1, max_size=3))),
        pages=draw(maybe(st.integers(min_value=0, max_value=5000))),
        urgency=draw(st.sampled_from(Urgency)),
        links=tuple(
            draw(
                st.lists(
                    st.builds(
                        Link,
                        kind=st.sampled_from(LinkKind),
                        document_uid=maybe(some_id),
                        number=maybe(numbers),
                        date=maybe(dates),
                        organization=maybe(organizations),
                    ),
                    max_size=2,
                )
            )
        ),
        subscriptions=tuple(draw(st.lists(st.sampled_from(NotificationKind), unique=True))),
    )


notifications = st.builds(
    Notification,
    kind=st.sampled_from(NotificationKind),
    document_uid=some_id,
    message_id=some_id,
    time=instants,
    registration=maybe(registrations),
    reason=maybe(line(120) | st.sampled_from(["Нет подписи", "Документ ДСП", "Текст неразборчив"])),
    error_code=maybe(
        st.from_regex(r"[a-z][a-z0-9_]{0,10}(\.[a-z][a-z0-9_]{0,10}){0,2}", fullmatch=True)
    ),
    comment=maybe(line(300)),
    author=maybe(organizations),
)
versions = st.sampled_from(["2.2", "2.6", "2.7", "2.7.1"])


def _trip(package: Package, version: str, **options: object) -> Package:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "message").mkdir()
        medo = adapter(root, version=version, **options)
        medo.encode(package, root / "message")
        return medo.decode(root / "message")


@settings(max_examples=150)
@given(documents(), versions)
def test_any_document_comes_back_as_expected(document: Document, version: str) -> None:
    assert _trip(Package(document), version).payload == expected(document, version)


@settings(max_examples=60)
@given(documents())
def test_any_document_in_a_container_comes_back_as_expected(document: Document) -> None:
    with tempfile.TemporaryDirectory() as folder:
        main = Path(folder) / "main.pdf"  # a container needs a main text
        main.write_bytes(pdf("main"))
        ref = describe(main, id="file-1", role=FileRole.MAIN)
        package = Package(dataclasses.replace(document, files=(ref,)), {"file-1": main})
        back = _trip(package, "2.7.1", container=True).payload
    assert back == expected(package.payload, "2.7.1", container=True)


@settings(max_examples=150)
@given(notifications, versions)
def test_any_notification_comes_back_as_expected(note: Notification, version: str) -> None:
    assert _trip(Package(note), version).payload == expected(note, version)
