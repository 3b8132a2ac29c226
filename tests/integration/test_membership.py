"""The membership service against moto: levels from the table in force, the growth ledger entries, the audit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fenxiao import clock
from fenxiao.adapters.ledger import LedgerEntryModel, account
from fenxiao.adapters.members import GROWTH_PREFIX
from fenxiao.service.membership import level_view, record_growth_event
from fenxiao.timefmt import rfc3339_from_key
from tests.support.app import ShopCaller
from tests.support.money import assert_audit_clean
from tests.support.orders import order_body, pay, refund, run

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
NAMES = ["青铜", "白银", "黄金", "铂金", "钻石"]
REQUIRED = [0, 100, 500, 2000, 10000]
DISCOUNTS = [10000, 9800, 9500, 9000, 8500]


def levels(n: int) -> list[dict[str, Any]]:
    return [
        {"level": i + 1, "name": NAMES[i], "growth_required": REQUIRED[i], "discount_bp": DISCOUNTS[i]}
        for i in range(n)
    ]


def put_membership(shop: ShopCaller, **body: Any) -> None:
    answer = shop.put(shop.path("/settings/membership"), body)
    assert answer.status == 200, answer


def growth_entries(shop_id: str, member_id: str) -> list[LedgerEntryModel]:
    """The member's growth ledger entries, oldest first (stored keys sort as time)."""
    found = LedgerEntryModel.query(
        account(shop_id, member_id),
        LedgerEntryModel.entry_key.startswith(GROWTH_PREFIX),
        consistent_read=True,
    )
    return sorted(found, key=lambda e: (e.at, e.entry_key))


@pytest.mark.parametrize("count", [0, 1, 2, 3, 4, 5])
def test_level_view_with_0_to_5_levels(shop: ShopCaller, count: int) -> None:
    clock.set_now(T0)
    put_membership(shop, levels=levels(count))
    at = T0 + timedelta(seconds=1)
    for growth in [0, 1, 99, 100, 101, 499, 500, 1999, 2000, 9999, 10000, 10**9]:
        reached = [i for i in range(count) if REQUIRED[i] <= growth]
        expected = (
            {"level": None, "level_name": None, "discount_bp": 10000}
            if not reached
            else {
                "level": reached[-1] + 1,
                "level_name": NAMES[reached[-1]],
                "discount_bp": DISCOUNTS[reached[-1]],
            }
        )
        assert level_view(shop.shop_id, growth, at) == expected, growth


def test_level_view_below_the_first_level_is_full_price(shop: ShopCaller) -> None:
    clock.set_now(T0)
    put_membership(shop, levels=[{"level": 1, "name": "会员", "growth_required": 50, "discount_bp": 9900}])
    at = T0 + timedelta(seconds=1)
    assert level_view(shop.shop_id, 49, at) == {"level": None, "level_name": None, "discount_bp": 10000}
    assert level_view(shop.shop_id, 50, at) == {"level": 1, "level_name": "会员", "discount_bp": 9900}


def test_level_view_uses_the_table_in_force_at_the_time_asked(shop: ShopCaller) -> None:
    clock.set_now(T0)
    put_membership(shop, levels=levels(3))
    clock.set_now(T0 + timedelta(hours=1))
    put_membership(shop, levels=[{"level": 1, "name": "唯一", "growth_required": 600, "discount_bp": 9700}])
    before, after = T0 + timedelta(minutes=30), T0 + timedelta(hours=2)
    assert level_view(shop.shop_id, 550, before) == {"level": 3, "level_name": "黄金", "discount_bp": 9500}
    assert level_view(shop.shop_id, 550, after) == {"level": None, "level_name": None, "discount_bp": 10000}
    assert level_view(shop.shop_id, 600, after) == {"level": 1, "level_name": "唯一", "discount_bp": 9700}
    # a shop that never set membership has no levels
    assert level_view("no-such-shop", 10**6, after)["level"] is None


