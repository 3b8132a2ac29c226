"""Count AWS round trips and DynamoDB write units of the code under measurement.

Every botocore API call is counted (service, operation). For DynamoDB writes the write units are computed
by DynamoDB's rules from the item sizes: 1 WCU per started KB of the larger of the item before and after
the write, doubled inside a transaction (condition checks included). The items are read before and after
through a separate, uncounted client, so measuring changes nothing the code sees.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import botocore.client

# Context variables, not thread-locals: work the measured code hands to a pool in a copy of its context
# (settlement's refund reads) is counted too.
_measure: ContextVar[Measure | None] = ContextVar("measure", default=None)
_inside: ContextVar[bool] = ContextVar("inside", default=False)
_lock = threading.Lock()  # the pool's threads add to one Measure


def _value_size(value: dict[str, Any]) -> int:
    ((kind, v),) = value.items()
    if kind == "S":
        return len(v.encode())
    if kind == "N":
        digits = len(str(v).lstrip("-").replace(".", "").lstrip("0")) or 1
        return math.ceil(digits / 2) + 1
    if kind == "B":
        return len(v) if isinstance(v, bytes | bytearray) else len(str(v))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in v)
    if kind == "NS":
        return sum(math.ceil(len(str(n)) / 2) + 1 for n in v)
    if kind == "L":
        return 3 + sum(_value_size(x) + 1 for x in v)
    if kind == "M":
        return 3 + sum(len(k.encode()) + _value_size(x) + 1 for k, x in v.items())
    return len(str(v))


def item_size(item: dict[str, Any] | None) -> int:
    if not item:
        return 0
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def units(size: int) -> int:
    return max(1, math.ceil(size / 1024))


@dataclass
class Measure:
    calls: Counter[str] = field(default_factory=Counter)
    write_units: float = 0.0
    read_items: int = 0

    @property
    def round_trips(self) -> int:
        return sum(self.calls.values())

    def of(self, service: str) -> int:
        return sum(n for k, n in self.calls.items() if k.startswith(service + "."))

    def summary(self) -> str:
        ops = ", ".join(f"{k}={n}" for k, n in sorted(self.calls.items()))
        return (
            f"{self.round_trips} round trips ({ops}); {self.write_units:g} WCU; {self.read_items} items read"
        )


_original = botocore.client.BaseClient._make_api_call
_peek_client: Any = None


def _peek() -> Any:
    global _peek_client
    if _peek_client is None:
        import boto3

        _peek_client = boto3.client("dynamodb", region_name="us-east-1")
    return _peek_client


def _get(table: str, key: dict[str, Any]) -> dict[str, Any] | None:
    token = _inside.set(True)
    try:
        return _peek().get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
    finally:
        _inside.reset(token)


def _key_of(table: str, item: dict[str, Any]) -> dict[str, Any]:
    schema = _schemas.get(table)
    if schema is None:
        token = _inside.set(True)
        try:
            schema = [
                k["AttributeName"] for k in _peek().describe_table(TableName=table)["Table"]["KeySchema"]
            ]
        finally:
            _inside.reset(token)
        _schemas[table] = schema
    return {name: item[name] for name in schema}


_schemas: dict[str, list[str]] = {}


def _write_targets(
    operation: str, params: dict[str, Any]
) -> list[tuple[str, dict[str, Any], dict[str, Any] | None, int]]:
    """(table, key, new item or None, multiplier) for each item a write touches."""
    if operation == "PutItem":
        return [(params["TableName"], _key_of(params["TableName"], params["Item"]), params["Item"], 1)]
    if operation in ("UpdateItem", "DeleteItem"):
        return [(params["TableName"], params["Key"], None, 1)]
    if operation == "BatchWriteItem":
        out = []
        for table, requests in params["RequestItems"].items():
            for r in requests:
                if "PutRequest" in r:
                    item = r["PutRequest"]["Item"]
                    out.append((table, _key_of(table, item), item, 1))
                else:
                    out.append((table, r["DeleteRequest"]["Key"], None, 1))
        return out
    if operation == "TransactWriteItems":
        out = []
        for entry in params["TransactItems"]:
            ((kind, body),) = entry.items()
            table = body["TableName"]
            if kind == "Put":
                out.append((table, _key_of(table, body["Item"]), body["Item"], 2))
            else:
                out.append((table, body["Key"], None, 2))
        return out
    return []


def _counting_call(self: Any, operation: str, params: dict[str, Any]) -> Any:
    measure = _measure.get()
    if measure is None or _inside.get():
        return _original(self, operation, params)
    service = self.meta.service_model.service_name
    with _lock:
        measure.calls[f"{service}.{operation}"] += (
            1  # counted before the call: a cancelled one is a round trip
        )
    targets = _write_targets(operation, params) if service == "dynamodb" else []
    before = [_get(t, k) for t, k, _, _ in targets]
    result = _original(self, operation, params)
    units_written = 0
    for (table, key, new, mult), old in zip(targets, before, strict=True):
        after = new if new is not None else _get(table, key)
        units_written += mult * units(max(item_size(old), item_size(after)))
    read = 0
    if service == "dynamodb":
        read = len(result.get("Items", [])) + (1 if result.get("Item") else 0)
        for items in result.get("Responses", {}).values():
            read += len(items)
    with _lock:
        measure.write_units += units_written
        measure.read_items += read
    return result


@contextmanager
def measuring() -> Iterator[Measure]:
    """Count the calls made in this context inside the block (and in copies of it handed to other threads)."""
    global _peek_client
    _peek_client = None  # a client of this block's environment: the endpoint may differ from the last block's
    _schemas.clear()
    measure = Measure()
    # put back what was there, not _original: a wrapper of _original (a bench's spy) may be in place by now
    replaced = botocore.client.BaseClient.__dict__["_make_api_call"]
    botocore.client.BaseClient._make_api_call = _counting_call  # type: ignore[method-assign]
    token = _measure.set(measure)
    try:
        yield measure
    finally:
        _measure.reset(token)
        botocore.client.BaseClient._make_api_call = replaced  # type: ignore[method-assign]
