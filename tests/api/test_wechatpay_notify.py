"""POST /wechatpay/notify/{shop_id}: verification, exactly-once facts, probes, faults (SPEC §7)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fenxiao import bootstrap, clock
from fenxiao.adapters.notifications import NotificationModel
from fenxiao.adapters.orders import OrderItem, PaymentModel
from fenxiao.adapters.shops import PlatformKeyMap, ShopModel
from fenxiao.adapters.wechatpay_crypto import load_platform_key
from tests.support import wechatpay as wx
from tests.support.app import Api, ShopCaller
from tests.support.orders import order_body

pytestmark = pytest.mark.api

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


@pytest.fixture
def paid_shop(api: Api, shop: ShopCaller) -> ShopCaller:
    clock.set_now(T0 - timedelta(hours=1))  # configured and bound before the payments at T0
    assert shop.put(shop.path("/settings/wechatpay"), wx.wechatpay_settings()).status == 200
    settings = {
        "rates": {"level1_bp": 1000, "level2_bp": 500, "self_bp": 0},
        "settlement": {"basis": "payment", "freeze_days": 7},
    }
    assert shop.put(shop.path("/settings/distribution"), settings).status == 200
    assert shop.post(shop.path("/members/b/inviter"), {"inviter_id": "a"}).status == 201
    assert shop.post(shop.path("/members/c/inviter"), {"inviter_id": "b"}).status == 201
    clock.set_now(T0 + timedelta(minutes=1))
    return shop


def now_ts() -> int:
    return int(clock.unix_now())


def stored_items(shop_id: str, order_id: str) -> list[str]:
    return sorted(i.sk for i in OrderItem.query(f"{shop_id}#{order_id}"))


def test_signed_payment_notification_pays_commissions(api: Api, paid_shop: ShopCaller, aws_env: dict) -> None:
    assert paid_shop.put(paid_shop.path("/orders/o1"), order_body("c", [("l1", "p1", 10000)])).status == 201
    headers, body = wx.notification(
        "TRANSACTION.SUCCESS", wx.transaction("o1", 10000, T0), timestamp=now_ts()
    )
    status, answer = wx.post(api, "shop1", headers, body)
    assert (status, answer) == (204, None)
    assert wx.drain(aws_env) >= 1
    view = paid_shop.get(paid_shop.path("/orders/o1")).body
    assert view["status"] == "paid"
    assert view["paid_at"] == "2026-11-20T10:00:00+08:00"
    assert {(c["tier"], c["member_id"], c["amount_fen"]) for c in view["commissions"]} == {
        ("level1", "b", 1000),
        ("level2", "a", 500),
    }
    # the same notification again: 204, nothing new
    assert wx.post(api, "shop1", headers, body)[0] == 204
    wx.drain(aws_env)
    assert paid_shop.get(paid_shop.path("/members/b")).body["balance"]["frozen_fen"] == 1000


def test_certificate_mode_and_lower_case_headers_verify(
    api: Api, paid_shop: ShopCaller, aws_env: dict
) -> None:
    paid_shop.put(paid_shop.path("/orders/o2"), order_body("c", [("l1", "p1", 5000)]))
    headers, body = wx.notification(
        "TRANSACTION.SUCCESS", wx.transaction("o2", 5000, T0), timestamp=now_ts(), certificate_mode=True
    )
    lowered = {k.lower(): v for k, v in headers.items()}
    assert wx.post(api, "shop1", lowered, body)[0] == 204
    wx.drain(aws_env)
    assert paid_shop.get(paid_shop.path("/orders/o2")).body["status"] == "paid"


def test_stored_keys_carry_the_key_each_entry_was_read_as(api: Api, paid_shop: ShopCaller) -> None:
    stored = {k.serial: k for k in ShopModel.get("shop1").wx_platform_keys or []}
    certificate = stored[wx.keys().certificate_serial]
    # the certificate's serial and public key, taken out of it when stored
    assert certificate.key_serial == wx.keys().certificate_serial
    assert "BEGIN PUBLIC KEY" in (certificate.key_pem or "")
    assert load_platform_key("", certificate.pem).public_key.public_numbers() == (
        load_platform_key(certificate.key_serial, certificate.key_pem or "").public_key.public_numbers()
    )
    public = stored[wx.keys().platform_public_key_id]
    assert public.key_serial == wx.keys().platform_public_key_id
    assert public.key_pem == wx.keys().platform_public_key_pem()


def test_certificate_mode_verifies_with_the_key_taken_out_of_the_stored_certificate(
    api: Api, paid_shop: ShopCaller, aws_env: dict
) -> None:
    keys = ShopModel.get("shop1").wx_platform_keys or []
    for entry in keys:  # the certificate as configured no longer parses: what is read is the stored key
        entry.pem = entry.pem.replace("-----BEGIN CERTIFICATE-----\n", "-----BEGIN CERTIFICATE-----\nAAAA")
    ShopModel("shop1").update(actions=[ShopModel.wx_platform_keys.set(keys)])
    bootstrap.reset()
    paid_shop.put(paid_shop.path("/orders/o2"), order_body("c", [("l1", "p1", 5000)]))
    headers, body = wx.notification(
        "TRANSACTION.SUCCESS", wx.transaction("o2", 5000, T0), timestamp=now_ts(), certificate_mode=True
    )
    assert wx.post(api, "shop1", headers, body)[0] == 204


def test_keys_stored_before_their_read_form_was_kept_still_verify(
    api: Api, paid_shop: ShopCaller, aws_env: dict
) -> None:
    k = wx.keys()
    stored_then = [  # as PUT settings/wechatpay stored them before: serial and PEM as configured
        PlatformKeyMap(serial=k.platform_public_key_id, pem=k.platform_public_key_pem()),
        PlatformKeyMap(serial=k.certificate_serial, pem=k.platform_certificate_pem()),
    ]
    ShopModel("shop1").update(actions=[ShopModel.wx_platform_keys.set(stored_then)])
    bootstrap.reset()
    for order_id, certificate_mode in (("o2", True), ("o3", False)):
        paid_shop.put(paid_shop.path(f"/orders/{order_id}"), order_body("c", [("l1", "p1", 5000)]))
        headers, body = wx.notification(
            "TRANSACTION.SUCCESS",
            wx.transaction(order_id, 5000, T0),
            timestamp=now_ts(),
            certificate_mode=certificate_mode,
        )
        assert wx.post(api, "shop1", headers, body)[0] == 204
    wx.drain(aws_env)
    assert paid_shop.get(paid_shop.path("/orders/o2")).body["status"] == "paid"
    assert paid_shop.get(paid_shop.path("/orders/o3")).body["status"] == "paid"


def test_refund_notification_claws_back(api: Api, paid_shop: ShopCaller, aws_env: dict) -> None:
    paid_shop.put(paid_shop.path("/orders/o3"), order_body("c", [("l1", "p1", 10000)]))
    # the refund is reported before the payment: it is held, then applied
    headers, body = wx.notification(
        "REFUND.SUCCESS", wx.refund("o3", "r1", 4000, 10000, T0 + timedelta(hours=1)), timestamp=now_ts()
    )
    assert wx.post(api, "shop1", headers, body)[0] == 204
    headers, body = wx.notification(
        "TRANSACTION.SUCCESS", wx.transaction("o3", 10000, T0), timestamp=now_ts()
    )
    assert wx.post(api, "shop1", headers, body)[0] == 204
    wx.drain(aws_env)
    view = paid_shop.get(paid_shop.path("/orders/o3")).body
    assert view["refunded_fen"] == 4000
    assert {c["tier"]: c["amount_fen"] for c in view["commissions"]} == {"level1": 600, "level2": 300}


def _corruptions(headers: dict[str, str], body: bytes) -> list[tuple[str, dict[str, str], bytes]]:
    out = []
    sig = headers["Wechatpay-Signature"]
    flipped = base64.b64encode(bytes([base64.b64decode(sig)[0] ^ 1]) + base64.b64decode(sig)[1:]).decode()
    out.append(("signature", {**headers, "Wechatpay-Signature": flipped}, body))
    out.append(("probe", {**headers, "Wechatpay-Signature": "WECHATPAY/SIGNTEST/" + sig[:20]}, body))
    out.append(("nonce", {**headers, "Wechatpay-Nonce": headers["Wechatpay-Nonce"] + "x"}, body))
    out.append(
        ("timestamp", {**headers, "Wechatpay-Timestamp": str(int(headers["Wechatpay-Timestamp"]) + 1)}, body)
    )
    out.append(
        ("serial", {**headers, "Wechatpay-Serial": "PUB_KEY_ID_0000000000000000000000000000000000"}, body)
    )
    out.append(("missing", {k: v for k, v in headers.items() if k != "Wechatpay-Signature"}, body))
    out.append(("body", headers, body.replace(b'"event_type"', b'"event_type" ', 1)))
    return out


def test_probes_and_corruptions_are_401_and_store_nothing(
    api: Api, paid_shop: ShopCaller, aws_env: dict
) -> None:
    from fenxiao.adapters.wechatpay_crypto import encrypt_resource, notification_headers

    paid_shop.put(paid_shop.path("/orders/o4"), order_body("c", [("l1", "p1", 10000)]))
    statuses = []
    for i in range(100):
        headers, body = wx.notification(
            "TRANSACTION.SUCCESS",
            wx.transaction("o4", 10000, T0, transaction_id=f"tx{i}"),
            timestamp=now_ts(),
        )
        kind = i % 10
        cases = _corruptions(headers, body)
        if kind < len(cases):
            _, h, b = cases[kind]
        else:
            # validly signed, but the resource is wrong: ciphertext / associated_data / stale timestamp
            envelope = json.loads(body)
            resource = envelope["resource"]
            if kind == len(cases):
                raw = bytearray(base64.b64decode(resource["ciphertext"]))
                raw[0] ^= 1
                resource["ciphertext"] = base64.b64encode(bytes(raw)).decode()
            elif kind == len(cases) + 1:
                resource["associated_data"] = "refund"
            else:
                envelope["resource"] = encrypt_resource(b"{}", "0" * 32, "abcdefabcdef", "transaction")
            b = json.dumps(envelope).encode()
            ts = now_ts() - 301 if kind == 9 else now_ts()
            h = notification_headers(
                wx.keys().platform_private_key, wx.keys().platform_public_key_id, b, ts, "n" * 32
            )
        status, answer = wx.post(api, "shop1", h, b)
        statuses.append(status)
        assert answer["code"] == "FAIL"
    assert statuses == [401] * 100
    assert stored_items("shop1", "o4") == ["ORDER"]
    assert wx.drain(aws_env) == 0  # nothing sent: the registration found no payment to wait for it
    assert list(NotificationModel.query("shop1")) == []


def test_unknown_shop_is_401(api: Api, paid_shop: ShopCaller) -> None:
    headers, body = wx.notification("TRANSACTION.SUCCESS", wx.transaction("o5", 100, T0), timestamp=now_ts())
    assert wx.post(api, "nobody", headers, body)[0] == 401


def test_merchant_mismatch_and_other_events_are_recorded_without_effect(
    api: Api, paid_shop: ShopCaller, aws_env: dict
) -> None:
    paid_shop.put(paid_shop.path("/orders/o6"), order_body("c", [("l1", "p1", 10000)]))
    headers, body = wx.notification(
        "TRANSACTION.SUCCESS", wx.transaction("o6", 10000, T0, mchid="1999999999"), timestamp=now_ts()
    )
    assert wx.post(api, "shop1", headers, body)[0] == 204
    headers, body = wx.notification(
        "REFUND.ABNORMAL", wx.refund("o6", "r1", 100, 10000, T0, refund_status="ABNORMAL"), timestamp=now_ts()
    )
    assert wx.post(api, "shop1", headers, body)[0] == 204
    records = {n.event_type: n.outcome for n in NotificationModel.query("shop1")}
    assert records == {"TRANSACTION.SUCCESS": "not_applied:merchant_mismatch", "REFUND.ABNORMAL": "recorded"}
    assert stored_items("shop1", "o6") == ["ORDER"]
    wx.drain(aws_env)
    assert paid_shop.get(paid_shop.path("/orders/o6")).body["status"] == "registered"


class InjectedFailure:
    """Answers matching calls of one botocore client with an AWS error, as the service would after botocore's
    own retries were spent: a ``before-call`` hook that returns the error response (the request never leaves),
    so the product sees a real ``ClientError`` raised by botocore, wrapped as PynamoDB wraps it."""

    def __init__(self, client: Any, event: str, code: str, status: int, times: int, when: Any = None) -> None:
        self.client, self.event, self.code, self.status = client, event, code, status
        self.left, self.when, self.hits = times, when or (lambda params: True), 0

    def __call__(self, params: dict[str, Any], **_: Any) -> Any:
        from botocore.awsrequest import AWSResponse

        if self.left <= 0 or not self.when(params):
            return None
        self.left -= 1
        self.hits += 1
        error = {
            "Error": {"Code": self.code, "Message": "injected"},
            "ResponseMetadata": {"HTTPStatusCode": self.status},
        }
        return AWSResponse("https://injected.invalid", self.status, {}, None), error

    def __enter__(self) -> InjectedFailure:
        self.client.meta.events.register_first(self.event, self, unique_id=f"inject-{id(self)}")
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.meta.events.unregister(self.event, unique_id=f"inject-{id(self)}")


def _puts_payment(params: dict[str, Any]) -> bool:
    return json.loads(params["body"])["Item"]["sk"]["S"].startswith("PAY#")


def _payments(shop_id: str, order_id: str) -> list[str]:
    return [sk for sk in stored_items(shop_id, order_id) if sk.startswith("PAY#")]


def test_storage_failure_answers_500_and_the_retry_applies_once(
    api: Api, paid_shop: ShopCaller, aws_env: dict
) -> None:
    paid_shop.put(paid_shop.path("/orders/o7"), order_body("c", [("l1", "p1", 10000)]))
    wx.drain(aws_env)
    headers, body = wx.notification(
        "TRANSACTION.SUCCESS", wx.transaction("o7", 10000, T0), timestamp=now_ts()
    )
    dynamodb = PaymentModel._get_connection().connection.client
    throttled = InjectedFailure(
        dynamodb,
        "before-call.dynamodb.PutItem",
        "ProvisionedThroughputExceededException",
        400,
        times=1,
        when=_puts_payment,
    )
    with throttled:
        status, answer = wx.post(api, "shop1", headers, body)
        assert throttled.hits == 1
        assert status == 500
        assert answer["code"] == "FAIL"
        assert _payments("shop1", "o7") == []
        assert wx.drain(aws_env) == 0  # nothing was sent either
        assert wx.post(api, "shop1", headers, body)[0] == 204  # WeChat Pay's retry
    assert wx.post(api, "shop1", headers, body)[0] == 204
    assert len(_payments("shop1", "o7")) == 1
    wx.drain(aws_env)
    view = paid_shop.get(paid_shop.path("/orders/o7")).body
    assert view["status"] == "paid"
    assert paid_shop.get(paid_shop.path("/members/b")).body["balance"]["frozen_fen"] == 1000


def test_a_send_failure_after_the_write_answers_500_and_the_retry_applies_once(
    api: Api, paid_shop: ShopCaller, aws_env: dict
) -> None:
    from fenxiao.bootstrap import container
    from tests.support.money import assert_audit_clean, entries

    paid_shop.put(paid_shop.path("/orders/o9"), order_body("c", [("l1", "p1", 10000)]))
    wx.drain(aws_env)
    headers, body = wx.notification(
        "TRANSACTION.SUCCESS", wx.transaction("o9", 10000, T0), timestamp=now_ts()
    )
    with InjectedFailure(
        container().sqs, "before-call.sqs.SendMessage", "ServiceUnavailable", 503, times=1
    ) as unavailable:
        status, answer = wx.post(api, "shop1", headers, body)
    assert unavailable.hits == 1
    assert (status, answer["code"]) == (500, "FAIL")
    assert len(_payments("shop1", "o9")) == 1  # the fact was written; only the nudge is missing
    assert wx.drain(aws_env) == 0
    assert paid_shop.get(paid_shop.path("/orders/o9")).body["status"] == "registered"

    assert wx.post(api, "shop1", headers, body)[0] == 204  # the retried delivery nudges again
    assert len(_payments("shop1", "o9")) == 1
    assert wx.drain(aws_env) == 1
    assert wx.post(api, "shop1", headers, body)[0] == 204  # and once more: nothing changes
    wx.drain(aws_env)
    assert paid_shop.get(paid_shop.path("/orders/o9")).body["status"] == "paid"
    assert paid_shop.get(paid_shop.path("/members/b")).body["balance"]["frozen_fen"] == 1000
    assert [e.entry_key for e in entries("shop1", "b", "COMM#")] == ["COMM#o9#level1#b#FROZEN"]
    assert_audit_clean()


def test_operator_sees_notifications_without_effect(api: Api, paid_shop: ShopCaller) -> None:
    headers, body = wx.notification(
        "TRANSACTION.SUCCESS", wx.transaction("o8", 100, T0, appid="wx0000000000"), timestamp=now_ts()
    )
    assert wx.post(api, "shop1", headers, body)[0] == 204
    answer = api.operator("GET", "/admin/notifications?shop_id=shop1")
    assert answer.status == 200
    [entry] = answer.body["entries"]
    assert entry["event_type"] == "TRANSACTION.SUCCESS"
    assert entry["outcome"] == "not_applied:merchant_mismatch"
    assert entry["summary"]["out_trade_no"] == "o8"
    assert api.operator("GET", "/admin/notifications?shop_id=shop1", token="wrong").status == 401
    assert api.operator("GET", "/admin/notifications").status == 400
