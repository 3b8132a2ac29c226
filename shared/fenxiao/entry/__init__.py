"""Plumbing for the entry points: per-invocation logging context, metrics flush, SQS partial batches.

Powertools decorators cannot sit directly on Chalice's SQS and schedule handlers (Chalice calls them
without ``context``), so they are wired once here through a Chalice middleware.

Every log line of an invocation carries ``request_id`` (the Lambda request id, the one on Lambda's own
START/END/REPORT lines). HTTP lines also carry ``api_request_id`` (API Gateway's, when there is one) and
``shop_id`` (the path's shop; the route wrapper sets it again once the signature verified); queue lines
carry the record's ``message_id`` and, when the message names one, its ``shop_id``. Metrics take the
same ``shop_id`` as metadata (``fenxiao.observability``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fenxiao.observability import flush_metrics, logger

MAX_LOGGED_ID = 64  # ids from a path or a message body are logged only when they look like ids


def lambda_context(event: Any) -> Any:
    """The Lambda context of a Chalice event: ``Request.lambda_context`` for HTTP (its ``context`` is API
    Gateway's requestContext, a dict), ``.context`` for SQS and pure Lambda events."""
    context = getattr(event, "lambda_context", None)
    if context is None:
        context = getattr(event, "context", None)
    return None if isinstance(context, dict) else context


def _loggable_id(value: Any) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= MAX_LOGGED_ID else None


def invocation_keys(event: Any) -> dict[str, str]:
    """The keys every log line of this invocation carries (see the module docstring)."""
    keys: dict[str, str] = {}
    request_id = getattr(lambda_context(event), "aws_request_id", None)
    if isinstance(request_id, str) and request_id:
        keys["request_id"] = request_id
    request_context = getattr(event, "context", None)
    if isinstance(request_context, dict):  # an HTTP request
        api_request_id = _loggable_id(request_context.get("requestId"))
        if api_request_id:
            keys["api_request_id"] = api_request_id
        shop_id = _loggable_id((getattr(event, "uri_params", None) or {}).get("shop_id"))
        if shop_id:
            keys["shop_id"] = shop_id
    return keys


def lambda_middleware(event: Any, get_response: Callable[[Any], Any]) -> Any:
    from fenxiao.bootstrap import container

    # Every entry point (HTTP, queues, timers): settings validated and tables bound before any handler
    # code runs. Cached per container, so only the cold start pays for it.
    container()
    log = logger()
    log.clear_state()
    log.append_keys(**invocation_keys(event))
    try:
        return get_response(event)
    finally:
        try:
            flush_metrics()
        except Exception:  # a metrics problem must never fail the invocation
            log.warning("metrics flush failed")


def sqs_batch(event: Any, handle: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Run ``handle(message)`` for each record; failures are reported per record (Lambda's partial batch
    response, ``batchItemFailures``), never as a failure of the whole batch. A plain loop, as Powertools'
    BatchProcessor with raise_on_entire_batch_failure=False answers: its import loads every event data class
    and parser model Powertools has (about 70 ms of a worker's cold start)."""
    raw = event.to_dict() if hasattr(event, "to_dict") else event
    log = logger()
    failures: list[dict[str, str]] = []
    for record in raw["Records"]:
        log.remove_keys(["shop_id"])  # the previous record's shop must not label this record's lines
        log.append_keys(message_id=record["messageId"])
        try:
            message = json.loads(record["body"])
        except json.JSONDecodeError:
            log.error("message is not JSON; it will go to the dead-letter queue after its retries")
            failures.append({"itemIdentifier": record["messageId"]})
            continue
        shop_id = _loggable_id(message.get("shop_id")) if isinstance(message, dict) else None
        if shop_id:
            log.append_keys(shop_id=shop_id)
        try:
            handle(message)
        except Exception:
            log.warning("message failed; it will be retried, then dead-lettered", exc_info=True)
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}
