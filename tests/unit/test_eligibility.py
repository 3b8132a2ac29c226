"""SPEC §2: distributor eligibility (分销员门槛)."""

from __future__ import annotations

import pytest

from fenxiao.domain.eligibility import Eligibility, qualifies, validate_eligibility
from fenxiao.domain.errors import InvalidInput

pytestmark = pytest.mark.unit


def test_none_mode_everyone_is_a_distributor() -> None:
    assert qualifies(Eligibility(mode="none"), 0, 0, [])


def test_purchases_needs_enough_orders_and_strictly_more_than_the_amount() -> None:
    rule = Eligibility(mode="purchases", min_orders=2, min_amount_fen=10000)  # 2 orders, over 100.00 yuan
    assert qualifies(rule, 2, 10001, [])
    assert not qualifies(rule, 2, 10000, [])  # exactly 100.00 is not "greater than"
    assert not qualifies(rule, 1, 50000, [])  # one order is not enough, however large
    assert qualifies(rule, 3, 20000, [])


def test_purchases_with_zero_thresholds_needs_some_payment() -> None:
    rule = Eligibility(mode="purchases", min_orders=0, min_amount_fen=0)
    assert not qualifies(rule, 0, 0, [])
    assert qualifies(rule, 1, 1, [])


def test_product_mode_any_listed_product() -> None:
    rule = Eligibility(mode="product", product_ids=frozenset({"VIP-CARD", "STARTER-KIT"}))
    assert qualifies(rule, 1, 100, ["socks", "STARTER-KIT"])
    assert not qualifies(rule, 9, 10**6, ["socks"])
    assert not qualifies(rule, 0, 0, [])


def test_validate_eligibility() -> None:
    validate_eligibility(Eligibility(mode="none"))
    validate_eligibility(Eligibility(mode="product", product_ids=frozenset({"P"})))
    for bad, field in [
        (Eligibility(mode="daily"), "eligibility.mode"),  # type: ignore[arg-type]
        (Eligibility(mode="purchases", min_orders=-1), "eligibility.min_orders"),
        (Eligibility(mode="purchases", min_amount_fen=-1), "eligibility.min_amount_fen"),
        (Eligibility(mode="product"), "eligibility.product_ids"),
        (Eligibility(mode="product", product_ids=frozenset({""})), "eligibility.product_ids"),
    ]:
        with pytest.raises(InvalidInput) as raised:
            validate_eligibility(bad)
        assert raised.value.field == field
