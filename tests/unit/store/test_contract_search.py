"""Contract: the operator's message search (text, partner, direction, state, dates, paging)."""

from __future__ import annotations

import datetime as dt

from gateway.store.api import Direction, MessageQuery, State, Store
from tests.unit.store.messages import new_message, now

LEASE = dt.timedelta(seconds=60)
DAY = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


async def _seed(store: Store) -> dict[str, str]:
    """Five messages with distinct numbers, partners, directions and days; name → id."""
    made = {
        "rostov": await store.add_outbound(new_message(registration_number="61-01/1001",
                                                       peer="ru-14", created_at=DAY), actor="t"),
        "rostov2": await store.add_outbound(new_message(registration_number="61-01/1002",
                                                        peer="fed", created_at=DAY
                                                        + dt.timedelta(days=1)), actor="t"),
        "percent": await store.add_outbound(new_message(registration_number="50%_X",
                                                        peer="fed", created_at=DAY
                                                        + dt.timedelta(days=2)), actor="t"),
    }  # fmt: skip
    for name, number, day in (("in1", "14-05/77", 3), ("in2", "ФМ-12/06", 4)):
        accepted = await store.add_inbound(
            new_message(Direction.IN, peer="ru-14", registration_number=number,
                        created_at=DAY + dt.timedelta(days=day)),
            b"<receipt/>", b"sig", actor="peer:ru-14",
        )  # fmt: skip
        made[name] = accepted.record
    return {name: record.message_id for name, record in made.items()}


async def _ids(store: Store, **query: object) -> list[str]:
    return [r.message_id for r in await store.search(MessageQuery(**query))]  # type: ignore[arg-type]


async def test_search_by_registration_number_substring_case_insensitive(store: Store) -> None:
    ids = await _seed(store)
    assert await _ids(store, text="61-01/") == [ids["rostov2"], ids["rostov"]]
    assert await _ids(store, text="1001") == [ids["rostov"]]
    assert await _ids(store, text="фм-12") == [ids["in2"]]  # Cyrillic, other case
    # LIKE wildcards in the text are literal characters
    assert await _ids(store, text="%") == [ids["percent"]]
    assert await _ids(store, text="_") == [ids["percent"]]
    assert await _ids(store, text="no such number") == []


async def test_search_by_message_id_and_document_uid_exactly(store: Store) -> None:
    ids = await _seed(store)
    record = await store.get(ids["in1"])
    assert record is not None and record.document_uid
    assert await _ids(store, text=ids["in1"]) == [ids["in1"]]
    assert await _ids(store, text=record.document_uid) == [ids["in1"]]
    assert await _ids(store, text=ids["in1"][:-1]) == []  # ids are not substrings


async def test_search_by_partner_direction_state_and_dates(store: Store) -> None:
    ids = await _seed(store)
    assert await _ids(store, peer="ru-14") == [ids["in2"], ids["in1"], ids["rostov"]]
    assert await _ids(store, peer="ru-14", direction=Direction.OUT) == [ids["rostov"]]
    assert await _ids(store, states=(State.ACCEPTED,)) == [ids["in2"], ids["in1"]]
    assert await _ids(store, states=(State.ACCEPTED, State.QUEUED), peer="fed") == [
        ids["percent"], ids["rostov2"],
    ]  # fmt: skip
    day1 = DAY + dt.timedelta(days=1)
    assert await _ids(store, since=day1, until=day1 + dt.timedelta(days=2)) == [
        ids["percent"], ids["rostov2"],
    ]  # fmt: skip
    assert await _ids(store, since=DAY + dt.timedelta(days=4)) == [ids["in2"]]
    assert await _ids(store, until=DAY) == []


async def test_search_pages_newest_first_with_before(store: Store) -> None:
    ids = await _seed(store)
    order = [ids[n] for n in ("in2", "in1", "percent", "rostov2", "rostov")]
    assert await _ids(store) == order
    first = await _ids(store, limit=2)
    assert first == order[:2]
    second = await _ids(store, limit=2, before=first[-1])
    assert second == order[2:4]
    assert await _ids(store, limit=2, before=second[-1]) == order[4:]
    assert await _ids(store, before="unknown-id") == []
    assert await _ids(store, limit=0) == []


async def test_search_follows_state_changes(store: Store) -> None:
    ids = await _seed(store)
    await store.cancel(ids["rostov"], actor="operator:anna")
    assert await _ids(store, states=(State.CANCELLED,)) == [ids["rostov"]]
    assert ids["rostov"] not in await _ids(store, states=(State.QUEUED,))
    assert now() > DAY


async def test_recent_states_count_the_newest_messages_of_one_partner(store: Store) -> None:
    ids = await _seed(store)
    counts = await store.recent_states("ru-14", limit=500)
    assert counts == {(Direction.OUT, State.QUEUED): 1, (Direction.IN, State.ACCEPTED): 2}
    # only the newest: in2 and in1 (newest first), not the older outbound letter
    assert await store.recent_states("ru-14", limit=2) == {(Direction.IN, State.ACCEPTED): 2}
    await store.cancel(ids["rostov"], actor="operator:anna")
    assert (await store.recent_states("ru-14", limit=500))[(Direction.OUT, State.CANCELLED)] == 1
    assert await store.recent_states("nobody", limit=500) == {}
    assert await store.recent_states("fed", limit=0) == {}
