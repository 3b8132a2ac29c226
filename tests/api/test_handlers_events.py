"""The queue and timer entry points through chalice.test.Client, fed the sample events beside this file
(``sqs_binding_event.json``: a BindingEventsQueue batch as Lambda delivers it; ``schedule_payout_check.json``:
the PayoutCheckTimer's Input from template.yaml)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from fenxiao import clock
from fenxiao_local.template import load_template
from tests.support import wechatpay as wx
from tests.support.app import Api, ShopCaller
from tests.support.leaderboard import binding_messages, standings
from tests.support.money import give_available
from tests.support.payouts import payout_messages
from tests.support.stack import TEMPLATE, sqs_event
from tests.support.wechatpay import OPENID

pytestmark = pytest.mark.api

HERE = Path(__file__).parent
BINDING_EVENT = json.loads((HERE / "sqs_binding_event.json").read_text())
PAYOUT_CHECK_EVENT = json.loads((HERE / "schedule_payout_check.json").read_text())
BOUND_AT = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # the sample's bound_at


def _binding_batch(*bodies: str) -> dict[str, Any]:
    """The sample event with one record per body (message ids 0, 1, ...)."""
    return sqs_event(BINDING_EVENT, *bodies)


def test_the_binding_sample_is_what_a_bind_sends(shop: ShopCaller) -> None:
    clock.set_now(BOUND_AT)
    assert shop.post(shop.path("/members/fan1/inviter"), {"inviter_id": "star"}).status == 201
    (sent,) = binding_messages()
    sample = json.loads(BINDING_EVENT["Records"][0]["body"])
    assert set(sent) == set(sample) and sent["member_id"] == sample["member_id"]
    assert sent["bound_at"][:19] == sample["bound_at"][:19]  # the clock ran on for some milliseconds


def test_on_binding_event_scores_the_binding_once(api: Api, shop: ShopCaller) -> None:
    clock.set_now(BOUND_AT)
    assert shop.post(shop.path("/members/fan1/inviter"), {"inviter_id": "star"}).status == 201
    # taken off the queue: this test delivers it in the sample event (with the clock's exact bound_at)
    (sent,) = binding_messages()
    event = _binding_batch(json.dumps(sent))
    assert standings(shop, "weekly") == []  # nothing scored before the consumer runs

    answer = api.client.lambda_.invoke("on_binding_event", event).payload
    assert answer == {"batchItemFailures": []}
    assert standings(shop, "weekly") == [("star", 1)]
    assert standings(shop, "total") == [("star", 1)]

    # Lambda delivers at least once: the same record again changes nothing.
    assert api.client.lambda_.invoke("on_binding_event", event).payload == {"batchItemFailures": []}
    assert standings(shop, "weekly") == [("star", 1)]


def test_on_binding_event_reports_only_the_bad_record(api: Api, shop: ShopCaller) -> None:
    clock.set_now(BOUND_AT)
    for fan in ("fan1", "fan2"):
        assert shop.post(shop.path(f"/members/{fan}/inviter"), {"inviter_id": "star"}).status == 201
    good = [json.dumps(m) for m in binding_messages()]
    event = _binding_batch(good[0], "not json", json.dumps({"shop_id": "shop1"}), good[1])
    answer = api.client.lambda_.invoke("on_binding_event", event).payload
    # the malformed record and the one without its fields are retried (then dead-lettered); the rest count
    assert answer == {"batchItemFailures": [{"itemIdentifier": "msg-1"}, {"itemIdentifier": "msg-2"}]}
    assert standings(shop, "weekly") == [("star", 2)]


def test_the_payout_check_sample_is_the_templates_timer_input() -> None:
    doc = load_template(TEMPLATE)
    timer = doc["Resources"]["SchedulerFunction"]["Properties"]["Events"]["PayoutCheckTimer"]
    assert json.loads(timer["Properties"]["Input"]) == PAYOUT_CHECK_EVENT


def test_the_payout_check_timer_nudges_only_due_payouts(
    api: Api, shop: ShopCaller, aws_env: dict[str, str]
) -> None:
    t0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
    clock.set_now(t0)
    assert shop.put(shop.path("/settings/wechatpay"), wx.wechatpay_settings()).status == 200
    give_available("shop1", "m1", 5_000)
    body = {"withdrawal_id": "w1", "amount_fen": 1_000, "openid": OPENID}
    assert shop.post(shop.path("/members/m1/withdrawals"), body).status == 202
    assert payout_messages(aws_env) == [{"shop_id": "shop1", "withdrawal_id": "w1"}]  # the first nudge

    # Before its check time nothing is due: the timer sends nothing.
    answer = api.client.lambda_.invoke("scheduler", PAYOUT_CHECK_EVENT).payload
    assert answer == {"job": "payout-check", "processed": 0, "more": False}
    assert payout_messages(aws_env) == []

    # The worker never answered (lost message): once its check time passes the timer nudges it again.
    clock.set_now(t0 + timedelta(hours=1))
    answer = api.client.lambda_.invoke("scheduler", PAYOUT_CHECK_EVENT).payload
    assert answer == {"job": "payout-check", "processed": 1, "more": False}
    assert payout_messages(aws_env) == [{"shop_id": "shop1", "withdrawal_id": "w1"}]
    assert shop.get(shop.path("/members/m1/withdrawals/w1")).body["status"] in ("pending", "processing")