def test_changing_the_level_table_relevels_members_on_next_read(shop: ShopCaller) -> None:
    clock.set_now(T0)
    put_membership(shop, profile_growth=120, review_growth=400, levels=levels(2))
    record_growth_event(shop.shop_id, "m1", "profile", None, clock.now())
    record_growth_event(shop.shop_id, "m2", "profile", None, clock.now())
    record_growth_event(shop.shop_id, "m2", "review", "r1", clock.now())
    view = {m: shop.get(shop.path(f"/members/{m}")).body for m in ("m1", "m2")}
    assert (view["m1"]["level"], view["m2"]["level"]) == (2, 2)
    clock.set_now(T0 + timedelta(minutes=1))
    put_membership(shop, levels=levels(5))
    view = {m: shop.get(shop.path(f"/members/{m}")).body for m in ("m1", "m2")}
    assert (view["m1"]["growth"], view["m1"]["level"], view["m1"]["level_name"]) == (120, 2, "白银")
    assert (view["m2"]["growth"], view["m2"]["level"], view["m2"]["discount_bp"]) == (520, 3, 9500)


def test_growth_history_explains_growth_from_events_and_orders(shop: ShopCaller) -> None:
    clock.set_now(T0)
    put_membership(shop, growth_coefficient="1.5", review_growth=5, signin_growth=2, profile_growth=10)
    now = clock.now()
    record_growth_event(shop.shop_id, "buyer", "signin", None, now)
    record_growth_event(shop.shop_id, "buyer", "review", "rev-9", now + timedelta(seconds=1))
    record_growth_event(shop.shop_id, "buyer", "profile", None, now + timedelta(seconds=2))
    assert shop.put(shop.path("/orders/o1"), order_body("buyer", [("l1", "p1", 10050)])).status == 201
    pay(shop.shop_id, "o1", 10050, T0 + timedelta(minutes=1))
    run(shop.shop_id, "o1", T0 + timedelta(minutes=2))
    refund(shop.shop_id, "o1", "rf1", 5000, T0 + timedelta(minutes=3))
    run(shop.shop_id, "o1", T0 + timedelta(minutes=4))

    history = growth_entries(shop.shop_id, "buyer")
    assert [(e.kind, e.ref, e.growth) for e in history] == [
        ("growth_signin", "2026-11-20", 2),
        ("growth_review", "rev-9", 5),
        ("growth_profile", None, 10),
        ("growth_order", "o1", 150),  # floor(10050 * 1.5 / 100)
        ("growth_refund", "o1", -75),  # floor(5050 * 1.5 / 100) = 75
    ]
    assert all(rfc3339_from_key(e.at).endswith("+08:00") for e in history)
    growth = shop.get(shop.path("/members/buyer")).body["growth"]
    assert growth == sum(e.growth for e in history) == 92
    assert assert_audit_clean() > 0


def test_growth_history_of_an_unknown_member_is_empty(shop: ShopCaller) -> None:
    assert growth_entries(shop.shop_id, "nobody") == []


def test_audit_is_clean_after_a_mix_of_events(shop: ShopCaller) -> None:
    clock.set_now(T0 - timedelta(minutes=1))  # the settings are in force before the first event
    put_membership(shop, review_growth=3, signin_growth=1, profile_growth=0, levels=levels(2))
    for day in range(3):
        for member in ("a", "b"):
            now = T0 + timedelta(days=day)
            record_growth_event(shop.shop_id, member, "signin", None, now)
            record_growth_event(shop.shop_id, member, "signin", None, now + timedelta(hours=1))
            record_growth_event(shop.shop_id, member, "review", f"{member}-{day % 2}", now)
            record_growth_event(shop.shop_id, member, "profile", None, now)
    assert assert_audit_clean() > 0
    history = growth_entries(shop.shop_id, "a")
    assert sum(e.growth for e in history) == 3 + 2 * 3
    assert sum(1 for e in history if e.kind == "growth_profile") == 1


