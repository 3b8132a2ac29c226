"""Withdrawals from many threads at once: the balance is reserved by conditional transactions, never overdrawn."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from fenxiao import clock
from fenxiao.adapters.withdrawals import WithdrawalModel
from fenxiao.bootstrap import container
from fenxiao.domain.errors import Conflict
from fenxiao.schemas.withdrawals import WithdrawalIn
from fenxiao.service import withdrawals
from tests.support import wechatpay as wx
from tests.support.app import ShopCaller
from tests.support.money import assert_audit_clean, balance, entries, give_available
from tests.support.stack import moto_dynamodb_serialized

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


@pytest.fixture
def funded(shop: ShopCaller) -> Iterator[ShopCaller]:
    clock.set_now(T0)
    assert shop.put(shop.path("/settings/wechatpay"), wx.wechatpay_settings()).status == 200
    give_available("shop1", "m1", 10_000)
    with moto_dynamodb_serialized():
        yield shop


def _withdraw(withdrawal_id: str, amount: int, openid: str = "o-member-1") -> str:
    body = WithdrawalIn(withdrawal_id=withdrawal_id, amount_fen=amount, openid=openid)
    try:
        view = withdrawals.request_withdrawal(container(), "shop1", "m1", body, clock.now())
    except Conflict as exc:
        return exc.code
    return str(view["status"])


def test_fifty_concurrent_withdrawals_never_overdraw(funded: ShopCaller) -> None:
    container()  # built once, before the threads, as in a warm Lambda container
    with ThreadPoolExecutor(max_workers=50) as pool:
        outcomes = list(pool.map(lambda i: _withdraw(f"w{i}", 300), range(50)))
    successes = outcomes.count("pending")
    assert set(outcomes) <= {"pending", "insufficient_balance"}
    assert successes * 300 <= 10_000
    assert successes == 10_000 // 300  # every request that fitted got its reservation
    assert balance("shop1", "m1") == {
        "frozen_fen": 0,
        "available_fen": 10_000 - successes * 300,
        "withdrawing_fen": successes * 300,
        "withdrawn_fen": 0,
    }
    reserved = entries("shop1", "m1", "WD#")
    assert len(reserved) == successes
    assert all(e.available_fen == -300 and e.withdrawing_fen == 300 for e in reserved)
    stored = [withdrawals.load("shop1", f"w{i}") for i in range(50)]
    assert sum(1 for w in stored if w is not None) == successes  # a refused request stored nothing
    assert_audit_clean()


def test_the_same_withdrawal_id_from_many_threads_reserves_once(funded: ShopCaller) -> None:
    container()
    with ThreadPoolExecutor(max_workers=20) as pool:
        same = list(pool.map(lambda _: _withdraw("same", 2_500), range(20)))
        other_bodies = list(pool.map(lambda i: _withdraw("race", 1_000 + i), range(10)))
    assert same == ["pending"] * 20
    assert other_bodies.count("pending") == 1
    assert other_bodies.count("withdrawal_conflict") == 9
    race = withdrawals.load("shop1", "race")
    assert isinstance(race, WithdrawalModel)
    assert balance("shop1", "m1")["withdrawing_fen"] == 2_500 + int(race.amount_fen)
    assert len(entries("shop1", "m1", "WD#same#")) == 1
    assert_audit_clean()
