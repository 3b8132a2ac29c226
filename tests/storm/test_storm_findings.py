"""Product defects the fault storm found, each reduced to its smallest reproduction, kept as regression
tests now that both are fixed (F1: the unit of work, now adapters/unit_of_work.py, F2: service/orders.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fenxiao import clock
from tests.support.app import ShopCaller
from tests.support.orders import order_body, pay, refund, run

pytestmark = pytest.mark.storm

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


def test_full_refund_reported_before_the_payment_is_applied(shop: ShopCaller) -> None:
    """F1: a commission brought to 0 by refunds known when the payment is applied: its FROZEN +x and
    clawback -x net to 0 for the member, which once left an empty condition check in the transaction."""
    clock.set_now(T0 - timedelta(days=1))
    body = {"rates": {"level1_bp": 1000, "level2_bp": 0, "self_bp": 0}, "settlement": {"basis": "payment"}}
    assert shop.put(shop.path("/settings/distribution"), body).status == 200
    assert shop.post(shop.path("/members/b/inviter"), {"inviter_id": "a"}).status == 201
    clock.set_now(T0 + timedelta(hours=2))
    assert shop.put(shop.path("/orders/o1"), order_body("b", [("l1", "p1", 10000)])).status == 201
    pay(shop.shop_id, "o1", 10000, T0)
    refund(shop.shop_id, "o1", "o1-r1", 10000, T0 + timedelta(hours=1))  # reported before the consumer ran

    run(shop.shop_id, "o1", clock.now())  # SPEC §3: a full refund reverses the commission

    view = shop.get(shop.path("/orders/o1")).body
    assert view["status"] == "paid"
    assert [(c["member_id"], c["amount_fen"], c["status"]) for c in view["commissions"]] == [
        ("a", 0, "reversed")
    ]
    assert shop.get(shop.path("/members/a")).body["balance"]["frozen_fen"] == 0


def test_same_split_again_after_another_refund_took_effect(shop: ShopCaller) -> None:
    """F2: the mall's retry of an already registered split is answered 200, even after another refund
    took effect (it was validated against what that refund left, and answered 422)."""
    clock.set_now(T0 + timedelta(hours=2))
    lines = [("l1", "p1", 1000), ("l2", "p1", 1000)]
    assert shop.put(shop.path("/orders/o1"), order_body("b", lines)).status == 201
    split = {"lines": [{"line_id": "l1", "refund_fen": 800}]}
    assert shop.put(shop.path("/orders/o1/refunds/o1-r1"), split).status == 201
    refund(shop.shop_id, "o1", "o1-r2", 1000, T0 + timedelta(hours=1))  # another refund, without a split

    again = shop.put(shop.path("/orders/o1/refunds/o1-r1"), split)  # the mall retries (answer lost)

    assert again.status == 200, again
