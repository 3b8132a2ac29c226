"""Figures for the payment path: the notify accept path and one paid order's commissions."""

from __future__ import annotations

import json
import statistics
import time
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from fenxiao import clock
from tests.bench.counting import measuring
from tests.support import wechatpay as wx
from tests.support.app import Api, ShopCaller
from tests.support.orders import order_body

pytestmark = pytest.mark.bench

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
N = 60


def _setup(shop: ShopCaller) -> None:
    clock.set_now(T0 - timedelta(hours=1))
    assert shop.put(shop.path("/settings/wechatpay"), wx.wechatpay_settings()).status == 200
    rates = {
        "rates": {"level1_bp": 1000, "level2_bp": 500, "self_bp": 200},
        "settlement": {"basis": "payment", "freeze_days": 7},
    }
    assert shop.put(shop.path("/settings/distribution"), rates).status == 200
    assert shop.post(shop.path("/members/b/inviter"), {"inviter_id": "a"}).status == 201
    assert shop.post(shop.path("/members/c/inviter"), {"inviter_id": "b"}).status == 201
    clock.set_now(T0 + timedelta(minutes=1))


def notify_figures(api: Api, shop: ShopCaller, aws_env: dict) -> dict:
    """Round trips and CPU of the notify accept path against the floor, measured in one run."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from fenxiao.adapters.wechatpay_crypto import decrypt_resource, verify_notification

    _setup(shop)
    notes = [
        wx.notification(
            "TRANSACTION.SUCCESS",
            wx.transaction(f"b{i}", 1000, T0, transaction_id=f"t{i}"),
            timestamp=int(clock.unix_now()),
        )
        for i in range(N + 1)
    ]
    wx.post(api, "shop1", *notes[0])  # warm: shop material cached as in a warm Lambda container
    with measuring() as one:
        status, _ = wx.post(api, "shop1", *notes[1])
    assert status == 204

    from tests.support.app import app_module
    from tests.support.wechatpay import _Context

    handler = app_module().app

    def proxy_event(headers: dict[str, str], body: bytes) -> dict:
        # What API Gateway (REST, proxy integration) hands the Lambda function.
        return {
            "resource": "/wechatpay/notify/{shop_id}",
            "path": "/wechatpay/notify/shop1",
            "httpMethod": "POST",
            "headers": headers,
            "multiValueHeaders": {k: [v] for k, v in headers.items()},
            "queryStringParameters": None,
            "multiValueQueryStringParameters": None,
            "pathParameters": {"shop_id": "shop1"},
            "stageVariables": None,
            "requestContext": {
                "resourcePath": "/wechatpay/notify/{shop_id}",
                "httpMethod": "POST",
                "path": "/Prod/wechatpay/notify/shop1",
                "stage": "Prod",
                "requestId": "bench",
            },
            "body": body.decode(),
            "isBase64Encoded": False,
        }

    def handler_cpu() -> list[float]:
        samples = []
        events = [proxy_event(h, b) for h, b in notes[2:]]
        for event in events:
            start = time.process_time()
            answer = handler(event, _Context())
            samples.append(time.process_time() - start)
            assert answer["statusCode"] == 204, answer
        return samples

    # The floor: the same verify + decrypt and the same conditional put and send with bare boto3 clients.
    keys = wx.keys().platform_keys()
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    sqs = boto3.client("sqs", region_name="us-east-1")
    table = aws_env["FENXIAO_ORDERS_TABLE"]
    queue = aws_env["FENXIAO_ORDER_EVENTS_QUEUE_URL"]

    def floor_cpu() -> list[float]:
        samples = []
        for i, (headers, body) in enumerate(notes[2:]):
            start = time.process_time()
            verify_notification({k.lower(): v for k, v in headers.items()}, body, keys, clock.unix_now())
            resource = json.loads(decrypt_resource(json.loads(body)["resource"], wx.keys().apiv3_key))
            ddb.put_item(
                TableName=table,
                Item={
                    "order_key": {"S": f"floor#{i}"},
                    "sk": {"S": f"PAY#{resource['transaction_id']}"},
                    "total_fen": {"N": "1000"},
                },
                ConditionExpression="attribute_not_exists(sk)",
            )
            sqs.send_message(QueueUrl=queue, MessageBody=json.dumps({"shop_id": "floor", "order_id": str(i)}))
            samples.append(time.process_time() - start)
        return samples

    floor = statistics.median(floor_cpu())
    ours = statistics.median(handler_cpu())
    crypto_start = time.process_time()
    for headers, body in notes[2:12]:
        verify_notification({k.lower(): v for k, v in headers.items()}, body, keys, clock.unix_now())
        AESGCM(wx.keys().apiv3_key.encode()).decrypt(
            b"0" * 12, AESGCM(wx.keys().apiv3_key.encode()).encrypt(b"0" * 12, b"x" * 400, b"t"), b"t"
        )
    crypto = (time.process_time() - crypto_start) / 10
    assert one.of("dynamodb") >= 1 and one.of("sqs") == 1
    return {
        "round trips (warm container)": one.summary(),
        "goal": "1 conditional write + 1 send",
        f"CPU per notification, ours (median of {N}, ms)": round(ours * 1000, 3),
        "CPU floor: verify + decrypt + bare put + send (ms)": round(floor * 1000, 3),
        "ratio ours / floor (goal <= 1.5)": round(ours / floor, 2),
        "RSA verify + AES-GCM alone (ms)": round(crypto * 1000, 3),
    }


def test_notify_accept_path(api: Api, shop: ShopCaller, aws_env: dict, report) -> None:
    figures = notify_figures(api, shop, aws_env)
    figures["note"] = "moto runs in this process: its own request handling is inside both CPU figures"
    report("notify accept path (moto in-process)", figures)


def _paid_order_measure(
    api: Api, shop: ShopCaller, aws_env: dict, extra_members: int
) -> tuple[str, float, int]:
    from fenxiao.adapters.members import MemberModel
    from fenxiao.bootstrap import container
    from fenxiao.service.reconcile import reconcile_order

    _setup(shop)
    if extra_members:
        with MemberModel.batch_write() as batch:
            for i in range(extra_members):
                batch.save(
                    MemberModel(
                        f"shop1#x{i}", MemberModel.SK, shop_id="shop1", member_id=f"x{i}", frozen_fen=0
                    )
                )
    assert (
        shop.put(
            shop.path("/orders/o1"), order_body("c", [("l1", "p1", 10000), ("l2", "p2", 3333)], 500)
        ).status
        == 201
    )
    headers, body = wx.notification(
        "TRANSACTION.SUCCESS", wx.transaction("o1", 13833, T0), timestamp=int(clock.unix_now())
    )
    assert wx.post(api, "shop1", headers, body)[0] == 204
    with measuring() as m:
        assert reconcile_order(container(), "shop1", "o1", clock.now())
    view = shop.get(shop.path("/orders/o1")).body
    assert len(view["commissions"]) == 3
    return m.summary(), m.write_units, m.round_trips


@pytest.mark.parametrize("extra_members", [10, 10_000])
def test_paid_order_with_both_parents(
    api: Api, shop: ShopCaller, aws_env: dict, report, extra_members: int
) -> None:
    summary, wcu, trips = _paid_order_measure(api, shop, aws_env, extra_members)
    report(
        f"paid order, 2 lines, L1+L2+self, {extra_members} members in the shop",
        {
            "from nudge to stored commissions": summary,
            "round trips": trips,
            "write units": wcu,
            "floor": "about 2 round trips / 7 WCU",
        },
    )
