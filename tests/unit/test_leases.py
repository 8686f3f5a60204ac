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

LEASE = dt.timedelta(seconds=0.45)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def claimed(store: SqliteStore, owner: str, count: int) -> list[MessageRecord]:
    for _ in range(count):
        await store.add_outbound(new_message(), actor="t")
    return await store.claim_outbound(owner, now=utc_now(), lease=LEASE, limit=count)


async def test_only_the_leases_held_are_renewed_and_a_failed_renewal_is_tried_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async with await SqliteStore.open(tmp_path / "a", synchronous="OFF") as store:
        first, second, third = [r.message_id for r in await claimed(store, "w", 3)]
        renewals: list[list[str]] = []
        real = store.renew_leases

        async def flaky(
            owner: str, ids: Collection[str], *, now: dt.datetime, lease: dt.timedelta
        ) -> int:
            renewals.append(sorted(ids))
            if len(renewals) == 1:
                raise OSError("database is away")
            return await real(owner, ids, now=now, lease=lease)

        monkeypatch.setattr(store, "renew_leases", flaky)
        leases = Leases(store, "w", LEASE, utc_now)
        async with leases.kept():
            with leases.holding(first), leases.holding(second):
                with leases.holding(first):  # claimed again by the same worker
                    pass
                await asyncio.sleep(LEASE.total_seconds() * 2)  # past the lease, twice renewed
                # The renewed two are out of reach; the third, not held, came back.
                taken = await store.claim_outbound("other", now=utc_now(), lease=LEASE, limit=9)
                assert [r.message_id for r in taken] == [third]
            await asyncio.sleep(LEASE.total_seconds())  # none held: nothing to renew
        assert len(renewals) >= 2 and all(ids == sorted([first, second]) for ids in renewals)
        assert "renewing the leases of 2 messages failed: database is away" in caplog.text


async def test_leaving_the_block_stops_renewing(tmp_path: Path) -> None:
    async with await SqliteStore.open(tmp_path / "a", synchronous="OFF") as store:
        (record,) = await claimed(store, "w", 1)
        leases = Leases(store, "w", LEASE, utc_now)
        with leases.holding(record.message_id):
            async with leases.kept():
                await asyncio.sleep(LEASE.total_seconds() / 2)
            await asyncio.sleep(LEASE.total_seconds() * 2)  # no renewal since the block ended
            taken = await store.claim_outbound("other", now=utc_now(), lease=LEASE, limit=9)
        assert [r.message_id for r in taken] == [record.message_id]
