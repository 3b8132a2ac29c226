"""Product defects the fault storm found, each reduced to its smallest reproduction.

Each test states what the SPEC requires and is marked ``xfail(strict=True)`` while the product is wrong:
when a fix lands, the test passes, strict xfail fails the run, and the marker (and the storm's matching
avoidance, ``oracle.f1_hazard``) comes off.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fenxiao import clock
from tests.money_support import order_body, pay, refund, run
from tests.support import ShopCaller

pytestmark = pytest.mark.storm

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


@pytest.mark.xfail(
    strict=True,
    raises=TypeError,
    reason="F1: applying a payment whose refunds already bring a level-1/level-2 commission to 0 puts a "
    "FROZEN +x and a clawback -x for that member in one UnitOfWork; their deltas cancel, the member has "
    "no action and no condition, and UnitOfWork.commit() calls condition_check(condition=None) -> "
    "TypeError on every delivery, so the order is never paid and its messages go to the DLQ",
)
def test_full_refund_reported_before_the_payment_is_applied(shop: ShopCaller) -> None:
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


@pytest.mark.xfail(
    strict=True,
    reason="F2: PUT .../refunds/{no} validates the split against what other reported refunds left of each "
    "line BEFORE it recognises the same split again; once another (unsplit) refund took effect, the mall's "
    "retry of an identical, already registered split answers 422 refund_exceeds_line instead of 200 "
    "(docs/decisions.md, 'Refund splits are immutable': 200 same split again)",
)
def test_same_split_again_after_another_refund_took_effect(shop: ShopCaller) -> None:
    clock.set_now(T0 + timedelta(hours=2))
    lines = [("l1", "p1", 1000), ("l2", "p1", 1000)]
    assert shop.put(shop.path("/orders/o1"), order_body("b", lines)).status == 201
    split = {"lines": [{"line_id": "l1", "refund_fen": 800}]}
    assert shop.put(shop.path("/orders/o1/refunds/o1-r1"), split).status == 201
    refund(shop.shop_id, "o1", "o1-r2", 1000, T0 + timedelta(hours=1))  # another refund, without a split

    again = shop.put(shop.path("/orders/o1/refunds/o1-r1"), split)  # the mall retries (answer lost)

    assert again.status == 200, again
