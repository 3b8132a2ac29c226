"""Logs and metrics as the entry points write them: the JSON lines of an HTTP request and of SQS records
carry the Lambda request id, the message id and the shop id; EMF metrics carry the shop id as metadata,
never as a dimension (issue 3, "Logs, metrics and batches")."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from fenxiao.observability import count, flush_metrics, logger
from tests.support.app import Api, ShopCaller
from tests.support.stack import sqs_event

pytestmark = pytest.mark.integration

ORDER_EVENT = json.loads((Path(__file__).parents[1] / "events" / "sqs_order_event.json").read_text())


@contextmanager
def log_lines(level: int = logging.INFO) -> Iterator[list[dict[str, Any]]]:
    """The product logger's JSON lines (its own formatter and handler) while the block runs."""
    log = logger()
    handler = log.registered_handler
    stream = io.StringIO()
    previous_stream = handler.setStream(stream)
    previous_level = log.log_level
    log.setLevel(level)
    lines: list[dict[str, Any]] = []
    try:
        yield lines
    finally:
        log.setLevel(previous_level)
        handler.setStream(previous_stream)
        lines.extend(json.loads(line) for line in stream.getvalue().splitlines() if line.strip())


def emf_blobs(text: str) -> list[dict[str, Any]]:
    blobs = []
    for line in text.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            blobs.append(json.loads(line))
    return blobs


# ---------------------------------------------------------------- logs


def test_every_line_of_an_http_request_has_the_lambda_request_id_and_the_shop(shop: ShopCaller) -> None:
    with log_lines() as first:
        # valid signature, invalid body: rejected after authentication
        assert shop.post(shop.path("/members/m1/growth-events"), {"type": "nope"}).status == 400
    with log_lines() as second:
        # bad signature: rejected before any shop is authenticated
        assert (
            shop.post(shop.path("/members/m1/growth-events"), {"type": "profile"}, secret="x").status == 401
        )

    assert first and second, "the rejected requests logged nothing"
    for lines in (first, second):
        assert all(line.get("shop_id") == "shop1" for line in lines), lines
        ids = {line.get("request_id") for line in lines}
        assert len(ids) == 1 and None not in ids, lines
    assert {line["message"] for line in first} >= {"request rejected"}
    assert first[0]["request_id"] != second[0]["request_id"], "each invocation has its own request id"


def test_every_line_of_a_queue_record_has_its_message_id_and_its_shop(api: Api) -> None:
    event = sqs_event(
        ORDER_EVENT,
        json.dumps({"shop_id": "shop1"}),  # no order_id: the handler fails
        "not json",
        json.dumps({"order_id": "o1"}),  # no shop: its lines must not carry the previous record's
        json.dumps({"shop_id": "shop2"}),
    )
    with log_lines() as lines:
        answer = api.client.lambda_.invoke("on_order_event", event).payload
    assert answer == {"batchItemFailures": [{"itemIdentifier": f"msg-{i}"} for i in range(4)]}

    by_message = {line["message_id"]: line for line in lines}
    assert set(by_message) == {"msg-0", "msg-1", "msg-2", "msg-3"}, lines
    assert by_message["msg-0"]["shop_id"] == "shop1"
    assert "shop_id" not in by_message["msg-1"] and "shop_id" not in by_message["msg-2"]
    assert by_message["msg-3"]["shop_id"] == "shop2"
    assert by_message["msg-0"]["level"] == "WARNING" and "KeyError" in by_message["msg-0"]["exception"]
    request_ids = {line.get("request_id") for line in lines}
    assert len(request_ids) == 1 and None not in request_ids


def test_a_timer_invocation_has_the_lambda_request_id(api: Api) -> None:
    with log_lines() as lines:
        api.client.lambda_.invoke("scheduler", {"job": "audit"})
    assert lines, "the timer page logged nothing"
    assert all(isinstance(line.get("request_id"), str) and line["request_id"] for line in lines), lines


# ---------------------------------------------------------------- metrics


def test_a_shop_requests_metric_has_the_shop_id_as_metadata_not_as_a_dimension(
    shop: ShopCaller, capsys: pytest.CaptureFixture[str]
) -> None:
    flush_metrics()
    capsys.readouterr()
    assert shop.post(shop.path("/members/m1/growth-events"), {"type": "profile"}).status == 200
    blobs = [b for b in emf_blobs(capsys.readouterr().out) if "growth_event_applied" in b]
    assert len(blobs) == 1, blobs
    (blob,) = blobs
    assert blob["shop_id"] == "shop1" and blob["kind"] == "profile"
    (directive,) = blob["_aws"]["CloudWatchMetrics"]
    assert directive["Dimensions"] == [["service"]]
    assert {m["Name"] for m in directive["Metrics"]} == {"growth_event_applied"}


def test_metrics_of_different_shops_never_share_a_blob(capsys: pytest.CaptureFixture[str]) -> None:
    """An EMF blob has one metadata set: a metric of another shop (or none) starts a new blob."""
    log = logger()
    flush_metrics()
    capsys.readouterr()
    try:
        log.append_keys(shop_id="shop-a")
        count("CommissionsWritten", 2)
        count("Clawbacks")
        log.append_keys(shop_id="shop-b")
        count("CommissionsWritten")
        log.remove_keys(["shop_id"])
        count("JobItemsProcessed", 3, job="audit")
        count("CommissionsWritten", shop_id="shop-c")  # explicit metadata wins
        flush_metrics()
    finally:
        log.remove_keys(["shop_id"])
    blobs = emf_blobs(capsys.readouterr().out)
    summary = [
        (
            b.get("shop_id"),
            b.get("job"),
            {m["Name"]: b[m["Name"]] for m in b["_aws"]["CloudWatchMetrics"][0]["Metrics"]},
        )
        for b in blobs
    ]
    assert summary == [
        ("shop-a", None, {"CommissionsWritten": [2.0], "Clawbacks": [1.0]}),
        ("shop-b", None, {"CommissionsWritten": [1.0]}),
        (None, "audit", {"JobItemsProcessed": [3.0]}),
        ("shop-c", None, {"CommissionsWritten": [1.0]}),
    ]
    assert all(b["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service"]] for b in blobs)


def test_an_audit_difference_is_counted_for_its_alarm(
    api: Api, shop: ShopCaller, capsys: pytest.CaptureFixture[str]
) -> None:
    """AuditDifferencesAlarm (template.yaml) watches this count: a balance that differs from its ledger."""
    from fenxiao.adapters.members import MemberModel

    assert shop.post(shop.path("/members/m1/growth-events"), {"type": "profile"}).status == 200
    answer = api.operator("POST", "/admin/jobs/audit")
    assert answer.status == 200 and answer.body["differences"] == [], answer
    flush_metrics()
    assert not [b for b in emf_blobs(capsys.readouterr().out) if "AuditDifferences" in b]

    member = MemberModel.get("shop1#m1", MemberModel.SK, consistent_read=True)
    member.update(actions=[MemberModel.available_fen.set(123)])  # a change with no ledger entry
    answer = api.operator("POST", "/admin/jobs/audit")
    assert answer.status == 200 and len(answer.body["differences"]) == 1, answer
    blobs = [b for b in emf_blobs(capsys.readouterr().out) if "AuditDifferences" in b]
    assert [(b["AuditDifferences"], b["shop_id"]) for b in blobs] == [([1.0], "shop1")]
    assert blobs[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service"]]
