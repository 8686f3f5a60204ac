"""The CMS signingTime: DER's own forms are read directly, every other form as asn1crypto reads it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from asn1crypto import core
from hypothesis import given
from hypothesis import strategies as st

from gateway.crypto import cms, der
from gateway.crypto.verifier import SignatureError

_TIMES = st.datetimes(
    min_value=datetime(1950, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)
).map(lambda t: t.replace(microsecond=0, tzinfo=UTC))


def _read(encoded: bytes) -> datetime:
    return cms._time(der.read_whole(encoded))


@given(_TIMES)
def test_a_der_time_is_read_as_asn1crypto_reads_it(when: datetime) -> None:
    generalized = core.GeneralizedTime(when).dump()
    assert _read(generalized) == core.GeneralizedTime.load(generalized).native == when
    if when.year < 2050:
        utc = core.UTCTime(when).dump()
        assert _read(utc) == core.UTCTime.load(utc).native == when


@pytest.mark.parametrize(
    ("encoded", "expected"),
    [
        (b"\x17\x0d500101000000Z", datetime(1950, 1, 1, tzinfo=UTC)),
        (b"\x17\x0d491231235959Z", datetime(2049, 12, 31, 23, 59, 59, tzinfo=UTC)),
        (b"\x17\x0d240229120000Z", datetime(2024, 2, 29, 12, tzinfo=UTC)),
        # Not DER, still a time (BER senders): asn1crypto reads these.
        (b"\x17\x11240229120000+0300", datetime(2024, 2, 29, 9, tzinfo=UTC)),
        (b"\x18\x1320240229120000.250Z", datetime(2024, 2, 29, 12, 0, 0, 250000, tzinfo=UTC)),
    ],
)
def test_edge_and_other_forms(encoded: bytes, expected: datetime) -> None:
    assert _read(encoded) == expected


@pytest.mark.parametrize(
    "encoded", [b"\x17\x0d230229120000Z", b"\x17\x0d241301000000Z", b"\x04\x0d240229120000Z"]
)
def test_an_impossible_date_or_another_type_is_refused(encoded: bytes) -> None:
    with pytest.raises((SignatureError, ValueError)):
        _read(encoded)
