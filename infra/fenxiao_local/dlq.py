"""`fenxiao dlq list|replay`: the stack's dead-letter queues, and moving their messages back.

The queues are found from the CloudFormation stack (deployed with `sam deploy`, or the local one), never
from names typed by hand: each DLQ is a queue some other queue's RedrivePolicy points at, and replaying
sends its messages back to that source queue. Messages are nudges (the consumers re-read stored state),
so replaying one that already took effect changes nothing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DeadLetterQueue:
    logical_id: str
    url: str
    source_logical_id: str
    source_url: str


def _clients(region: str, endpoint_url: str | None) -> tuple[Any, Any]:
    import boto3

    if endpoint_url:  # the local stack: moto takes any credentials
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    session = boto3.session.Session(region_name=region)
    return (
        session.client("cloudformation", endpoint_url=endpoint_url),
        session.client("sqs", endpoint_url=endpoint_url),
    )


def dead_letter_queues(cloudformation: Any, sqs: Any, stack_name: str) -> list[DeadLetterQueue]:
    queues: dict[str, str] = {}
    paginator = cloudformation.get_paginator("list_stack_resources")
    for page in paginator.paginate(StackName=stack_name):
        for resource in page["StackResourceSummaries"]:
            if resource["ResourceType"] == "AWS::SQS::Queue":
                queues[resource["LogicalResourceId"]] = resource["PhysicalResourceId"]
    arn_to_logical: dict[str, str] = {}
    redrive: dict[str, str] = {}  # source logical id -> DLQ arn
    for logical, url in queues.items():
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn", "RedrivePolicy"])[
            "Attributes"
        ]
        arn_to_logical[attributes["QueueArn"]] = logical
        if "RedrivePolicy" in attributes:
            redrive[logical] = json.loads(attributes["RedrivePolicy"])["deadLetterTargetArn"]
    out = []
    for source, dlq_arn in sorted(redrive.items()):
        dlq = arn_to_logical[dlq_arn]
        out.append(DeadLetterQueue(dlq, queues[dlq], source, queues[source]))
    return out


def depth(sqs: Any, url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def replay(sqs: Any, queue: DeadLetterQueue, limit: int | None, out: Callable[[str], None]) -> int:
    """Move up to ``limit`` messages (all when None) from the DLQ back to its source queue."""
    moved = 0
    while limit is None or moved < limit:
        batch = min(10, (limit - moved) if limit is not None else 10)
        messages = sqs.receive_message(
            QueueUrl=queue.url, MaxNumberOfMessages=batch, WaitTimeSeconds=1, VisibilityTimeout=60
        ).get("Messages", [])
        if not messages:
            break
        answer = sqs.send_message_batch(
            QueueUrl=queue.source_url,
            Entries=[{"Id": str(i), "MessageBody": m["Body"]} for i, m in enumerate(messages)],
        )
        sent = {int(entry["Id"]) for entry in answer.get("Successful", [])}
        for i, message in enumerate(messages):
            if i in sent:  # only what reached the source queue leaves the DLQ
                sqs.delete_message(QueueUrl=queue.url, ReceiptHandle=message["ReceiptHandle"])
        moved += len(sent)
        out(f"[dlq] {queue.logical_id} -> {queue.source_logical_id}: {moved} moved")
        if len(sent) < len(messages):
            raise RuntimeError(
                f"{len(messages) - len(sent)} messages could not be sent back; they stay in the DLQ"
            )
    return moved


def command(args: Any, out: Callable[[str], None] = print) -> int:
    cloudformation, sqs = _clients(args.region, args.endpoint_url)
    queues = dead_letter_queues(cloudformation, sqs, args.stack_name)
    if args.dlq_command == "list":
        for q in queues:
            out(f"{q.logical_id}\t{depth(sqs, q.url)} messages\t(source {q.source_logical_id})")
        return 0
    chosen = (
        [q for q in queues if args.queue in (q.logical_id, q.source_logical_id)] if args.queue else queues
    )
    if args.queue and not chosen:
        known = ", ".join(q.logical_id for q in queues)
        out(f"no dead-letter queue {args.queue!r} in stack {args.stack_name} (known: {known})")
        return 2
    total = 0
    for q in chosen:
        total += replay(sqs, q, args.max, out)
    out(f"[dlq] replayed {total} messages")
    return 0


def add_parser(commands: Any) -> None:
    dlq = commands.add_parser("dlq", help="dead-letter queues of a deployed or local stack")
    sub = dlq.add_subparsers(dest="dlq_command", required=True)
    for name, text in (
        ("list", "each DLQ and how many messages it holds"),
        ("replay", "move messages back to their source queue"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument(
            "--stack-name", required=True, help="the CloudFormation stack (sam deploy's, or fenxiao-local)"
        )
        p.add_argument(
            "--region",
            default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
        )
        p.add_argument(
            "--endpoint-url", default=None, help="for the local stack: the moto address it printed"
        )
        if name == "replay":
            p.add_argument(
                "--queue", default=None, help="a DLQ or source queue logical id (default: every DLQ)"
            )
            p.add_argument("--max", type=int, default=None, help="move at most this many messages")
