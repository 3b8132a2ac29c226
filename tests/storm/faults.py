"""Faults for the storm: DynamoDB throttling and timeouts on a seeded 5 % of the product's DynamoDB calls,
and a queue handler that crashes after doing its work.

Only while ``armed`` (the driver arms it around the product's own code: an HTTP request through the
Chalice test client, one ``on_order_event`` invocation); the test's own reads are never touched.

A faulted DynamoDB call gets one of these, by weight:

- **retried by botocore** (the product never sees it, but botocore's retry runs for real): the first HTTP
  attempt is answered ``ProvisionedThroughputExceededException``/``ThrottlingException``, or times out
  (``ReadTimeoutError``/``ConnectTimeoutError``) before reaching DynamoDB, or reaches DynamoDB and *then*
  times out — the write happened, the answer was lost, and botocore sends the same write again;
- **surfaced** (retries exhausted — the product gets the exception): throttled, timed out before reaching
  DynamoDB, timed out *after* DynamoDB applied the write (the nastiest case for exactly-once), or, for
  ``TransactWriteItems``, cancelled with a ``ThrottlingError`` reason as DynamoDB does under load.

Backoff sleeps are zero while armed: the storm tests outcomes, not timing.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import botocore.client
import botocore.endpoint
import botocore.retries.standard
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError, ConnectTimeoutError, ReadTimeoutError
from moto.core.botocore_stubber import MockRawResponse

THROTTLE_CODES = ("ProvisionedThroughputExceededException", "ThrottlingException")

# kind -> weight among faulted calls
KINDS: dict[str, float] = {
    "throttle_retried": 0.20,
    "timeout_retried": 0.15,
    "lost_answer_retried": 0.20,
    "throttle_surfaced": 0.10,
    "timeout_surfaced": 0.10,
    "lost_answer_surfaced": 0.15,
    "transaction_throttled": 0.30,  # TransactWriteItems only (about one call in 25)
}


class HandlerCrash(Exception):
    """A record's processing died after its work was done: the batch reports the record failed."""


class InvocationCrash(BaseException):
    """The whole invocation died mid-batch (like a Lambda timeout): no record of the batch is reported
    done, so all of them come back, including those whose work was already committed."""


