"""A transaction DynamoDB cancels only because its items were busy is tried again by the unit of work;
a failed condition never is. DynamoDB cancels with ``TransactionConflict`` when another transaction is in
flight on the same item (a commission credited to a distributor while a fan binds to them): without the
retry, the mall would see a 409 for a request nothing was wrong with."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from fenxiao import clock
from fenxiao.adapters import unit_of_work as ledger
from tests.support.app import ShopCaller

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)


def _cancelling(monkeypatch: pytest.MonkeyPatch, reasons: list[str | None], times: int) -> dict[str, int]:
    """The first ``times`` commits are cancelled with ``reasons``; later ones reach moto."""
    original: Callable[[ledger.UnitOfWork], None] = ledger.UnitOfWork._commit_once
    calls = {"n": 0}

    def cancelled_first(self: ledger.UnitOfWork) -> None:
        calls["n"] += 1
        if calls["n"] <= times:
            raise ledger.WriteConflict(reasons, [f"item{i}" for i in range(len(reasons))])
        original(self)

    monkeypatch.setattr(ledger.UnitOfWork, "_commit_once", cancelled_first)
    monkeypatch.setattr(ledger.time, "sleep", lambda _s: None)
    return calls


def _distributor(shop: ShopCaller, member: str) -> None:
    answer = shop.put(shop.path(f"/members/{member}/distributor"), {"active": True})
    assert answer.status in (200, 201), answer


@pytest.mark.parametrize(
    "reasons",
    [
        [None, "TransactionConflict", None],
        ["ThrottlingError", None, None],
        ["TransactionConflict", "ProvisionedThroughputExceeded", "None"],
    ],
)
def test_a_binding_cancelled_because_items_were_busy_is_retried_and_applied_once(
    shop: ShopCaller, monkeypatch: pytest.MonkeyPatch, reasons: list[str | None]
) -> None:
    clock.set_now(T0)
    _distributor(shop, "boss")
    calls = _cancelling(monkeypatch, reasons, times=2)
    answer = shop.post(shop.path("/members/fan/inviter"), {"inviter_id": "boss"})
    assert answer.status == 201, answer
    assert calls["n"] == 3
    boss = shop.get(shop.path("/members/boss")).body
    assert boss["fans"]["level1"] == 1, boss


def test_a_failed_condition_is_not_retried_by_the_unit_of_work(
    shop: ShopCaller, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cancellation with a failed condition is the caller's answer: commit raises at once, and the
    transaction is not sent again (the binding service then reads the member again and decides afresh)."""
    clock.set_now(T0)
    _distributor(shop, "boss")
    calls = _cancelling(monkeypatch, [None, "ConditionalCheckFailed", "TransactionConflict"], times=1)
    uow = ledger.UnitOfWork(clock.now())
    uow.move(ledger.Movement(shop.shop_id, "boss", "TEST#1", "test", growth=1))
    with pytest.raises(ledger.WriteConflict) as raised:
        uow.commit()
    assert calls["n"] == 1
    assert raised.value.busy() is False


def test_a_binding_whose_guard_failed_is_decided_again_from_a_fresh_read(
    shop: ShopCaller, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The unit of work does not retry a failed condition; the binding service reads the member again and
    sends a new transaction built from what it read (service/members.py, BIND_ATTEMPTS)."""
    clock.set_now(T0)
    _distributor(shop, "boss")
    calls = _cancelling(monkeypatch, [None, "ConditionalCheckFailed", "TransactionConflict"], times=1)
    answer = shop.post(shop.path("/members/fan/inviter"), {"inviter_id": "boss"})
    assert answer.status == 201, answer
    assert calls["n"] == 2
    assert shop.get(shop.path("/members/boss")).body["fans"]["level1"] == 1


def test_items_that_stay_busy_end_in_a_409_that_names_the_cause(
    shop: ShopCaller, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock.set_now(T0)
    _distributor(shop, "boss")
    calls = _cancelling(monkeypatch, ["TransactionConflict"], times=99)
    answer = shop.post(shop.path("/members/fan/inviter"), {"inviter_id": "boss"})
    assert (answer.status, answer.body["error"]["code"]) == (409, "concurrent_change"), answer
    assert calls["n"] == ledger.BUSY_ATTEMPTS
    assert shop.get(shop.path("/members/fan")).status == 404  # nothing stored: the fan never came into being


@pytest.mark.parametrize(
    ("reasons", "busy"),
    [
        (["TransactionConflict"], True),
        ([None, "ThrottlingError"], True),
        ([None, None], False),
        ([], False),
        (["ConditionalCheckFailed", "TransactionConflict"], False),
        (["ValidationError"], False),
        (["ItemCollectionSizeLimitExceeded"], False),
    ],
)
def test_which_cancellations_count_as_busy(reasons: list[str | None], busy: bool) -> None:
    assert ledger.WriteConflict(reasons, ["x"] * len(reasons)).busy() is busy
