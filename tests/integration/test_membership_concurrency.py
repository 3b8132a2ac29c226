"""Growth events at once: the ledger entry's key decides, so concurrent repeats apply exactly once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fenxiao import clock
from fenxiao.adapters import unit_of_work as ledger
from fenxiao.adapters.ledger import LedgerEntryModel
from fenxiao.domain.errors import Conflict
from fenxiao.service import membership
from tests.support.app import ShopCaller
from tests.support.stack import moto_dynamodb_serialized

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)  # 12:00 in Asia/Shanghai


@pytest.fixture
def atomic_moto() -> Iterator[None]:
    """moto applies a transaction without a lock (copy, apply, restore on failure); DynamoDB applies each
    atomically. Serialise them so that threads see DynamoDB's semantics, not moto's races."""
    with moto_dynamodb_serialized():
        yield


def _at_once(calls: list[Any]) -> list[Any]:
    """Run the calls in threads released together; returns each result (or the exception raised)."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def worker(i: int) -> None:
        barrier.wait()
        try:
            results[i] = calls[i]()
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def _setup(shop: ShopCaller) -> None:
    clock.set_now(T0)
    body = {"signin_growth": 3, "review_growth": 7, "profile_growth": 11}
    assert shop.put(shop.path("/settings/membership"), body).status == 200


def test_two_same_day_signins_at_once_apply_once(atomic_moto: None, shop: ShopCaller) -> None:
    _setup(shop)
    now = clock.now()
    results = _at_once(
        [lambda: membership.record_growth_event(shop.shop_id, "m1", "signin", None, now) for _ in range(2)]
    )
    assert all(isinstance(r, dict) for r in results), results
    assert sorted(r["applied"] for r in results) == [False, True]
    assert all(r["growth"] == 3 for r in results)
    entries = list(LedgerEntryModel.query(f"{shop.shop_id}#m1", consistent_read=True))
    assert [(e.entry_key, e.growth) for e in entries] == [("GROWTH#SIGNIN#2026-11-25", 3)]
    assert shop.get(shop.path("/members/m1")).body["growth"] == 3


def test_many_events_at_once_on_one_member(atomic_moto: None, shop: ShopCaller) -> None:
    _setup(shop)
    now = clock.now()
    shop_id = shop.shop_id
    calls = [
        *[lambda: membership.record_growth_event(shop_id, "m1", "signin", None, now) for _ in range(4)],
        *[lambda: membership.record_growth_event(shop_id, "m1", "profile", None, now) for _ in range(3)],
        *[
            lambda ref=ref: membership.record_growth_event(shop_id, "m1", "review", ref, now)
            for ref in ("r1", "r2", "r1", "r2", "r3")
        ],
    ]
    results = _at_once(calls)
    assert all(isinstance(r, dict) for r in results), results
    applied = sorted((r["type"], r["ref"]) for r in results if r["applied"])
    assert applied == [
        ("profile", None),
        ("review", "r1"),
        ("review", "r2"),
        ("review", "r3"),
        ("signin", "2026-11-25"),
    ]
    assert shop.get(shop.path("/members/m1")).body["growth"] == 3 + 11 + 3 * 7


def test_a_transaction_conflict_is_retried(shop: ShopCaller, monkeypatch: pytest.MonkeyPatch) -> None:
    """DynamoDB cancels a transaction that meets another one in flight on the same item
    (``TransactionConflict``, no condition failed): the event is tried again, not reported as applied."""
    _setup(shop)
    original = ledger.UnitOfWork._commit_once
    attempts = {"n": 0}

    def busy_twice(self: ledger.UnitOfWork) -> None:
        attempts["n"] += 1
        if attempts["n"] <= 2:
            raise ledger.WriteConflict([None, "TransactionConflict"], ["ledger:x", "member:m1"])
        original(self)

    monkeypatch.setattr(ledger.UnitOfWork, "_commit_once", busy_twice)
    result = membership.record_growth_event(shop.shop_id, "m1", "profile", None, clock.now())
    assert (result["applied"], result["growth"], attempts["n"]) == (True, 11, 3)


def test_a_conflict_that_does_not_clear_is_409(shop: ShopCaller, monkeypatch: pytest.MonkeyPatch) -> None:
    _setup(shop)

    def always_busy(self: ledger.UnitOfWork) -> None:
        raise ledger.WriteConflict([None, "TransactionConflict"], ["ledger:x", "member:m1"])

    monkeypatch.setattr(ledger.UnitOfWork, "_commit_once", always_busy)
    with pytest.raises(Conflict) as raised:
        membership.record_growth_event(shop.shop_id, "m1", "signin", None, clock.now() + timedelta(days=1))
    assert raised.value.code == "concurrent_change"
