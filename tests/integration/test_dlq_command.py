"""`fenxiao dlq list|replay` against the stack created from template.yaml."""

from __future__ import annotations

import boto3
import pytest

from fenxiao_local.cli import main

pytestmark = pytest.mark.integration


def test_list_and_replay_move_messages_back_to_their_source(
    aws_env: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    sqs = boto3.client("sqs", region_name="us-east-1")
    urls = sqs.list_queues()["QueueUrls"]
    order_dlq = next(u for u in urls if "OrderEventsDLQ" in u)
    for i in range(13):
        sqs.send_message(QueueUrl=order_dlq, MessageBody=f'{{"shop_id": "s", "order_id": "o{i}"}}')
    assert main(["dlq", "list", "--stack-name", "fenxiao-test"]) == 0
    listing = capsys.readouterr().out
    assert "OrderEventsDLQ\t13 messages\t(source OrderEventsQueue)" in listing
    assert "PayoutDLQ\t0 messages" in listing

    assert (
        main(["dlq", "replay", "--stack-name", "fenxiao-test", "--queue", "OrderEventsDLQ", "--max", "5"])
        == 0
    )
    assert main(["dlq", "replay", "--stack-name", "fenxiao-test", "--queue", "OrderEventsQueue"]) == 0
    out = capsys.readouterr().out
    assert "[dlq] replayed 5 messages" in out and "[dlq] replayed 8 messages" in out
    source = aws_env["FENXIAO_ORDER_EVENTS_QUEUE_URL"]
    bodies = set()
    while True:
        got = sqs.receive_message(QueueUrl=source, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            break
        for m in got:
            bodies.add(m["Body"])
            sqs.delete_message(QueueUrl=source, ReceiptHandle=m["ReceiptHandle"])
    assert bodies == {f'{{"shop_id": "s", "order_id": "o{i}"}}' for i in range(13)}
    assert main(["dlq", "replay", "--stack-name", "fenxiao-test", "--queue", "Nope"]) == 2
