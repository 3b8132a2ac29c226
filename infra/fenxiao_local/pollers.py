"""Lambda's SQS event source mapping, locally: one poller thread per ``Type: SQS`` event in the template.

Each poller long-polls its queue, hands the handler a Lambda SQS event and deletes what succeeded:
- with ``ReportBatchItemFailures`` the records named in ``batchItemFailures`` stay, the rest are deleted;
  an answer Lambda would reject (not a JSON object, or an unknown or empty ``itemIdentifier``) fails the
  whole batch; no answer (None) or one without ``batchItemFailures`` is a success;
- a handler that raises fails the whole batch: nothing is deleted.
Failed records come back when their visibility timeout ends, as in AWS. Locally that timeout (180 s for
the order queue) is shortened to ``retry_seconds`` through ChangeMessageVisibility, so that retries are
seen in seconds. The queue's RedrivePolicy is applied by the SQS stand-in itself (moto moves a message to
the dead-letter queue on the receive after its ``maxReceiveCount``-th), as SQS does.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from typing import Any

from fenxiao_local.datastack import run_in_wide_frame
from fenxiao_local.runtime import Handler, context_for
from fenxiao_local.template import SqsSource

log = logging.getLogger("fenxiao_local.pollers")

MAX_RECEIVE = 10  # SQS ReceiveMessage's limit; Lambda's larger batches need a batching window
WAIT_SECONDS = 1


def _message_attribute(value: dict[str, Any]) -> dict[str, Any]:
    """SQS API shape (``StringValue``...) to Lambda event shape (``stringValue``...)."""

    def b64(raw: Any) -> str:
        return base64.b64encode(raw if isinstance(raw, bytes) else str(raw).encode()).decode("ascii")

    out: dict[str, Any] = {
        "stringListValues": list(value.get("StringListValues") or []),
        "binaryListValues": [b64(v) for v in value.get("BinaryListValues") or []],
        "dataType": value.get("DataType", "String"),
    }
    if "StringValue" in value:
        out["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        out["binaryValue"] = b64(value["BinaryValue"])
    return out


def lambda_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": dict(message.get("Attributes") or {}),
        "messageAttributes": {
            name: _message_attribute(value)
            for name, value in (message.get("MessageAttributes") or {}).items()
        },
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if message.get("MD5OfMessageAttributes"):
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def failed_ids(response: Any, records: list[dict[str, Any]], report_failures: bool) -> set[str]:
    """The message ids Lambda would leave on the queue after this answer."""
    every = {r["messageId"] for r in records}
    if not report_failures or response is None:
        return set()
    if not isinstance(response, dict):
        # Not an event response object (a list, a string, a number): Lambda cannot read it as a partial
        # batch answer and fails the whole batch, so nothing is deleted.
        log.warning("the handler answered %s, not an object: the whole batch fails", type(response).__name__)
        return every
    failures = response.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        return every
    out = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not identifier or identifier not in every:
            log.warning(
                "batchItemFailures names %r, not a record of the batch: the whole batch fails", identifier
            )
            return every
        out.add(identifier)
    return out


class SqsPoller(threading.Thread):
    def __init__(
        self,
        source: SqsSource,
        handler: Handler,
        sqs: Any,
        queue_url: str,
        queue_arn: str,
        *,
        region: str,
        stack_name: str,
        retry_seconds: int | None,
    ) -> None:
        super().__init__(name=f"poller-{source.queue_logical_id}", daemon=True)
        self.source = source
        self.handler = handler
        self.sqs = sqs
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.region = region
        self.stack_name = stack_name
        self.retry_seconds = retry_seconds
        self._stop_event = threading.Event()
        self.batches = 0

    def stop(self) -> None:
        self._stop_event.set()

    def run(self) -> None:
        run_in_wide_frame(self._poll_until_stopped)  # datastack.py: the handlers' deep stacks, no chunk churn

    def _poll_until_stopped(self) -> None:
        while not self._stop_event.is_set():
            try:
                self.poll_once()
            except Exception:
                log.exception(
                    "poller %s: receive/delete failed; retrying in 1 s", self.source.queue_logical_id
                )
                self._stop_event.wait(1.0)

    def poll_once(self, wait_seconds: int = WAIT_SECONDS) -> int:
        answer = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=min(self.source.batch_size, MAX_RECEIVE),
            WaitTimeSeconds=wait_seconds,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = answer.get("Messages") or []
        if not messages:
            return 0
        self.invoke(messages)
        return len(messages)

    def invoke(self, messages: list[dict[str, Any]]) -> None:
        records = [lambda_record(m, self.queue_arn, self.region) for m in messages]
        function = self.source.function
        started = time.monotonic()
        try:
            response = self.handler({"Records": records}, context_for(function, self.stack_name, self.region))
            failed = failed_ids(response, records, self.source.report_batch_item_failures)
        except Exception as exc:
            log.warning(
                "%s (%s): the handler raised %s: %r; none of the %d records is deleted",
                function.handler,
                self.source.queue_logical_id,
                type(exc).__name__,
                exc,
                len(records),
            )
            failed = {r["messageId"] for r in records}
        self.batches += 1
        log.debug(
            "%s: batch of %d from %s, %d failed (%.0f ms)",
            function.handler,
            len(records),
            self.source.queue_logical_id,
            len(failed),
            (time.monotonic() - started) * 1000,
        )
        done = [m for m in messages if m["MessageId"] not in failed]
        retry = [m for m in messages if m["MessageId"] in failed]
        for message in retry:
            log.warning(
                "%s: message %s failed (receive %s); it comes back in %s",
                function.handler,
                message["MessageId"],
                (message.get("Attributes") or {}).get("ApproximateReceiveCount", "?"),
                f"{self.retry_seconds} s" if self.retry_seconds is not None else "its visibility timeout",
            )
        if done:
            self._batch(
                "delete_message_batch",
                [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        if retry and self.retry_seconds is not None:
            self._batch(
                "change_message_visibility_batch",
                [
                    {
                        "Id": str(i),
                        "ReceiptHandle": m["ReceiptHandle"],
                        "VisibilityTimeout": self.retry_seconds,
                    }
                    for i, m in enumerate(retry)
                ],
            )

    def _batch(self, operation: str, entries: list[dict[str, Any]]) -> None:
        answer = getattr(self.sqs, operation)(QueueUrl=self.queue_url, Entries=entries)
        for failure in answer.get("Failed") or []:
            log.warning("%s on %s failed for an entry: %s", operation, self.source.queue_logical_id, failure)
