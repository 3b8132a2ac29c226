"""Plumbing for the entry points: per-invocation logging context, metrics flush, SQS partial batches.

Powertools decorators cannot sit directly on Chalice's SQS and schedule handlers (Chalice calls them
without ``context``), so they are wired once here through a Chalice middleware.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fenxiao.observability import flush_metrics, logger


def lambda_middleware(event: Any, get_response: Callable[[Any], Any]) -> Any:
    from fenxiao.bootstrap import container

    # Every entry point (HTTP, queues, timers): settings validated and tables bound before any handler
    # code runs. Cached per container, so only the cold start pays for it.
    container()
    log = logger()
    log.clear_state()
    context = getattr(event, "context", None) or getattr(
        getattr(event, "lambda_context", None), "__dict__", None
    )
    request_id = getattr(context, "aws_request_id", None)
    if request_id:
        log.append_keys(request_id=request_id)
    try:
        return get_response(event)
    finally:
        try:
            flush_metrics()
        except Exception:  # a metrics problem must never fail the invocation
            log.warning("metrics flush failed")


def sqs_batch(event: Any, handle: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Run ``handle(message)`` for each record; failures are reported per record (batchItemFailures)."""
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    raw = event.to_dict() if hasattr(event, "to_dict") else event
    log = logger()

    def record_handler(record: SQSRecord) -> None:
        log.append_keys(message_id=record.message_id)
        try:
            message = json.loads(record.body)
        except json.JSONDecodeError:
            log.error("message is not JSON; it will go to the dead-letter queue after its retries")
            raise
        handle(message)

    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    result: Any = process_partial_response(
        event=raw, record_handler=record_handler, processor=processor, context=getattr(event, "context", None)
    )
    return result
