"""Verified notifications that have no effect are recorded once, with their ids, for the operator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fenxiao import clock
from fenxiao.adapters.notifications import NotificationModel
from fenxiao.adapters.orders import OrderItem
from fenxiao.timefmt import from_key
from tests.support import wechatpay as wx
from tests.support.app import Api, ShopCaller
from tests.support.orders import order_body

pytestmark = pytest.mark.api

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


@pytest.fixture
def wx_shop(api: Api, shop: ShopCaller, aws_env: dict[str, str]) -> ShopCaller:
    clock.set_now(T0 - timedelta(hours=1))
    assert shop.put(shop.path("/settings/wechatpay"), wx.wechatpay_settings()).status == 200
    assert shop.put(shop.path("/orders/o1"), order_body("c", [("l1", "p1", 10000)])).status == 201
    assert wx.drain(aws_env) == 0  # an order registered before its payment waits for the payment's nudge
    clock.set_now(T0 + timedelta(minutes=1))
    return shop


def now_ts() -> int:
    return int(clock.unix_now())


def records(shop_id: str = "shop1") -> dict[str, NotificationModel]:
    return {n.sk.removeprefix("NOTIF#"): n for n in NotificationModel.query(shop_id, consistent_read=True)}


def order_items(order_id: str) -> list[str]:
    return sorted(i.sk for i in OrderItem.query(f"shop1#{order_id}", consistent_read=True))


def test_a_payment_without_an_amount_is_recorded_malformed_with_its_ids(
    api: Api, wx_shop: ShopCaller, aws_env: dict[str, str]
) -> None:
    resource = wx.transaction("o1", 10000, T0, transaction_id="4200000000000000000001")
    del resource["amount"]
    headers, body = wx.notification(
        "TRANSACTION.SUCCESS", resource, timestamp=now_ts(), notification_id="n-no-amount"
    )
    assert wx.post(api, "shop1", headers, body) == (204, None)
    record = records()["n-no-amount"]
    assert (record.event_type, record.outcome) == ("TRANSACTION.SUCCESS", "not_applied:malformed")
    assert record.summary == {
        "transaction_id": "4200000000000000000001",
        "out_trade_no": "o1",
        "reason": "amount.total is missing or not a non-negative integer",
    }
    assert order_items("o1") == ["ORDER"]  # no payment fact
    assert wx.drain(aws_env) == 0  # and no nudge
    listed = api.operator("GET", "/admin/notifications?shop_id=shop1").body["entries"]
    assert [(e["id"], e["outcome"], e["summary"]["out_trade_no"]) for e in listed] == [
        ("n-no-amount", "not_applied:malformed", "o1")
    ]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"success_time": "yesterday"}, "success_time is not an RFC 3339 time"),
        (
            {"amount": {"refund": -1, "total": 10000}},
            "amount.refund is missing or not a non-negative integer",
        ),
        ({"amount": "4000"}, "amount.refund is missing or not a non-negative integer"),
    ],
)
def test_an_unusable_refund_is_recorded_malformed_and_changes_nothing(
    api: Api, wx_shop: ShopCaller, aws_env: dict[str, str], change: dict, reason: str
) -> None:
    resource = {**wx.refund("o1", "r1", 4000, 10000, T0), **change}
    headers, body = wx.notification("REFUND.SUCCESS", resource, timestamp=now_ts(), notification_id="n-bad")
    assert wx.post(api, "shop1", headers, body) == (204, None)
    record = records()["n-bad"]
    assert record.outcome == "not_applied:malformed"
    assert record.summary == {
        "refund_id": resource["refund_id"],
        "out_refund_no": "r1",
        "out_trade_no": "o1",
        "reason": reason,
    }
    assert order_items("o1") == ["ORDER"]
    assert wx.drain(aws_env) == 0


def test_a_redelivered_notification_keeps_its_first_record(
    api: Api, wx_shop: ShopCaller, aws_env: dict[str, str]
) -> None:
    first_at = clock.now()
    resource = wx.transaction("o1", 10000, T0, mchid="1999999999")
    headers, body = wx.notification(
        "TRANSACTION.SUCCESS", resource, timestamp=now_ts(), notification_id="n-dup"
    )
    assert wx.post(api, "shop1", headers, body)[0] == 204
    clock.set_now(first_at + timedelta(minutes=2))  # WeChat Pay retries the same notification later
    headers, body = wx.notification(
        "TRANSACTION.SUCCESS", resource, timestamp=now_ts(), notification_id="n-dup"
    )
    assert wx.post(api, "shop1", headers, body)[0] == 204
    stored = records()
    assert list(stored) == ["n-dup"]
    assert stored["n-dup"].outcome == "not_applied:merchant_mismatch"
    received = from_key(stored["n-dup"].received_at)  # the clock runs on from set_now
    assert timedelta(0) <= received - first_at < timedelta(minutes=1)  # not overwritten by the redelivery


def test_the_operator_list_is_in_descending_id_order_each_entry_with_its_received_at(
    api: Api, wx_shop: ShopCaller
) -> None:
    # Ids that are not in time order: the listing follows the ids (the docstring says so), not the time.
    for minute, nid in enumerate(["b-second", "c-first", "a-third"]):
        clock.set_now(T0 + timedelta(minutes=10 + minute))
        headers, body = wx.notification(
            "REFUND.ABNORMAL",
            wx.refund("o1", f"r{minute}", 100, 10000, T0, refund_status="ABNORMAL"),
            timestamp=now_ts(),
            notification_id=nid,
        )
        assert wx.post(api, "shop1", headers, body)[0] == 204
    entries = api.operator("GET", "/admin/notifications?shop_id=shop1").body["entries"]
    assert [(e["id"], e["received_at"][:19]) for e in entries] == [
        ("c-first", "2026-11-20T10:11:00"),
        ("b-second", "2026-11-20T10:10:00"),
        ("a-third", "2026-11-20T10:12:00"),
    ]
