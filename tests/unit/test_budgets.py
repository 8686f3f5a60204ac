"""gateway/budgets.py: what one request, and all requests together, may hold."""

from __future__ import annotations

import pytest

from gateway.budgets import HeldFiles, RequestBudget
from gateway.errors import GatewayError
from gateway.store.api import WHOLE_BUDGET


def test_a_share_is_bounded_by_its_request_and_by_all_requests_together() -> None:
    pool = HeldFiles(WHOLE_BUDGET + 100)
    with pool.lease() as first, pool.lease() as second:
        assert first.take(WHOLE_BUDGET) and not first.take(1)  # one request's own bound
        assert second.take(100) and not second.take(1)  # the pool's bound, shared
        assert pool.used == WHOLE_BUDGET + 100
    assert pool.used == 0


def test_a_request_that_fails_gives_back_its_share() -> None:
    pool = HeldFiles(1000)
    with pytest.raises(RuntimeError), pool.lease() as share:
        assert share.take(600)
        raise RuntimeError("the peer went away")
    assert pool.used == 0


def test_a_request_over_its_limit_is_refused_with_its_code() -> None:
    budget = RequestBudget(10)
    budget.take(10)
    with pytest.raises(GatewayError) as info:
        budget.take(1)
    assert info.value.code == "request.too_large"
    with pytest.raises(GatewayError):
        RequestBudget(10).expect(11)
