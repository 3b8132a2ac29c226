"""A REFUND.SUCCESS accepted through the signed endpoint whose consumer message is lost (it went to the DLQ)
must not let settlement release the commission it reduces (docs/decisions.md, settlement holds ...)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest

from fenxiao import clock
from fenxiao.service import settlement
from tests.support import wechatpay as wx
from tests.support.app import Api, ShopCaller
from tests.support.money import assert_audit_clean, balance
from tests.support.orders import order_body

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


def settle(now: datetime) -> dict[str, int]:
    totals = {"released": 0, "skipped": 0, "held": 0}
    cursor = None
    while True:
        page = settlement.run_page(now, cursor)
        for name in totals:
            totals[name] += page.details[name]
        cursor = page.cursor
        if cursor is None:
            return totals


def test_a_refund_whose_consumer_message_was_lost_is_clawed_back_before_any_release(
    api: Api, shop: ShopCaller, aws_env: dict[str, str]
) -> None:
    clock.set_now(T0 - timedelta(hours=1))
    assert shop.put(shop.path("/settings/wechatpay"), wx.wechatpay_settings()).status == 200
    settings = {
        "rates": {"level1_bp": 1000, "level2_bp": 500, "self_bp": 0},
        "settlement": {"basis": "payment", "freeze_days": 7},
    }
    assert shop.put(shop.path("/settings/distribution"), settings).status == 200
    assert shop.post(shop.path("/members/b/inviter"), {"inviter_id": "a"}).status == 201
    assert shop.post(shop.path("/members/c/inviter"), {"inviter_id": "b"}).status == 201
    assert shop.put(shop.path("/orders/o1"), order_body("c", [("l1", "p1", 10000)])).status == 201
    clock.set_now(T0 + timedelta(minutes=1))
    headers, body = wx.notification(
        "TRANSACTION.SUCCESS", wx.transaction("o1", 10000, T0), timestamp=int(clock.unix_now())
    )
    assert wx.post(api, "shop1", headers, body)[0] == 204
    wx.drain(aws_env)
    assert balance("shop1", "b")["frozen_fen"] == 1000

    refunded_at = T0 + timedelta(days=6)  # during the freeze
    clock.set_now(refunded_at + timedelta(minutes=1))
    headers, body = wx.notification(
        "REFUND.SUCCESS", wx.refund("o1", "r1", 4000, 10000, refunded_at), timestamp=int(clock.unix_now())
    )
    assert wx.post(api, "shop1", headers, body)[0] == 204  # stored, nudged...
    boto3.client("sqs", region_name="us-east-1").purge_queue(
        QueueUrl=aws_env["FENXIAO_ORDER_EVENTS_QUEUE_URL"]
    )
    assert wx.drain(aws_env) == 0  # ...but the nudge never reaches the consumer

    due = T0 + timedelta(days=7, minutes=1)
    clock.set_now(due)
    assert settle(due) == {"released": 0, "skipped": 0, "held": 2}
    assert balance("shop1", "b")["available_fen"] == 0
    assert wx.drain(aws_env) == 1  # settlement's own nudge: the consumer claws back
    assert shop.get(shop.path("/orders/o1")).body["commissions"][0]["amount_fen"] == 600

    assert settle(due + timedelta(minutes=1)) == {"released": 2, "skipped": 0, "held": 0}
    assert balance("shop1", "b") == {
        "frozen_fen": 0,
        "available_fen": 600,
        "withdrawing_fen": 0,
        "withdrawn_fen": 0,
    }
    assert balance("shop1", "a")["available_fen"] == 300
    view = shop.get(shop.path("/orders/o1")).body
    assert (view["refunded_fen"], view["flags"]) == (4000, [])
    assert_audit_clean()
