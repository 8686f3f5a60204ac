"""gateway/leases.py: the leases of work in flight are renewed while it runs, and only then."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Collection
from pathlib import Path

import pytest

from gateway.leases import Leases
from gateway.store.api import MessageRecord
from gateway.store.sqlite import SqliteStore
from tests.unit.store.messages import new_message

LEASE = dt.timedelta(seconds=60)
T0 = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)  # every message is due by then


class Clock:
    def __init__(self) -> None:
        self.at = T0

    def __call__(self) -> dt.datetime:
        return self.at


async def claimed(store: SqliteStore, owner: str, count: int) -> list[str]:
    for _ in range(count):
        await store.add_outbound(new_message(), actor="t")
    records = await store.claim_outbound(owner, now=T0, lease=LEASE, limit=count)
    return [r.message_id for r in records]


async def claims_at(store: SqliteStore, at: dt.datetime) -> list[str]:
    records: list[MessageRecord] = await store.claim_outbound("other", now=at, lease=LEASE, limit=9)
    return [r.message_id for r in records]


async def test_only_the_leases_held_are_renewed_while_they_are_held(tmp_path: Path) -> None:
    async with await SqliteStore.open(tmp_path / "a", synchronous="OFF") as store:
        first, second, third = await claimed(store, "w", 3)
        clock = Clock()
        leases = Leases(store, "w", LEASE, clock)
        with leases.holding(first), leases.holding(second):
            with leases.holding(first):  # claimed again by the same worker
                pass
            clock.at = T0 + LEASE / 2
            assert await leases.renew() == 2  # the first is still held by its outer attempt
        # Held until T0 + 1.5 leases: past the first lease only the third comes back.
        assert await claims_at(store, T0 + LEASE * 5 / 4) == [third]
        assert await leases.renew() == 0  # nothing held: nothing renewed
        assert await claims_at(store, T0 + LEASE * 3 / 2) == [first, second]


async def test_work_held_past_the_limit_counts_as_hung_and_is_no_longer_renewed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with await SqliteStore.open(tmp_path / "a", synchronous="OFF") as store:
        hung, fresh = await claimed(store, "w", 2)
        limit = dt.timedelta(seconds=0.2)
        clock = Clock()
        leases = Leases(store, "w", LEASE, clock, limit=limit)
        with leases.holding(hung):
            await asyncio.sleep(limit.total_seconds() * 1.5)
            clock.at = T0 + LEASE / 2
            with leases.holding(fresh):
                assert await leases.renew() == 1
                assert await leases.renew() == 1  # warned about once
        assert await claims_at(store, T0 + LEASE) == [hung]
        warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
        assert warnings == [
            f"the work on {hung} has run for over 0.2 s; its lease is no longer renewed, so the "
            "message will be taken up again"
        ]


async def test_kept_renews_in_the_background_goes_on_after_a_failure_and_stops_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async with await SqliteStore.open(tmp_path / "a", synchronous="OFF") as store:
        (message_id,) = await claimed(store, "w", 1)
        calls: list[list[str]] = []
        real = store.renew_leases

        async def flaky(
            owner: str, ids: Collection[str], *, now: dt.datetime, lease: dt.timedelta
        ) -> int:
            calls.append(list(ids))
            if len(calls) == 1:
                raise OSError("database is away")
            return await real(owner, ids, now=now, lease=lease)

        monkeypatch.setattr(store, "renew_leases", flaky)
        lease = dt.timedelta(seconds=0.3)  # renewed every 100 ms
        clock = Clock()
        leases = Leases(store, "w", lease, clock)
        with leases.holding(message_id):
            async with leases.kept():
                clock.at = T0 + LEASE
                async with asyncio.timeout(10):
                    while len(calls) < 3:
                        await asyncio.sleep(0.01)
            stopped = len(calls)
            await asyncio.sleep(lease.total_seconds())  # three periods without the block
        assert len(calls) == stopped and calls == [[message_id]] * stopped
        assert "renewing the leases of w failed: database is away" in caplog.text
        # The renewals after the failure were written: held until T0 + LEASE + lease.
        assert await claims_at(store, T0 + LEASE) == []
        assert await claims_at(store, T0 + LEASE + lease) == [message_id]


def test_a_lease_of_no_time_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="longer than zero"):
        Leases(None, "w", dt.timedelta(0), Clock())  # type: ignore[arg-type]
