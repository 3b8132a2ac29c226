"""WeChat Pay as tests see it: key material (generated once per process), signed and encrypted
notifications exactly as WeChat Pay sends them, and draining the order queue into the real consumer."""

from __future__ import annotations

import json
import secrets
import uuid
from datetime import datetime
from functools import lru_cache
from typing import Any

from fenxiao_local.pollers import lambda_record
from fenxiao_local.wechatpay_keys import StandinKeys

QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:queue"  # the ARN drain() gives every queue's records

MCHID = "1900000109"
APPID = "wxd678efh567hg6787"
OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"


@lru_cache(maxsize=1)
def keys() -> StandinKeys:
    return StandinKeys.generate()


def wechatpay_settings() -> dict[str, Any]:
    k = keys()
    return {
        "mchid": MCHID,
        "appid": APPID,
        "apiv3_key": k.apiv3_key,
        "platform_public_keys": [
            {"serial": k.platform_public_key_id, "pem": k.platform_public_key_pem()},
            {"serial": k.certificate_serial, "pem": k.platform_certificate_pem()},
        ],
        "merchant_serial": k.merchant_serial,
        "merchant_private_key_pem": k.merchant_private_key_pem(),
    }


def transaction(
    order_id: str, total_fen: int, success_time: datetime, transaction_id: str | None = None, **over: Any
) -> dict[str, Any]:
    resource = {
        "mchid": MCHID,
        "appid": APPID,
        "out_trade_no": order_id,
        "transaction_id": transaction_id or f"4200{abs(hash(order_id)) % 10**16:016d}",
        "trade_type": "JSAPI",
        "trade_state": "SUCCESS",
        "trade_state_desc": "支付成功",
        "bank_type": "CMC",
        "success_time": success_time.isoformat(timespec="seconds"),
        "payer": {"openid": OPENID},
        "amount": {"total": total_fen, "payer_total": total_fen, "currency": "CNY", "payer_currency": "CNY"},
    }
    resource.update(over)
    return resource


def refund(
    order_id: str, out_refund_no: str, amount_fen: int, total_fen: int, success_time: datetime, **over: Any
) -> dict[str, Any]:
    resource = {
        "mchid": MCHID,
        "out_trade_no": order_id,
        "transaction_id": f"4200{abs(hash(order_id)) % 10**16:016d}",
        "out_refund_no": out_refund_no,
        "refund_id": f"5030{abs(hash(out_refund_no)) % 10**16:016d}",
        "refund_status": "SUCCESS",
        "success_time": success_time.isoformat(timespec="seconds"),
        "user_received_account": "支付用户零钱",
        "amount": {
            "total": total_fen,
            "refund": amount_fen,
            "payer_total": total_fen,
            "payer_refund": amount_fen,
        },
    }
    resource.update(over)
    return resource


def notification(
    event_type: str,
    resource: dict[str, Any],
    *,
    timestamp: int,
    certificate_mode: bool = False,
    notification_id: str | None = None,
) -> tuple[dict[str, str], bytes]:
    """(headers, body) of a notification exactly as WeChat Pay sends it."""
    from fenxiao.adapters.wechatpay_crypto import encrypt_resource, notification_headers

    k = keys()
    original = "transaction" if event_type.startswith("TRANSACTION") else "refund"
    envelope = {
        "id": notification_id or str(uuid.uuid4()),
        "create_time": datetime.fromtimestamp(timestamp).astimezone().isoformat(timespec="seconds"),
        "resource_type": "encrypt-resource",
        "event_type": event_type,
        "summary": "支付成功" if original == "transaction" else "退款成功",
        "resource": encrypt_resource(
            json.dumps(resource, ensure_ascii=False).encode(),
            k.apiv3_key,
            secrets.token_hex(6),
            original,
            original,
        ),
    }
    body = json.dumps(envelope, ensure_ascii=False).encode()
    serial = k.certificate_serial if certificate_mode else k.platform_public_key_id
    signer = k.certificate_private_key if certificate_mode else k.platform_private_key
    headers = notification_headers(signer, serial, body, timestamp, secrets.token_hex(16))
    headers["Content-Type"] = "application/json"
    return headers, body


def post(api: Any, shop_id: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
    response = api.client.http.request("POST", f"/wechatpay/notify/{shop_id}", headers=headers, body=body)
    raw = response.body.decode() if isinstance(response.body, bytes) else response.body
    return response.status_code, (json.loads(raw) if raw else None)


def drain(
    env: dict[str, str], queue: str = "FENXIAO_ORDER_EVENTS_QUEUE_URL", handler: str = "on_order_event"
) -> int:
    """Feed every message waiting on the queue to the real SQS handler, as Lambda would; returns how many.
    Messages the handler reports as failed are left on the queue."""
    import boto3

    from tests.support.app import app_module

    sqs = boto3.client("sqs", region_name="us-east-1")
    url = env[queue]
    handled = 0
    while True:
        messages = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, MessageSystemAttributeNames=["All"]
        ).get("Messages", [])
        if not messages:
            return handled
        # the record shape the local stack's pollers give the functions, as Lambda's event source mapping does
        event = {"Records": [lambda_record(m, QUEUE_ARN, "us-east-1") for m in messages]}
        result = getattr(app_module(), handler)(event, _Context())
        failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
        for m in messages:
            if m["MessageId"] not in failed:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        handled += len(messages) - len(failed)
        if failed:
            return handled


class _Context:
    aws_request_id = "test-request"
    function_name = "test"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:test"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 60000
