"""Orders from the mall: registration, completion, refund splits — and bad input (SPEC §7)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fenxiao import clock
from tests.support.app import Api, ShopCaller
from tests.support.orders import order_body, pay

pytestmark = pytest.mark.api

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
GOOD = order_body("buyer", [("l1", "p1", 1000), ("l2", "p2", 500)], 200)


def test_register_then_same_body_then_other_body(shop: ShopCaller) -> None:
    first = shop.put(shop.path("/orders/o1"), GOOD)
    assert first.status == 201
    assert first.body["status"] == "registered"
    assert first.body["commissions"] == []
    assert shop.put(shop.path("/orders/o1"), GOOD).status == 200
    other = shop.put(shop.path("/orders/o1"), {**GOOD, "buyer_id": "someone"})
    assert other.status == 409
    assert other.error["code"] == "order_conflict"
    assert shop.get(shop.path("/orders/o1")).body["buyer_id"] == "buyer"


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b: b.pop("buyer_id"), "buyer_id"),
        (lambda b: b.update(total_fen=1), "total_fen"),
        (lambda b: b.update(total_fen="1700"), "total_fen"),
        (lambda b: b.update(shipping_fen=-1), "shipping_fen"),
        (lambda b: b.update(lines=[]), "lines"),
        (lambda b: b["lines"][0].update(quantity=0), "lines[0].quantity"),
        (lambda b: b["lines"][1].update(paid_fen=1.5), "lines[1].paid_fen"),
        (lambda b: b["lines"][1].update(line_id="l1"), "lines"),
        (lambda b: b["lines"][0].update(colour="red"), "lines[0].colour"),
        (lambda b: b.update(buyer_id="a b"), "buyer_id"),
    ],
)
def test_bad_order_is_400_naming_the_field_and_stores_nothing(shop: ShopCaller, mutate, field: str) -> None:
    import copy

    body = copy.deepcopy(GOOD)
    mutate(body)
    answer = shop.put(shop.path("/orders/bad"), body)
    assert answer.status == 400, answer
    assert answer.error["field"] == field
    assert shop.get(shop.path("/orders/bad")).status == 404


def test_bad_json_and_wrong_shape(shop: ShopCaller) -> None:
    assert shop.put(shop.path("/orders/x"), raw=b"{not json").error["code"] == "invalid_json"
    assert shop.put(shop.path("/orders/x"), raw=b"[1,2]").error["code"] == "invalid_body"
    assert shop.put(shop.path("/orders/x"), raw=b"").status == 400
    assert shop.put(shop.path("/orders/bad%20id"), GOOD).status in (400, 404)
    assert shop.get(shop.path("/orders/x")).status == 404


def test_completion_needs_a_paid_order_and_is_idempotent(shop: ShopCaller) -> None:
    assert shop.post(shop.path("/orders/none/completion")).status == 404
    shop.put(shop.path("/orders/o2"), GOOD)
    unpaid = shop.post(shop.path("/orders/o2/completion"))
    assert unpaid.status == 422
    assert unpaid.error["code"] == "order_not_paid"
    pay("shop1", "o2", 1700, T0)
    clock.set_now(T0)
    first = shop.post(shop.path("/orders/o2/completion"))
    assert first.status == 200
    again = shop.post(shop.path("/orders/o2/completion"))
    assert again.status == 200


def test_refund_split_rules(shop: ShopCaller) -> None:
    from tests.support.orders import refund

    assert (
        shop.put(shop.path("/orders/o3/refunds/r1"), {"lines": [{"line_id": "l1", "refund_fen": 100}]}).status
        == 404
    )
    shop.put(shop.path("/orders/o3"), GOOD)
    split = {"lines": [{"line_id": "l1", "refund_fen": 400}]}
    assert shop.put(shop.path("/orders/o3/refunds/r1"), split).status == 201
    assert shop.put(shop.path("/orders/o3/refunds/r1"), split).status == 200
    changed = shop.put(shop.path("/orders/o3/refunds/r1"), {"lines": [{"line_id": "l1", "refund_fen": 300}]})
    assert changed.status == 409
    assert changed.error["code"] == "split_conflict"
    unknown = shop.put(shop.path("/orders/o3/refunds/r2"), {"lines": [{"line_id": "l9", "refund_fen": 1}]})
    assert (unknown.status, unknown.error["field"]) == (400, "lines[0].line_id")
    too_much = shop.put(shop.path("/orders/o3/refunds/r2"), {"lines": [{"line_id": "l2", "refund_fen": 501}]})
    assert (too_much.status, too_much.error["field"]) == (422, "lines[0].refund_fen")
    bad = shop.put(shop.path("/orders/o3/refunds/r2"), {"lines": [{"line_id": "l2", "refund_fen": 0}]})
    assert (bad.status, bad.error["field"]) == (400, "lines[0].refund_fen")
    # once WeChat Pay reported the refund, its split can no longer be registered
    refund("shop1", "o3", "r3", 100, T0)
    late = shop.put(shop.path("/orders/o3/refunds/r3"), {"lines": [{"line_id": "l2", "refund_fen": 100}]})
    assert late.status == 409
    assert late.error["code"] == "refund_already_effective"


def test_a_split_is_capped_at_what_the_line_has_left_after_reported_refunds(shop: ShopCaller) -> None:
    """SPEC §3, refunds together never exceed what was paid: not what the line was paid (500), but what it
    has left after the refunds WeChat Pay reported (decision: refund split cap)."""
    from tests.support.orders import refund

    shop.put(shop.path("/orders/o4"), GOOD)
    pay("shop1", "o4", 1700, T0)
    refund("shop1", "o4", "r1", 300, T0)  # unsplit: 200 from l1 (1000), 100 from l2 (500)
    beyond = shop.put(shop.path("/orders/o4/refunds/r2"), {"lines": [{"line_id": "l2", "refund_fen": 401}]})
    assert (beyond.status, beyond.error["code"]) == (422, "refund_exceeds_line")
    assert beyond.error["field"] == "lines[0].refund_fen"
    left = shop.put(shop.path("/orders/o4/refunds/r2"), {"lines": [{"line_id": "l2", "refund_fen": 400}]})
    assert (left.status, left.body["lines"]) == (201, [{"line_id": "l2", "refund_fen": 400}])


def test_poison_message_fails_alone_in_its_batch(api: Api, shop: ShopCaller, aws_env: dict) -> None:
    from tests.support.app import app_module
    from tests.support.wechatpay import _Context

    shop.put(shop.path("/orders/o4"), GOOD)
    records = [
        {
            "messageId": "good",
            "receiptHandle": "h1",
            "body": '{"shop_id": "shop1", "order_id": "o4"}',
            "attributes": {},
            "messageAttributes": {},
            "md5OfBody": "",
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:1:q",
            "awsRegion": "us-east-1",
        },
        {
            "messageId": "poison",
            "receiptHandle": "h2",
            "body": "not json",
            "attributes": {},
            "messageAttributes": {},
            "md5OfBody": "",
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:1:q",
            "awsRegion": "us-east-1",
        },
        {
            "messageId": "missing",
            "receiptHandle": "h3",
            "body": '{"shop_id": "shop1"}',
            "attributes": {},
            "messageAttributes": {},
            "md5OfBody": "",
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:1:q",
            "awsRegion": "us-east-1",
        },
    ]
    result = app_module().on_order_event({"Records": records}, _Context())
    assert result == {"batchItemFailures": [{"itemIdentifier": "poison"}, {"itemIdentifier": "missing"}]}


def test_registration_nudges_only_an_order_whose_payment_came_first(
    api: Api, shop: ShopCaller, aws_env: dict
) -> None:
    from tests.support.wechatpay import drain

    assert shop.put(shop.path("/orders/o5"), GOOD).status == 201
    assert drain(aws_env) == 0  # unpaid: the payment's own nudge will find the order
    pay("shop1", "o6", 1700, T0)  # stored before the order (its nudge ran while the order was unknown)
    assert shop.put(shop.path("/orders/o6"), GOOD).status == 201
    assert drain(aws_env) == 1
    assert shop.get(shop.path("/orders/o6")).body["status"] == "paid"
    assert shop.put(shop.path("/orders/o6"), GOOD).status == 200  # the same body again: paid, nudged again
    assert drain(aws_env) == 1


def test_duplicate_nudges_in_one_batch_read_the_order_once(
    api: Api, shop: ShopCaller, aws_env: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fenxiao.service import reconcile
    from tests.support.app import app_module
    from tests.support.wechatpay import _Context

    shop.put(shop.path("/orders/o7"), GOOD)
    pay("shop1", "o7", 1700, T0)
    loads: list[str] = []
    real_load = reconcile.load_order
    monkeypatch.setattr(reconcile, "load_order", lambda s, o: loads.append(o) or real_load(s, o))
    records = [
        {
            "messageId": f"m{i}",
            "receiptHandle": f"h{i}",
            "body": f'{{"shop_id": "shop1", "order_id": "{order}"}}',
            "attributes": {},
            "messageAttributes": {},
            "md5OfBody": "",
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:1:q",
            "awsRegion": "us-east-1",
        }
        for i, order in enumerate(["o7", "o7", "o5", "o7"])
    ]
    assert app_module().on_order_event({"Records": records}, _Context()) == {"batchItemFailures": []}
    assert loads == ["o7", "o5"]
    assert shop.get(shop.path("/orders/o7")).body["status"] == "paid"
    assert app_module().on_order_event({"Records": records[:1]}, _Context()) == {"batchItemFailures": []}
    assert loads == ["o7", "o5", "o7"]  # another batch reads again
