"""Telling the storm's facts to the product as the mall, WeChat Pay and Lambda would.

- The mall registers orders (``PUT .../orders/{id}``) and refund line splits (``PUT .../refunds/{no}``),
  each once or twice, at random points of the stream — orders after their payment included; a split
  before WeChat Pay reports any refund of its order.
- WeChat Pay sends every payment and refund notification 1–5 times, signed and encrypted, in a shuffled
  order (refunds before their payment included), and sends again whatever was answered 5xx.
- Lambda feeds the order queue to ``app.on_order_event`` in batches of up to 10 every few deliveries;
  records reported failed (or whose whole invocation died) come back when their visibility timeout has
  run out (here: at the next drain), with SQS's own receive count, so SQS moves a record that keeps
  failing to the template's dead-letter queue.

A record is processed with faults only on its first ``CALM_FROM - 1`` receives: a record in the DLQ
therefore failed at least twice with no injected fault at all.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from fenxiao import clock
from tests.storm.faults import Faults, InvocationCrash
from tests.storm.scenario import REVOKED_AT, SETUP_AT, SHOP_ID, OrderFact, Rates, RefundFact, Scenario
from tests.support import wechatpay as wx
from tests.support.app import Api, ShopCaller, app_module

CALM_FROM = 4  # receive count from which a record is processed without injected faults (DLQ after 5)


@dataclass(frozen=True)
class Delivery:
    kind: str  # "order" | "split" | "payment" | "refund"
    order: OrderFact
    refund: RefundFact | None = None


@dataclass
class Tally:
    deliveries: Counter[str] = field(default_factory=Counter)
    answers: Counter[str] = field(default_factory=Counter)
    redelivered_http: int = 0
    records: int = 0
    record_failures: int = 0
    invocations: int = 0
    calm_records: int = 0
    unexpected: list[str] = field(default_factory=list)


def stream(rng: random.Random, orders: tuple[OrderFact, ...]) -> list[Delivery]:
    """Every fact, each delivered 1–5 times (notifications) or 1–2 times (the mall's PUTs), shuffled; an
    order with a split refund is registered and split before any of its refunds is delivered."""
    timed: list[tuple[float, int, Delivery]] = []  # (when, tie-break, delivery)

    def at(when: float, delivery: Delivery) -> None:
        timed.append((when, len(timed), delivery))

    for order in orders:
        for _ in range(rng.randint(1, 5)):
            at(rng.random(), Delivery("payment", order))
        refunds_at = [1.0]
        for refund in order.refunds:
            for _ in range(rng.randint(1, 5)):
                refunds_at.append(rng.random())
                at(refunds_at[-1], Delivery("refund", order, refund))
        splits = [r for r in order.refunds if r.split]
        if not splits:
            for _ in range(rng.randint(1, 2)):
                at(rng.random(), Delivery("order", order))
            continue
        registered = min(refunds_at) * rng.random()  # the order, then its splits, before any refund
        at(registered, Delivery("order", order))
        for refund in splits:
            at(registered, Delivery("split", order, refund))
        for _ in range(rng.randint(0, 1)):
            at(rng.uniform(registered, 1.0), Delivery("order", order))
        for refund in splits:
            if rng.random() < 0.5:
                at(rng.uniform(registered, 1.0), Delivery("split", order, refund))
    timed.sort(key=lambda entry: (entry[0], entry[1]))
    return [delivery for _, _, delivery in timed]


def setup_shop(api: Api, scenario: Scenario) -> ShopCaller:
    """The shop as it stands before the storm: WeChat Pay keys, the programme (eligibility ``none``,
    settlement on payment + freeze days), product rates, growth coefficient, every binding, then the
    revocations."""
    programme = scenario.programme
    clock.set_now(SETUP_AT)
    shop = api.create_shop(SHOP_ID, "Storm shop")
    assert shop.put(shop.path("/settings/wechatpay"), wx.wechatpay_settings()).status == 200
    distribution = {
        "enabled": True,
        "eligibility": {"mode": "none"},
        "rates": _rates(programme.rates),
        "binding": {"mode": "permanent"},
        "settlement": {"basis": "payment", "freeze_days": programme.freeze_days},
    }
    assert shop.put(shop.path("/settings/distribution"), distribution).status == 200
    for product_id, rates in programme.product_rates.items():
        assert shop.put(shop.path(f"/products/{product_id}/rates"), _rates(rates)).status == 200
    membership = {"growth_coefficient": programme.growth_coefficient}
    assert shop.put(shop.path("/settings/membership"), membership).status == 200
    for member in scenario.members:
        if member in scenario.inviters:
            answer = shop.post(
                shop.path(f"/members/{member}/inviter"), {"inviter_id": scenario.inviters[member]}
            )
            assert answer.status == 201, answer
    clock.set_now(REVOKED_AT)
    for member in sorted(scenario.revoked):
        answer = shop.put(shop.path(f"/members/{member}/distributor"), {"active": False})
        assert answer.status == 200, answer
    return shop


def _rates(rates: Rates) -> dict[str, int]:
    return {"level1_bp": rates.level1_bp, "level2_bp": rates.level2_bp, "self_bp": rates.self_bp}


class Driver:
    def __init__(self, api: Api, shop: ShopCaller, env: dict[str, str], faults: Faults, seed: int) -> None:
        import boto3

        self.api = api
        self.shop = shop
        self.faults = faults
        self.rng = random.Random(seed)
        self.tally = Tally()
        self.sqs = boto3.client("sqs", region_name="us-east-1")
        self.queue_url = env["FENXIAO_ORDER_EVENTS_QUEUE_URL"]
        self._invisible: list[str] = []  # receipt handles of failed records, waiting for their timeout

    # ------------------------------------------------------------ the stream

    def run(self, deliveries: list[Delivery]) -> None:
        pending = list(deliveries)
        next_drain = self.rng.randint(4, 16)
        while pending:
            delivery = pending.pop(0)
            if not self.deliver(delivery):
                # 5xx: WeChat Pay sends the notification again a little later; the mall retries its PUT
                # at once (it asks WeChat Pay for a refund only once the refund's split is registered)
                self.tally.redelivered_http += 1
                later = delivery.kind in ("payment", "refund")
                pending.insert(self.rng.randint(0, min(len(pending), 20)) if later else 0, delivery)
            next_drain -= 1
            if next_drain == 0:
                self.drain()
                next_drain = self.rng.randint(4, 16)
        self.drain(until_empty=True)

    def deliver(self, delivery: Delivery) -> bool:
        """One HTTP request; False when it must be sent again (answered 5xx)."""
        self.tally.deliveries[delivery.kind] += 1
        order = delivery.order
        with self.faults.armed():
            if delivery.kind == "order":
                status = self.shop.put(self.shop.path(f"/orders/{order.order_id}"), order.body()).status
                ok = {200, 201}
            elif delivery.kind == "split":
                assert delivery.refund is not None and delivery.refund.split is not None
                body = {"lines": [{"line_id": lid, "refund_fen": fen} for lid, fen in delivery.refund.split]}
                path = self.shop.path(f"/orders/{order.order_id}/refunds/{delivery.refund.out_refund_no}")
                status = self.shop.put(path, body).status
                ok = {200, 201}
            else:
                headers, raw = self._notification(delivery)
                status = wx.post(self.api, SHOP_ID, headers, raw)[0]
                ok = {204}
        self.tally.answers[f"{delivery.kind}:{status}"] += 1
        if status in ok:
            return True
        if status >= 500:
            return False
        self.tally.unexpected.append(f"{delivery.kind} {order.order_id} {delivery.refund} answered {status}")
        return True

    def _notification(self, delivery: Delivery) -> tuple[dict[str, str], bytes]:
        order = delivery.order
        if delivery.kind == "payment":
            resource = wx.transaction(
                order.order_id, order.paid_fen, order.paid_at, transaction_id=order.transaction_id
            )
            note_id = f"pay-{order.transaction_id}"
            event = "TRANSACTION.SUCCESS"
        else:
            refund = delivery.refund
            assert refund is not None
            resource = wx.refund(
                order.order_id,
                refund.out_refund_no,
                refund.amount_fen,
                order.paid_fen,
                refund.success_time,
                refund_id=refund.refund_id,
                transaction_id=order.transaction_id,
            )
            note_id = f"refund-{refund.refund_id}"
            event = "REFUND.SUCCESS"
        # the same notification each time (same id and resource), signed at the time it is sent
        return wx.notification(event, resource, timestamp=int(clock.unix_now()), notification_id=note_id)

    # ------------------------------------------------------------ the order queue, as Lambda polls it

    def drain(self, until_empty: bool = False) -> None:
        self._timeouts_run_out()
        while True:
            messages = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=0,
                AttributeNames=["ApproximateReceiveCount"],
            ).get("Messages", [])
            if not messages:
                if until_empty and self._invisible:
                    self._timeouts_run_out()
                    continue
                return
            stormy = [m for m in messages if _receives(m) < CALM_FROM]
            calm = [m for m in messages if _receives(m) >= CALM_FROM]
            if stormy:
                self._invoke(stormy, armed=True)
            if calm:
                self.tally.calm_records += len(calm)
                self._invoke(calm, armed=False)

    def _invoke(self, messages: list[dict[str, Any]], armed: bool) -> None:
        event = {"Records": [_record(m) for m in messages]}
        self.tally.invocations += 1
        self.tally.records += len(messages)
        crash_after = self.rng.randrange(len(messages)) if armed and self.rng.random() < 0.03 else None
        failed: set[str]
        try:
            if armed:
                with self.faults.armed(invocation_crash_after=crash_after):
                    result = app_module().on_order_event(event, _Context())
            else:
                result = app_module().on_order_event(event, _Context())
            failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
        except InvocationCrash:
            failed = {m["MessageId"] for m in messages}
        done = []
        for m in messages:
            if m["MessageId"] in failed:
                self._invisible.append(m["ReceiptHandle"])
            else:
                done.append(m["ReceiptHandle"])
        # as Lambda's event source mapping does: the batch's successes deleted in one DeleteMessageBatch
        self._batched(self.sqs.delete_message_batch, done, {})
        self.tally.record_failures += len(failed)

    def _timeouts_run_out(self) -> None:
        self._batched(self.sqs.change_message_visibility_batch, self._invisible, {"VisibilityTimeout": 0})
        self._invisible.clear()

    def _batched(self, call: Any, handles: list[str], extra: dict[str, Any]) -> None:
        """One SQS batch call per 10 receipt handles; every entry must succeed."""
        for start in range(0, len(handles), 10):
            entries = [
                {"Id": str(i), "ReceiptHandle": handle, **extra}
                for i, handle in enumerate(handles[start : start + 10])
            ]
            answer = call(QueueUrl=self.queue_url, Entries=entries)
            assert not answer.get("Failed"), answer["Failed"]

    def dead_letters(self) -> int:
        """Messages in the order queue's dead-letter queue (the one its RedrivePolicy names)."""
        attributes = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["RedrivePolicy"])
        dlq_arn = json.loads(attributes["Attributes"]["RedrivePolicy"])["deadLetterTargetArn"]
        dlq_url = self.sqs.get_queue_url(QueueName=dlq_arn.rsplit(":", 1)[1])["QueueUrl"]
        counts = self.sqs.get_queue_attributes(
            QueueUrl=dlq_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(counts["ApproximateNumberOfMessages"]) + int(
            counts["ApproximateNumberOfMessagesNotVisible"]
        )

    def queued(self) -> int:
        counts = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(counts["ApproximateNumberOfMessages"]) + int(
            counts["ApproximateNumberOfMessagesNotVisible"]
        )


def _receives(message: dict[str, Any]) -> int:
    return int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))


def _record(m: dict[str, Any]) -> dict[str, Any]:
    return {
        "messageId": m["MessageId"],
        "receiptHandle": m["ReceiptHandle"],
        "body": m["Body"],
        "attributes": {"ApproximateReceiveCount": str(_receives(m))},
        "messageAttributes": {},
        "md5OfBody": m["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:OrderEventsQueue",
        "awsRegion": "us-east-1",
    }


class _Context:
    aws_request_id = "storm"
    function_name = "OrderEventsFunction"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:OrderEventsFunction"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 60000
