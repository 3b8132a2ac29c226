"""Membership growth through the real local stack (SPEC §6): a signed payment notification from the WeChat
Pay stand-in earns floor(paid × coefficient / 100) growth and a level; a signed refund notification
recomputes it; the audit finds no difference."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fenxiao_local.client import OperatorClient, ShopClient, StandinClient
from tests.support.e2e import TOKEN, Running, ok, transaction_success, wait_until

pytestmark = pytest.mark.e2e

LEVELS = [
    {"level": 1, "name": "银卡", "growth_required": 0, "discount_bp": 10000},
    {"level": 2, "name": "金卡", "growth_required": 200, "discount_bp": 9500},
    {"level": 3, "name": "钻石", "growth_required": 1000, "discount_bp": 9000},
]


def test_growth_and_level_from_signed_payment_and_refund(stack: Running) -> None:
    operator = OperatorClient(stack.api, TOKEN)
    host, port = stack.api.rsplit(":", 1)
    standin = StandinClient(f"{host}:{int(port) + 1}")
    created = ok(operator.create_shop("growth", "Growth shop"), 201)
    shop = ShopClient(stack.api, "growth", created["api_secret"])
    keys = ok(standin.keys())
    ok(shop.request("PUT", shop.path("/settings/wechatpay"), keys["wechatpay_settings"]))
    membership = {"growth_coefficient": "1.5", "levels": LEVELS}
    ok(shop.request("PUT", shop.path("/settings/membership"), membership))
    assert ok(shop.request("GET", shop.path("/settings/membership")))["growth_coefficient"] == "1.5"
    order = {
        "buyer_id": "buyer",
        "lines": [
            {"line_id": "l1", "product_id": "tea", "quantity": 1, "paid_fen": 10000},
            {"line_id": "l2", "product_id": "cup", "quantity": 3, "paid_fen": 3333},
        ],
        "shipping_fen": 500,
        "total_fen": 13833,
    }
    ok(shop.request("PUT", shop.path("/orders/o1"), order), 201)
    # WeChat Pay times have whole seconds: the payment is in the second after the settings
    paid_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    payment = transaction_success(
        keys["wechatpay_settings"], "o1", "4200000000000000000000000601", 13833, paid_at
    )
    sent = ok(standin.notify("growth", "TRANSACTION.SUCCESS", payment, deliveries=2))
    assert sent["status"] in (204, [204, 204]), sent

    def member_with_growth(expected: int) -> Any:
        def check() -> Any:
            answer = shop.request("GET", shop.path("/members/buyer"))
            return answer[1] if answer[0] == 200 and answer[1]["growth"] == expected else None

        return check

    # floor(13833 × 1.5 / 100) = floor(207.495) = 207 (the whole paid amount, shipping included)
    view = wait_until(member_with_growth(207), "growth after the payment")
    assert (view["level"], view["level_name"], view["discount_bp"]) == (2, "金卡", 9500)
    assert ok(shop.request("GET", shop.path("/orders/o1")))["status"] == "paid"

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
        "refund_id": "50300000000000000000000601",
        "refund_status": "SUCCESS",
        "success_time": (paid_at + timedelta(seconds=5)).isoformat(),
        "amount": {"total": 13833, "refund": 3333, "payer_total": 13833, "payer_refund": 3333},
    }
    ok(standin.notify("growth", "REFUND.SUCCESS", refund, deliveries=2))
    # floor((13833 − 3333) × 1.5 / 100) = floor(157.5) = 157: below 金卡's 200
    view = wait_until(member_with_growth(157), "growth after the refund")
    assert (view["level"], view["level_name"], view["discount_bp"]) == (1, "银卡", 10000)
    assert ok(shop.request("GET", shop.path("/orders/o1")))["refunded_fen"] == 3333

    report = ok(operator.run_job("audit"))
    assert report["differences"] == []
    assert report["members_checked"] >= 1