@pytest.mark.parametrize(("at_payment", "changed_to"), [("1.5", "3"), ("2", "0.5")])
def test_order_growth_uses_the_coefficient_in_force_at_the_success_time(
    shop: ShopCaller, at_payment: str, changed_to: str
) -> None:
    """The coefficient changes (up, or down) after the payment's success_time but before the consumer
    processes it: the payment's coefficient counts, also for the refund processed later."""
    clock.set_now(T0)
    put_membership(shop, growth_coefficient=at_payment, levels=levels(2))
    assert shop.put(shop.path("/orders/o1"), order_body("buyer", [("l1", "p1", 10050)])).status == 201
    paid_at = T0 + timedelta(minutes=1)
    pay(shop.shop_id, "o1", 10050, paid_at)
    clock.set_now(paid_at + timedelta(seconds=30))
    put_membership(shop, growth_coefficient=changed_to)
    run(shop.shop_id, "o1", paid_at + timedelta(minutes=2))
    paid_growth = {"1.5": 150, "2": 201}[at_payment]  # floor(10050 * 1.5 / 100), floor(10050 * 2 / 100)
    view = shop.get(shop.path("/members/buyer")).body
    assert (view["growth"], view["level"]) == (paid_growth, 2)
    refund(shop.shop_id, "o1", "rf1", 5000, paid_at + timedelta(minutes=3))
    run(shop.shop_id, "o1", paid_at + timedelta(minutes=4))
    after_refund = {"1.5": 75, "2": 101}[at_payment]  # floor(5050 * c / 100) with the payment's c
    assert shop.get(shop.path("/members/buyer")).body["growth"] == after_refund
    assert [(e.kind, e.growth) for e in growth_entries(shop.shop_id, "buyer")] == [
        ("growth_order", paid_growth),
        ("growth_refund", after_refund - paid_growth),
    ]
    assert assert_audit_clean() > 0


def test_a_coefficient_changed_before_the_success_time_applies(shop: ShopCaller) -> None:
    clock.set_now(T0)
    put_membership(shop, growth_coefficient="1")
    assert shop.put(shop.path("/orders/o1"), order_body("buyer", [("l1", "p1", 10050)])).status == 201
    clock.set_now(T0 + timedelta(minutes=1))
    put_membership(shop, growth_coefficient="0.01")
    pay(shop.shop_id, "o1", 10050, T0 + timedelta(minutes=2))
    run(shop.shop_id, "o1", T0 + timedelta(minutes=3))
    assert shop.get(shop.path("/members/buyer")).body["growth"] == 1  # floor(10050 * 0.01 / 100)


def test_an_amount_mismatch_order_gives_no_growth(shop: ShopCaller) -> None:
    clock.set_now(T0)
    put_membership(shop, growth_coefficient="100", signin_growth=2, levels=levels(2))
    record_growth_event(shop.shop_id, "buyer", "signin", None, T0 + timedelta(seconds=1))
    assert shop.put(shop.path("/orders/o1"), order_body("buyer", [("l1", "p1", 10000)])).status == 201
    pay(shop.shop_id, "o1", 9000, T0 + timedelta(minutes=1))  # WeChat Pay says 90.00, the order 100.00
    run(shop.shop_id, "o1", T0 + timedelta(minutes=2))
    order = shop.get(shop.path("/orders/o1")).body
    assert (order["paid_fen"], order["flags"]) == (9000, ["amount_mismatch"])
    view = shop.get(shop.path("/members/buyer")).body
    assert (view["growth"], view["level"]) == (2, 1)  # the sign-in only; 9000 × 100 / 100 would be 9000
    assert [e.kind for e in growth_entries(shop.shop_id, "buyer")] == ["growth_signin"]
    refund(shop.shop_id, "o1", "rf1", 4000, T0 + timedelta(minutes=3))
    run(shop.shop_id, "o1", T0 + timedelta(minutes=4))
    assert shop.get(shop.path("/members/buyer")).body["growth"] == 2  # a refund takes nothing either
    assert assert_audit_clean() > 0
