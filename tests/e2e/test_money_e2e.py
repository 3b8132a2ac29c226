"""The money path through the real local stack: bindings, a signed payment from the WeChat Pay stand-in,
commissions for A (level 2), B (level 1) and C (self), a refund during the freeze, the audit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fenxiao_local.client import OperatorClient, ShopClient, StandinClient
from tests.support.e2e import TOKEN, Running, ok, transaction_success, wait_until

pytestmark = pytest.mark.e2e


def test_commissions_refund_and_audit_through_the_local_stack(stack: Running) -> None:
    operator = OperatorClient(stack.api, TOKEN)
    standin = StandinClient(stack.api.rsplit(":", 1)[0] + ":" + str(int(stack.api.rsplit(":", 1)[1]) + 1))
    created = ok(operator.create_shop("money", "Money shop"), 201)
    shop = ShopClient(stack.api, "money", created["api_secret"])
    keys = ok(standin.keys())
    ok(shop.request("PUT", shop.path("/settings/wechatpay"), keys["wechatpay_settings"]))
    settings = {
        "rates": {"level1_bp": 1000, "level2_bp": 500, "self_bp": 200},
        "settlement": {"basis": "payment", "freeze_days": 7},
    }
    ok(shop.request("PUT", shop.path("/settings/distribution"), settings))
    ok(shop.request("POST", shop.path("/members/b/inviter"), {"inviter_id": "a"}), 201)
    ok(shop.request("POST", shop.path("/members/c/inviter"), {"inviter_id": "b"}), 201)
    order = {
        "buyer_id": "c",
        "lines": [
            {"line_id": "l1", "product_id": "tea", "quantity": 1, "paid_fen": 10000},
            {"line_id": "l2", "product_id": "cup", "quantity": 3, "paid_fen": 3333},
        ],
        "shipping_fen": 500,
        "total_fen": 13833,
    }
    ok(shop.request("PUT", shop.path("/orders/o1"), order), 201)
    # WeChat Pay times have whole seconds: the payment is in the second after the bindings and settings
    paid_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    payment = transaction_success(
        keys["wechatpay_settings"], "o1", "4200000000000000000000000001", 13833, paid_at
    )
    sent = ok(standin.notify("money", "TRANSACTION.SUCCESS", payment, deliveries=3))
    assert sent["status"] in (204, [204, 204, 204]), sent

    def paid() -> Any:
        view = ok(shop.request("GET", shop.path("/orders/o1")))
        return view if view["status"] == "paid" else None

    view = wait_until(paid, "order o1 paid")
    # l1 10000, l2 3333: level1 1000+333, level2 500+166, self 200+66 (floor per line; shipping earns nothing)
    assert {(c["tier"], c["member_id"], c["amount_fen"], c["status"]) for c in view["commissions"]} == {
        ("level1", "b", 1333, "frozen"),
        ("level2", "a", 666, "frozen"),
        ("self", "c", 266, "frozen"),
    }
    balances = {m: ok(shop.request("GET", shop.path(f"/members/{m}")))["balance"] for m in "abc"}
    assert [balances[m]["frozen_fen"] for m in "abc"] == [666, 1333, 266]
    assert ok(shop.request("GET", shop.path("/members/a")))["fans"] == {"level1": 1, "level2": 1}

    # a partial refund of 3333 fen during the freeze, split to l2 by the mall first
    ok(
        shop.request(
            "PUT", shop.path("/orders/o1/refunds/r1"), {"lines": [{"line_id": "l2", "refund_fen": 3333}]}
        ),
        201,
    )
    refund = {
        "mchid": payment["mchid"],
        "out_trade_no": "o1",
        "transaction_id": payment["transaction_id"],
        "out_refund_no": "r1",
        "refund_id": "50300000000000000000000001",
        "refund_status": "SUCCESS",
        "success_time": (paid_at + timedelta(seconds=5)).isoformat(),
        "amount": {"total": 13833, "refund": 3333, "payer_total": 13833, "payer_refund": 3333},
    }
    ok(standin.notify("money", "REFUND.SUCCESS", refund))

    def refunded() -> Any:
        got = ok(shop.request("GET", shop.path("/orders/o1")))
        return got if got["refunded_fen"] == 3333 and got["commissions"][0]["amount_fen"] == 1000 else None

    view = wait_until(refunded, "refund applied")
    assert {(c["tier"], c["amount_fen"]) for c in view["commissions"]} == {
        ("level1", 1000),
        ("level2", 500),
        ("self", 200),
    }
    assert ok(shop.request("GET", shop.path("/members/b")))["balance"]["frozen_fen"] == 1000

    report = ok(operator.run_job("audit"))
    assert report["differences"] == []
    assert report["members_checked"] >= 3
    assert report["counter_differences"] == []

    # The shop summary (counters moved with the facts): the members' balances added up.
    summary = ok(shop.request("GET", shop.path("/summary")))
    balances = {m: ok(shop.request("GET", shop.path(f"/members/{m}")))["balance"] for m in "abc"}
    assert summary["balances"] == {b: sum(balances[m][b] for m in "abc") for b in balances["a"]}
    assert summary["balances"]["frozen_fen"] == 1000 + 500 + 200
    assert (summary["members"], summary["withdrawals_pending_review"], summary["orders_flagged"]) == (3, 0, 0)
