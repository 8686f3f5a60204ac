"""Hypothesis strategies for the canonical model: arbitrary but valid messages.

Text covers everything XML 1.0 can carry (Cyrillic, CJK, emoji, tabs, newlines, carriage
returns, markup characters), so round-trip tests exercise escaping as well as structure.
"""

from __future__ import annotations

import datetime as dt
import string

from hypothesis import strategies as st

from gateway.model import (
    Document,
    ErrorReport,
    FileDigest,
    FileRef,
    FileRole,
    Link,
    LinkKind,
    Message,
    Notification,
    NotificationKind,
    Organization,
    Person,
    Receipt,
    Registration,
    Signatory,
    Urgency,
)

# Everything XML 1.0 allows: no C0 controls but tab/LF/CR, no surrogates, no U+FFFE/U+FFFF.
_xml_chars = st.characters(
    blacklist_categories=("Cs",),
    blacklist_characters="".join(chr(c) for c in range(0x20) if c not in (9, 10, 13))
    + "\ufffe\uffff",
)
_cyrillic = st.sampled_from(
    "абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯ №«»—"
)


def text(max_size: int = 200) -> st.SearchStrategy[str]:
    return st.text(st.one_of(_xml_chars, _cyrillic), min_size=1, max_size=max_size)


def maybe(strategy: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.none() | strategy


ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:{}\-]{0,40}", fullmatch=True)
participants = st.from_regex(r"[a-z0-9][a-z0-9.\-]{0,20}", fullmatch=True)
hex64 = st.text("0123456789abcdef", min_size=64, max_size=64)
digits = st.sampled_from(string.digits)
dates = st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2200, 12, 31))
zones = st.builds(
    dt.timezone,
    st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda m: dt.timedelta(minutes=m)),
)
instants = st.datetimes(
    min_value=dt.datetime(1900, 1, 2), max_value=dt.datetime(2200, 12, 30), timezones=zones
)

organizations = st.builds(
    Organization,
    short_name=text(120),
    full_name=maybe(text(500)),
    inn=maybe(
        st.one_of(
            st.text(digits, min_size=10, max_size=10), st.text(digits, min_size=12, max_size=12)
        )
    ),
    ogrn=maybe(
        st.one_of(
            st.text(digits, min_size=13, max_size=13), st.text(digits, min_size=15, max_size=15)
        )
    ),
    medo_address=maybe(text(60)),
    uid=maybe(ids),
    region=maybe(st.text(digits, min_size=2, max_size=3)),
)
persons = st.builds(
    Person,
    organization=organizations,
    name=maybe(text(80)),
    post=maybe(text(80)),
    department=maybe(text(80)),
    contact=maybe(text(80)),
)
registrations = st.builds(Registration, number=text(64), date=dates)
links = st.builds(
    Link,
    kind=st.sampled_from(LinkKind),
    document_uid=maybe(ids),
    number=maybe(text(64)),
    date=maybe(dates),
    organization=maybe(organizations),
)
media_types = st.sampled_from(
    [
        "application/pdf",
        "application/pkcs7-signature",
        "image/tiff",
        "text/plain",
        "application/xml",
    ]
)


@st.composite
def file_lists(draw: st.DrawFn, max_files: int = 12) -> tuple[FileRef, ...]:
    file_ids = draw(st.lists(ids, max_size=max_files, unique=True))
    files = []
    for file_id in file_ids:
        others = [other for other in file_ids if other != file_id]
        signs = draw(st.none() | st.sampled_from(others)) if others else None
        files.append(
            FileRef(
                id=file_id,
                role=FileRole.SIGNATURE if signs else draw(st.sampled_from(FileRole)),
                name=draw(text(255)),
                media_type=draw(media_types),
                size=draw(st.integers(min_value=0, max_value=2**63 - 1)),
                sha256=draw(hex64),
                streebog256=draw(st.none() | hex64),
                signature_of=signs,
                description=draw(maybe(text(300))),
                pages=draw(st.none() | st.integers(min_value=0, max_value=100_000)),
            )
        )
    return tuple(files)


documents = st.builds(
    Document,
    uid=ids,
    kind=text(60),
    sender=organizations,
    registration=maybe(registrations),
    title=maybe(text(500)),
    annotation=maybe(text(6000)),
    signatories=st.lists(st.builds(Signatory, person=persons, signed=maybe(dates)), max_size=4).map(
        tuple
    ),
    addressees=st.lists(persons, max_size=5).map(tuple),
    pages=maybe(st.integers(min_value=0, max_value=1_000_000)),
    urgency=st.sampled_from(Urgency),
    links=st.lists(links, max_size=3).map(tuple),
    subscriptions=st.lists(st.sampled_from(NotificationKind), max_size=6, unique=True).map(tuple),
    files=file_lists(),
)
notifications = st.builds(
    Notification,
    kind=st.sampled_from(NotificationKind),
    document_uid=ids,
    message_id=ids,
    time=instants,
    registration=maybe(registrations),
    reason=maybe(text(300)),
    error_code=maybe(
        st.from_regex(r"[a-z][a-z0-9_]{0,10}(\.[a-z][a-z0-9_]{0,10}){0,2}", fullmatch=True)
    ),
    comment=maybe(text(2000)),
    author=maybe(organizations),
)
messages = st.builds(
    Message,
    message_id=ids,
    created=instants,
    sender=participants,
    recipient=participants,
    payload=st.one_of(documents, notifications),
    expires=maybe(instants),
    correlation_id=maybe(ids),
    in_reply_to=maybe(ids),
)
receipts = st.builds(
    Receipt,
    message_id=ids,
    time=instants,
    sender=participants,
    recipient=participants,
    accepted=st.booleans(),
    envelope_sha256=hex64,
    files=st.lists(st.builds(FileDigest, file_id=ids, sha256=hex64), max_size=10).map(tuple),
)
error_reports = st.builds(
    ErrorReport,
    code=st.from_regex(r"[a-z][a-z0-9_]{0,10}(\.[a-z][a-z0-9_]{0,10}){0,2}", fullmatch=True),
    message=text(1000),
    time=instants,
    sender=participants,
    message_id=maybe(ids),
)
