"""Streebog (GOST R 34.11-2012) through the engine: the standard's known answers, streaming."""

from __future__ import annotations

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.crypto.gost import Streebog, digest_stream
from gateway.crypto.gost import streebog as streebog_module
from tests.gost_engine import require_gost


@pytest.fixture(autouse=True)
def _engine() -> None:
    require_gost()


# GOST R 34.11-2012 / RFC 6986 §10, examples 1 and 2. The standard and the RFC print messages
# and digests as numbers, most significant byte first, i.e. byte-reversed; M1 is the 63 ASCII
# digits below, M2 the windows-1251 text of the Слово о полку Игореве line. The digests are
# given here as bytes in the order the hash function outputs them (what `openssl dgst` prints),
# and M2 is checked against the RFC's own reversed hex too, so that no reading of the byte
# order can make both pass by accident.
M1 = b"012345678901234567890123456789012345678901234567890123456789012"
M2 = "Се ветри, Стрибожи внуци, веютъ с моря стрелами на храбрыя плъкы Игоревы".encode("cp1251")
M2_RFC_HEX = (
    "fbe2e5f0eee3c820fbeafaebef20fffbf0e1e0f0f520e0ed20e8ece0ebe5f0f2f120fff0eeec20f120faf2fee5"
    "e2202ce8f6f3ede220e8e6eee1e8f0f2d1202ce8f0f2e5e220e5d1"
)
KNOWN = [
    (M1, "streebog512",
     "1b54d01a4af5b9d5cc3d86d68d285462b19abc2475222f35c085122be4ba1ffa"
     "00ad30f8767b3a82384c6574f024c311e2a481332b08ef7f41797891c1646f48"),
    (M1, "streebog256", "9d151eefd8590b89daa6ba6cb74af9275dd051026bb149a452fd84e5e57b5500"),
    (M2, "streebog512",
     "1e88e62226bfca6f9994f1f2d51569e0daf8475a3b0fe61a5300eee46d961376"
     "035fe83549ada2b8620fcd7c496ce5b33f0cb9dddc2b6460143b03dabac9fb28"),
    (M2, "streebog256", "9dd2fe4e90409e5da87f53976d7405b0c0cac628fc669a741d50063c557e8f50"),
]  # fmt: skip


@pytest.mark.parametrize(("message", "name", "expected"), KNOWN)
def test_known_answers(message: bytes, name: str, expected: str) -> None:
    assert Streebog(name, message).hexdigest() == expected
    assert streebog_module.digest(message, name).hex() == expected
    assert digest_stream(io.BytesIO(message), name).hex() == expected


def test_m2_is_the_rfc_message_reversed() -> None:
    assert len(M1) == 63 and len(M2) == 72
    assert bytes.fromhex(M2_RFC_HEX)[::-1] == M2


def test_digest_leaves_the_hash_usable_and_copy_is_independent() -> None:
    hasher = Streebog("streebog256", M1[:10])
    copy = hasher.copy()
    first = hasher.digest()
    assert hasher.digest() == first
    hasher.update(M1[10:])
    assert hasher.hexdigest() == KNOWN[1][2]
    assert copy.digest() == first


def test_update_takes_bytearray_and_memoryview() -> None:
    hasher = Streebog("streebog512")
    hasher.update(bytearray(M1[:20]))
    hasher.update(memoryview(M1)[20:40])
    hasher.update(memoryview(bytearray(M1[40:])))
    assert hasher.hexdigest() == KNOWN[0][2]


def test_a_stream_without_readinto_is_read_in_chunks() -> None:
    class Reader:
        def __init__(self, data: bytes) -> None:
            self._data = io.BytesIO(data)

        def read(self, size: int = -1) -> bytes:
            return self._data.read(min(size, 7))

    assert digest_stream(Reader(M2), "streebog256").hex() == KNOWN[3][2]  # type: ignore[arg-type]


@given(st.binary(max_size=5000), st.lists(st.integers(1, 700), max_size=12))
def test_any_split_gives_the_one_shot_digest(data: bytes, cuts: list[int]) -> None:
    hasher = Streebog()
    position = 0
    for cut in cuts:
        hasher.update(data[position : position + cut])
        position += cut
    hasher.update(data[position:])
    assert hasher.digest() == streebog_module.digest(data)


def test_large_stream_crosses_the_buffer_boundary() -> None:
    data = bytes(range(256)) * (5 * 4096 + 3)  # > 5 MiB, not a multiple of the 1 MiB buffer
    assert digest_stream(io.BytesIO(data)) == streebog_module.digest(data)


def test_unknown_variant() -> None:
    with pytest.raises(ValueError, match="streebog384"):
        Streebog("streebog384")
