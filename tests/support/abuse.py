"""The abuse suite's tools: a fingerprint of everything the stack stores, a shop with some history to fuzz
against, and the SPEC's error shape."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from fenxiao import clock
from tests.support import wechatpay as wx
from tests.support.app import Answer, Api, ShopCaller
from tests.support.wechatpay import OPENID

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


def _plain(value: Any) -> Any:
    """A scanned DynamoDB attribute as JSON (binary attributes as base64, sets sorted)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode()
    if hasattr(value, "value") and isinstance(value.value, (bytes, bytearray)):  # boto3 Binary
        return base64.b64encode(bytes(value.value)).decode()
    if isinstance(value, (set, frozenset)):
        return sorted(_plain(v) for v in value)
    return value


class Fingerprint:
    """Item count and hash of every table the stack stores in, plus the messages on its queues (waiting or
    in flight). Tests only: it reads every item (the product never scans).

    ``take`` reads moto's in-process state directly: a boto3 scan costs some 40 ms a call through moto's
    HTTP emulation, and the fuzz takes two fingerprints per request. ``scan_counts`` is the same count
    through boto3, so a test can check that both read the same tables."""

    def __init__(self, env: dict[str, str]) -> None:
        self.tables = sorted(v for k, v in env.items() if k.endswith("_TABLE"))
        self.queues = sorted(v.rsplit("/", 1)[-1] for k, v in env.items() if k.endswith("_QUEUE_URL"))

    def take(self) -> dict[str, Any]:
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.dynamodb.models import dynamodb_backends
        from moto.sqs.models import sqs_backends

        dynamodb = dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
        out: dict[str, Any] = {}
        for name in self.tables:
            items = sorted(
                json.dumps(_plain(i.to_json()), sort_keys=True, default=str)
                for i in dynamodb.tables[name].all_items()
            )
            out[name] = (len(items), hashlib.sha256("\n".join(items).encode()).hexdigest()[:16])
        sqs = sqs_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
        for name in self.queues:
            out[name] = len(sqs.queues[name]._messages)
        return out

    def scan_counts(self) -> dict[str, int]:
        client = boto3.client("dynamodb", region_name="us-east-1")
        counts = {}
        for name in self.tables:
            pages = client.get_paginator("scan").paginate(TableName=name, ConsistentRead=True, Select="COUNT")
            counts[name] = sum(page["Count"] for page in pages)
        return counts

    @staticmethod
    def changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
        keys = sorted(set(before) | set(after))
        return {k: (before.get(k), after.get(k)) for k in keys if before.get(k) != after.get(k)}


def assert_spec_error(answer: Answer, context: Any = "") -> dict[str, Any]:
    """A 4xx in SPEC §7's shape: {"error": {"code", "message", "field"?}} and nothing else."""
    body = answer.body
    assert isinstance(body, dict) and set(body) == {"error"}, (answer.status, body, context)
    error = body["error"]
    assert isinstance(error, dict) and {"code", "message"} <= set(error) <= {"code", "message", "field"}, (
        body,
        context,
    )
    assert isinstance(error["code"], str) and error["code"], (body, context)
    assert isinstance(error["message"], str) and error["message"], (body, context)
    assert isinstance(error.get("field", ""), str), (body, context)
    return error


# ---------------------------------------------------------------- a shop with some history


@dataclass
class World:
    """shop1 with WeChat Pay configured, a chain m-a <- m-b <- m-c, order o-1 paid and settled (m-b, m-a and
    m-c hold available commission), a withdrawal w-1 waiting for review; and a second shop, shop2."""

    api: Api
    shop: ShopCaller
    other: ShopCaller
    env: dict[str, str]


MEMBERS = ("m-a", "m-b", "m-c", "m-new")
ORDERS = ("o-1", "o-2", "o-new")
PRODUCTS = ("p-1", "p-2")
REFUNDS = ("r-1", "r-2")
WITHDRAWALS = ("w-1", "w-2", "w-new")
ORDER_O1 = {
    "buyer_id": "m-c",
    "lines": [
        {"line_id": "l1", "product_id": "p-1", "quantity": 1, "paid_fen": 100_000},
        {"line_id": "l2", "product_id": "p-2", "quantity": 2, "paid_fen": 50_000},
    ],
    "shipping_fen": 1_000,
    "total_fen": 151_000,
}


def _ok(answer: Answer, *statuses: int) -> Answer:
    assert answer.status in (statuses or (200,)), (answer.status, answer.body)
    return answer


def build_world(api: Api, env: dict[str, str]) -> World:
    clock.set_now(T0)
    shop = api.create_shop("shop1")
    other = api.create_shop("shop2")
    _ok(shop.put(shop.path("/settings/wechatpay"), wx.wechatpay_settings()))
    distribution = {
        "rates": {"level1_bp": 1000, "level2_bp": 500, "self_bp": 200},
        "settlement": {
            "basis": "payment",
            "freeze_days": 0,
            "withdraw_min_fen": 100,
            "review_above_fen": 5_000,
        },
    }
    _ok(shop.put(shop.path("/settings/distribution"), distribution))
    _ok(shop.post(shop.path("/members/m-b/inviter"), {"inviter_id": "m-a"}), 201)
    _ok(shop.post(shop.path("/members/m-c/inviter"), {"inviter_id": "m-b"}), 201)
    _ok(shop.put(shop.path("/products/p-2/rates"), {"level1_bp": 800, "level2_bp": 300, "self_bp": 100}))
    _ok(shop.put(shop.path("/orders/o-1"), ORDER_O1), 201)
    _ok(shop.put(shop.path("/orders/o-2"), {**ORDER_O1, "buyer_id": "m-b"}), 201)
    headers, body = wx.notification(
        "TRANSACTION.SUCCESS",
        wx.transaction(
            "o-1", ORDER_O1["total_fen"], clock.now().replace(microsecond=0) + timedelta(seconds=1)
        ),
        timestamp=int(clock.unix_now()),
    )
    assert wx.post(api, "shop1", headers, body)[0] == 204
    wx.drain(env)
    clock.set_now(T0 + timedelta(minutes=1))
    _ok(api.operator("POST", "/admin/jobs/settlement"))
    available = shop.get(shop.path("/members/m-b")).body["balance"]["available_fen"]
    assert available > 5_000, available
    withdrawal = {"withdrawal_id": "w-1", "amount_fen": 6_000, "openid": OPENID}
    _ok(shop.post(shop.path("/members/m-b/withdrawals"), withdrawal), 202)
    return World(api, shop, other, env)
