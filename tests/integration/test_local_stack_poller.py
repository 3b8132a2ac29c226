"""The local stack's pieces in-process: moto server, CloudFormation from template.yaml, SQS pollers, timers.

Handlers here are small fakes (the real app runs in tests/e2e): they prove what Lambda's event source
mapping and EventBridge would do with their answers.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from fenxiao import bootstrap, clock, config
from fenxiao_local.pollers import SqsPoller
from fenxiao_local.secret_store import SECRET
from fenxiao_local.stack import DEFAULT_TEMPLATE, CreatedStack, Moto, boto_client, point_process_at
from fenxiao_local.template import Template
from fenxiao_local.timers import Timers

pytestmark = pytest.mark.integration

TOKEN = "integration-operator-token-0123456789"


@pytest.fixture(scope="module")
def stack() -> Iterator[CreatedStack]:
    saved = dict(os.environ)
    moto = Moto()
    try:
        point_process_at(moto.start())
        yield CreatedStack.create(Template.load(DEFAULT_TEMPLATE), {}, secrets={"OperatorTokenSecret": TOKEN})
    finally:
        moto.stop()
        os.environ.clear()
        os.environ.update(saved)
        bootstrap.reset()


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def queue_depth(url: str) -> int:
    attrs = boto_client("sqs").get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


class Recorder:
    """A fake handler: records (body, receive count, time) per record and answers with ``decide``."""

    def __init__(self, decide: Callable[[list[dict[str, Any]]], Any]) -> None:
        self.decide = decide
        self.seen: list[tuple[str, int, float]] = []
        self.contexts: list[Any] = []
        self.lock = threading.Lock()

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        with self.lock:
            for record in event["Records"]:
                self.seen.append(
                    (record["body"], int(record["attributes"]["ApproximateReceiveCount"]), time.monotonic())
                )
            self.contexts.append(context)
        return self.decide(event["Records"])

    def count(self, body: str) -> int:
        with self.lock:
            return sum(1 for b, _, _ in self.seen if b == body)


def running_poller(stack: CreatedStack, queue: str, handler: Any, retry_seconds: int | None) -> SqsPoller:
    (source,) = [s for s in stack.template.sqs_sources() if s.queue_logical_id == queue]
    poller = SqsPoller(
        source,
        handler,
        boto_client("sqs"),
        stack.ref(queue),
        stack.get_att(queue, "Arn"),
        region=stack.region,
        stack_name=stack.name,
        retry_seconds=retry_seconds,
    )
    poller.start()
    return poller


def stop(poller: SqsPoller) -> None:
    poller.stop()
    poller.join(timeout=5)
    assert not poller.is_alive()


def send(stack: CreatedStack, queue: str, *bodies: str) -> None:
    boto_client("sqs").send_message_batch(
        QueueUrl=stack.ref(queue),
        Entries=[
            {
                "Id": str(i),
                "MessageBody": body,
                "MessageAttributes": {"kind": {"DataType": "String", "StringValue": "test"}},
            }
            for i, body in enumerate(bodies)
        ],
    )


def test_the_stack_is_what_template_yaml_declares(stack: CreatedStack) -> None:
    counts = stack.counts()
    assert counts["AWS::DynamoDB::Table"] == 8
    assert counts["AWS::SQS::Queue"] == 9  # 4 queues, their 4 DLQs, SchedulerDLQ (the timers)
    assert counts["AWS::KMS::Key"] == 1
    env = stack.handler_environment({"FENXIAO_ALLOW_CLOCK_OVERRIDE": "true"})
    assert env["FENXIAO_SHOPS_TABLE"] == stack.physical_ids["ShopsTable"]
    assert env["FENXIAO_ORDER_EVENTS_QUEUE_URL"] == stack.physical_ids["OrderEventsQueue"]
    assert env["FENXIAO_KMS_KEY_ID"] == stack.physical_ids["SecretsKey"]
    # The token is in no variable: the API reads it from the secret the stack created (as in AWS).
    assert TOKEN not in env.values() and stack.resource_types["OperatorTokenSecret"] == SECRET
    arn = env["FENXIAO_OPERATOR_TOKEN_SECRET_ARN"]
    assert arn == stack.physical_ids["OperatorTokenSecret"] and arn.startswith("arn:aws:secretsmanager:")
    assert boto_client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"] == TOKEN
    assert env["FENXIAO_ALLOW_CLOCK_OVERRIDE"] == "true"
    settings = config.settings_from_env(env)  # the handlers' cold-start validation accepts it
    assert settings.allow_clock_override is True

    # The local HTTP API plays AWS::Serverless::Api: its execute-api URL resolves to the local one.
    execute_api = stack.intrinsics().resolve(
        {"Fn::Sub": "https://${FenxiaoApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/Prod"}
    )
    assert stack.localize(execute_api) == execute_api  # not known yet
    stack.local_api_urls["FenxiaoApi"] = "http://127.0.0.1:9"
    try:
        assert stack.localize(execute_api) == "http://127.0.0.1:9"
        assert (
            stack.localize(execute_api + "/wechatpay/notify/s1") == "http://127.0.0.1:9/wechatpay/notify/s1"
        )
        assert not any("execute-api" in value for value in stack.handler_environment().values())
    finally:
        stack.local_api_urls.clear()
    redrive = boto_client("sqs").get_queue_attributes(
        QueueUrl=stack.ref("OrderEventsQueue"), AttributeNames=["RedrivePolicy"]
    )["Attributes"]["RedrivePolicy"]
    assert stack.get_att("OrderEventsDLQ", "Arn") in redrive


def test_pynamodb_and_boto3_reach_moto_through_aws_endpoint_url(stack: CreatedStack) -> None:
    from fenxiao.adapters.shops import ShopModel

    endpoint = os.environ["AWS_ENDPOINT_URL"]
    old = dict(os.environ)
    try:
        os.environ.update(stack.handler_environment())
        bootstrap.reset()
        c = bootstrap.container()
        assert c.sqs.meta.endpoint_url == endpoint
        assert c.kms.meta.endpoint_url == endpoint
        assert ShopModel._get_connection().connection.client.meta.endpoint_url == endpoint
        assert ShopModel.exists()  # the CloudFormation-created table, reached over HTTP
    finally:
        os.environ.clear()
        os.environ.update(old)
        bootstrap.reset()


def test_partial_batch_failure_redelivers_the_failed_record_only(stack: CreatedStack) -> None:
    def decide(records: list[dict[str, Any]]) -> Any:
        failed = [
            r for r in records if r["body"] == "b" and r["attributes"]["ApproximateReceiveCount"] == "1"
        ]
        return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in failed]}

    handler = Recorder(decide)
    poller = running_poller(stack, "OrderEventsQueue", handler, retry_seconds=1)
    try:
        send(stack, "OrderEventsQueue", "a", "b", "c")
        wait_for(lambda: handler.count("b") == 2)
        wait_for(lambda: queue_depth(stack.ref("OrderEventsQueue")) == 0)
        time.sleep(1.2)  # nothing else comes back
    finally:
        stop(poller)
    assert (handler.count("a"), handler.count("b"), handler.count("c")) == (1, 2, 1)
    b_times = [t for body, _, t in handler.seen if body == "b"]
    assert b_times[1] - b_times[0] >= 0.9  # came back after the local retry delay, not at once
    assert [n for body, n, _ in handler.seen if body == "b"] == [1, 2]
    context = handler.contexts[0]
    assert context.function_name.endswith("OrderWorkerFunction")
    assert context.memory_limit_in_mb == 512
    assert 0 < context.get_remaining_time_in_millis() <= 120_000


def test_a_handler_that_raises_fails_the_whole_batch(stack: CreatedStack) -> None:
    calls = {"n": 0}

    def decide(records: list[dict[str, Any]]) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("boom")
        return {"batchItemFailures": []}

    handler = Recorder(decide)
    send(stack, "OrderEventsQueue", "x", "y")
    poller = running_poller(stack, "OrderEventsQueue", handler, retry_seconds=0)
    try:
        wait_for(lambda: handler.count("x") >= 2 and handler.count("y") >= 2)
        wait_for(lambda: queue_depth(stack.ref("OrderEventsQueue")) == 0)
    finally:
        stop(poller)
    assert handler.count("x") == handler.count("y") == 2


def test_the_lambda_event_has_lambdas_shape(stack: CreatedStack) -> None:
    records: list[dict[str, Any]] = []

    def decide(batch: list[dict[str, Any]]) -> Any:
        records.extend(batch)
        return None

    poller = running_poller(stack, "OrderEventsQueue", Recorder(decide), retry_seconds=0)
    try:
        send(stack, "OrderEventsQueue", '{"shop_id": "s1"}')
        wait_for(lambda: len(records) == 1)
    finally:
        stop(poller)
    record = records[0]
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == stack.get_att("OrderEventsQueue", "Arn")
    assert record["awsRegion"] == "us-east-1"
    assert record["body"] == '{"shop_id": "s1"}'
    assert record["md5OfBody"] and record["receiptHandle"] and record["messageId"]
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["messageAttributes"]["kind"]["stringValue"] == "test"
    assert record["messageAttributes"]["kind"]["dataType"] == "String"


def test_a_message_failing_max_receive_count_times_lands_in_the_dlq(stack: CreatedStack) -> None:
    def decide(records: list[dict[str, Any]]) -> Any:
        return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in records]}

    handler = Recorder(decide)
    dlq = stack.ref("BindingEventsDLQ")
    poller = running_poller(stack, "BindingEventsQueue", handler, retry_seconds=0)
    try:
        send(stack, "BindingEventsQueue", "poison")
        wait_for(lambda: queue_depth(dlq) == 1, timeout=15)
        time.sleep(0.5)
    finally:
        stop(poller)
    # maxReceiveCount is 5 in template.yaml: five deliveries, then the dead-letter queue.
    assert [n for body, n, _ in handler.seen if body == "poison"] == [1, 2, 3, 4, 5]
    assert queue_depth(stack.ref("BindingEventsQueue")) == 0
    moved = boto_client("sqs").receive_message(QueueUrl=dlq)["Messages"]
    assert [m["Body"] for m in moved] == ["poison"]


# ---------------------------------------------------------------- timers


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_timers_fire_when_the_clock_moves_past_their_time(stack: CreatedStack) -> None:
    fired: list[tuple[str, Any]] = []
    lock = threading.Lock()

    def handler_for(name: str) -> Any:
        def handler(event: Any, context: Any) -> Any:
            with lock:
                fired.append((name, event))
            return {"ok": True}

        return handler

    def count(name: str) -> int:
        with lock:
            return sum(1 for n, _ in fired if n == name)

    sources = [(s, handler_for(s.event_name)) for s in stack.template.schedule_sources()]
    clock.set_now(utc(2026, 11, 25, 19, 29, 0))
    timers = Timers(sources, region=stack.region, stack_name=stack.name, tick_seconds=0.05)
    timers.start()
    try:
        time.sleep(0.3)
        assert count("AuditTimer") == 0

        clock.set_now(utc(2026, 11, 25, 19, 30, 0))  # cron(30 19 * * ? *) is due
        wait_for(lambda: count("AuditTimer") == 1, timeout=3)
        assert ("AuditTimer", {"job": "audit"}) in fired

        clock.set_now(utc(2026, 11, 29, 10, 0))  # four audit times passed: one run, not four
        wait_for(lambda: count("AuditTimer") == 2, timeout=3)
        time.sleep(0.3)
        assert count("AuditTimer") == 2
        assert count("WeeklyRolloverTimer") == 0  # Sunday 16:00 UTC not reached yet

        clock.set_now(utc(2026, 12, 1, 0, 0))  # past Sunday 16:00 and the last day of November 16:00
        wait_for(lambda: count("WeeklyRolloverTimer") == 1 and count("MonthlyRolloverTimer") == 1, timeout=3)
        wait_for(lambda: count("AuditTimer") == 3, timeout=3)
        assert ("MonthlyRolloverTimer", {"job": "leaderboard-rollover"}) in fired

        clock.set_now(utc(2026, 11, 30, 19, 0))  # backwards: timers count again from there
        time.sleep(0.3)
        assert count("AuditTimer") == 3
        clock.set_now(utc(2026, 11, 30, 19, 30))
        wait_for(lambda: count("AuditTimer") == 4, timeout=3)
        time.sleep(0.3)
        assert count("MonthlyRolloverTimer") == 1
        assert 1 <= count("SettlementTimer") <= 4  # rate(5 minutes): once per jump at most
    finally:
        timers.stop()
        timers.join(timeout=5)
        clock.reset()
    assert not timers.is_alive()


# ---------------------------------------------------------------- malformed partial-batch answers


@pytest.mark.parametrize(
    ("answer", "fails"),
    [
        (None, False),
        ({}, False),
        ({"batchItemFailures": None}, False),
        ({"batchItemFailures": []}, False),
        ([], True),
        (["m1"], True),
        ("ok", True),
        (0, True),
        (True, True),
        ({"batchItemFailures": "m1"}, True),
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, True),
        ({"batchItemFailures": [{"itemId": "m1"}]}, True),
        ({"batchItemFailures": [{"itemIdentifier": "unknown"}]}, True),
        ({"batchItemFailures": ["m1"]}, True),
    ],
)
def test_a_malformed_partial_batch_answer_fails_the_whole_batch(answer: Any, fails: bool) -> None:
    from fenxiao_local.pollers import failed_ids

    records = [{"messageId": "m1"}, {"messageId": "m2"}]
    assert failed_ids(answer, records, report_failures=True) == ({"m1", "m2"} if fails else set())
    assert failed_ids(answer, records, report_failures=False) == set()  # without ReportBatchItemFailures


def test_a_handler_answering_a_list_gets_the_whole_batch_again(stack: CreatedStack) -> None:
    calls = {"n": 0}

    def decide(records: list[dict[str, Any]]) -> Any:
        calls["n"] += 1
        return [r["messageId"] for r in records] if calls["n"] == 1 else {"batchItemFailures": []}

    handler = Recorder(decide)
    send(stack, "OrderEventsQueue", "l1", "l2")
    poller = running_poller(stack, "OrderEventsQueue", handler, retry_seconds=0)
    try:
        wait_for(lambda: handler.count("l1") >= 2 and handler.count("l2") >= 2)
        wait_for(lambda: queue_depth(stack.ref("OrderEventsQueue")) == 0)
    finally:
        stop(poller)
    # the list was not read as "no failures": both records came back once, then succeeded
    assert handler.count("l1") == handler.count("l2") == 2
    assert sorted(n for body, n, _ in handler.seen if body == "l1") == [1, 2]