class Faults:
    def __init__(self, seed: int, rate: float = 0.05, record_crash_rate: float = 0.02) -> None:
        self.rng = random.Random(seed)
        self.rate = rate
        self.record_crash_rate = record_crash_rate
        self.counts: Counter[str] = Counter()
        self.calls = 0
        self._armed = False
        self._pending_transport: str | None = None
        self._crash_after_record: int | None = None  # invocation crash after this many records
        self._records_done = 0

    # ------------------------------------------------------------ arming

    @contextmanager
    def armed(self, invocation_crash_after: int | None = None) -> Iterator[None]:
        self._armed = True
        self._crash_after_record = invocation_crash_after
        self._records_done = 0
        try:
            yield
        finally:
            self._armed = False
            self._crash_after_record = None

    @contextmanager
    def installed(self) -> Iterator[None]:
        """Patch botocore for the block: the API call (surfaced faults), the HTTP attempt (faults botocore
        retries) and the retry backoff. The consumer's crashes come from ``wrap_consumer``."""
        original_call = botocore.client.BaseClient._make_api_call
        original_response = botocore.endpoint.Endpoint._do_get_response
        original_delay = botocore.retries.standard.ExponentialBackoff.delay_amount
        faults = self

        def make_api_call(client: Any, operation: str, params: dict[str, Any]) -> Any:
            return faults._api_call(original_call, client, operation, params)

        def do_get_response(endpoint: Any, request: Any, operation_model: Any, context: Any) -> Any:
            return faults._transport(original_response, endpoint, request, operation_model, context)

        def no_delay(backoff: Any, context: Any) -> float:
            return 0.0 if faults._armed else float(original_delay(backoff, context))

        botocore.client.BaseClient._make_api_call = make_api_call
        botocore.endpoint.Endpoint._do_get_response = do_get_response
        botocore.retries.standard.ExponentialBackoff.delay_amount = no_delay
        try:
            yield
        finally:
            botocore.client.BaseClient._make_api_call = original_call
            botocore.endpoint.Endpoint._do_get_response = original_response
            botocore.retries.standard.ExponentialBackoff.delay_amount = original_delay

    # ------------------------------------------------------------ DynamoDB faults

    def _draw(self, operation: str) -> str | None:
        self.calls += 1
        if self.rng.random() >= self.rate:
            return None
        weights = dict(KINDS)
        if operation != "TransactWriteItems":
            del weights["transaction_throttled"]  # only a transaction is cancelled for throttling
        kind = self.rng.choices(list(weights), weights=list(weights.values()))[0]
        self.counts[kind] += 1
        return kind

    def _api_call(
        self, original: Callable[..., Any], client: Any, operation: str, params: dict[str, Any]
    ) -> Any:
        if not self._armed or client.meta.service_model.service_name != "dynamodb":
            return original(client, operation, params)
        kind = self._draw(operation)
        if kind is None:
            return original(client, operation, params)
        if kind.endswith("_retried"):
            self._pending_transport = kind
            try:
                return original(client, operation, params)
            finally:
                self._pending_transport = None
        url = client.meta.endpoint_url
        if kind == "throttle_surfaced":
            raise _client_error(
                self.rng.choice(THROTTLE_CODES), "Rate of requests exceeds the allowed throughput.", operation
            )
        if kind == "timeout_surfaced":
            raise self._timeout(url)
        if kind == "transaction_throttled":
            reasons = [{"Code": "None"} for _ in params.get("TransactItems", [])]
            reasons[self.rng.randrange(len(reasons))] = {
                "Code": "ThrottlingError",
                "Message": "Throughput exceeds the current capacity of your table or index.",
            }
            raise _client_error(
                "TransactionCanceledException",
                "Transaction cancelled, please refer cancellation reasons for specific reasons",
                operation,
                reasons,
            )
        original(client, operation, params)  # lost_answer_surfaced: DynamoDB applied it
        raise ReadTimeoutError(endpoint_url=url)

    def _timeout(self, url: str) -> Exception:
        if self.rng.random() < 0.5:
            return ReadTimeoutError(endpoint_url=url)
        return ConnectTimeoutError(endpoint_url=url)

    def _transport(
        self, original: Callable[..., Any], endpoint: Any, request: Any, operation_model: Any, context: Any
    ) -> Any:
        kind, self._pending_transport = self._pending_transport, None  # only the first attempt
        if kind is None:
            return original(endpoint, request, operation_model, context)
        if kind == "throttle_retried":
            code = self.rng.choice(THROTTLE_CODES)
            body = (
                b'{"__type":"com.amazonaws.dynamodb.v20120810#%s","message":"Rate exceeded"}' % code.encode()
            )
            http = AWSResponse(request.url, 400, {"x-amzn-RequestId": "storm-fault"}, MockRawResponse(body))
            response_dict = botocore.endpoint.convert_to_response_dict(http, operation_model)
            parser = endpoint._response_parser_factory.create_parser(
                operation_model.service_model.resolved_protocol
            )
            return (http, parser.parse(response_dict, operation_model.output_shape)), None
        if kind == "timeout_retried":
            return None, self._timeout(request.url)
        original(endpoint, request, operation_model, context)  # lost_answer_retried: applied, answer lost
        return None, ReadTimeoutError(endpoint_url=request.url)

    # ------------------------------------------------------------ consumer crashes

    def wrap_consumer(self, reconcile: Callable[..., bool]) -> Callable[..., bool]:
        """``reconcile_order`` that may die after it returned (its transaction, if any, committed)."""

        def crashing(*args: Any, **kwargs: Any) -> bool:
            result = reconcile(*args, **kwargs)
            if not self._armed:
                return result
            self._records_done += 1
            if self._crash_after_record is not None and self._records_done > self._crash_after_record:
                self.counts["invocation_crash"] += 1
                self._crash_after_record = None
                raise InvocationCrash("the invocation died mid-batch")
            if self.rng.random() < self.record_crash_rate:
                self.counts["record_crash"] += 1
                raise HandlerCrash("the handler died after its work was done")
            return result

        return crashing


def _client_error(
    code: str, message: str, operation: str, reasons: list[dict[str, str]] | None = None
) -> ClientError:
    response: dict[str, Any] = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": 400, "MaxAttemptsReached": True, "RetryAttempts": 3},
    }
    if reasons is not None:
        response["CancellationReasons"] = reasons
    return ClientError(response, operation)
