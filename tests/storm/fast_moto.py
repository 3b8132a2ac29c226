"""moto's DynamoDB at storm scale: the same answers, without two whole-table costs per call.

moto 5 makes two operations cost time proportional to everything stored in a table, so a storm's cost
grows with the square of its size (measured: 0.3 s per order at 50 orders, 2.5 s at 300), and writes
every answer by walking the botocore output shape value by value (half of what a DynamoDB call costs):

- ``TransactWriteItems`` deep-copies every table it touches, once per item of the transaction, so it can
  roll back by putting the copies back;
- a ``Query`` on a table's own key walks and sorts every item of the table to find one partition.

``item_level_moto()`` keeps moto's own code for both and narrows only what they copy and walk: a
transaction saves copies of the items it targets (the only items a Put, Update, Delete or ConditionCheck
can change) and puts those back when moto cancels it; a base-table query starts from the one partition
it names (moto then sorts and filters it exactly as before). Index queries and scans are unchanged. A
DynamoDB answer that is plain JSON already (moto keeps items in wire form) is written with ``json.dumps``
directly; one holding bytes goes through moto's serializer as before.
``tests/storm/test_fast_moto.py`` checks that both give what unpatched moto gives.
"""

from __future__ import annotations

import copy
import inspect
import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from moto.core.serialize import ResponseSerializer
from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table

_original_transact = DynamoDBBackend.transact_write_items
_original_query = Table.query
_original_serialize_result = ResponseSerializer._serialize_result


class _TablesNotCopied:
    """Stands in for the ``copy`` module inside moto's DynamoDB backend while a transaction runs: a Table
    is "copied" as itself (rolling back then puts back the same table, a no-op), anything else (moto copies
    an item before updating it) is copied for real."""

    @staticmethod
    def deepcopy(value: Any, memo: Any = None) -> Any:
        if isinstance(value, Table):
            return value
        return copy.deepcopy(value, memo)


def _target(table: Table, op_type: str, op: dict[str, Any]) -> tuple[DynamoType, DynamoType | None] | None:
    source = op.get("Item") if op_type == "Put" else op.get("Key")
    if not source or table.hash_key_attr not in source:
        return None  # moto rejects it before changing anything
    if table.range_key_attr is not None and table.range_key_attr not in source:
        return None
    hash_value = DynamoType(source[table.hash_key_attr])
    range_value = DynamoType(source[table.range_key_attr]) if table.range_key_attr else None
    return hash_value, range_value


def _saved_targets(backend: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> list[Any]:
    saved = []
    for entry in transact_items:
        for op_type, op in entry.items():
            table = backend.tables.get(op.get("TableName", ""))
            if table is None:
                continue
            target = _target(table, op_type, op)
            if target is None:
                continue
            hash_value, range_value = target
            current = table.get_item(hash_value, range_value)
            saved.append((table, hash_value, range_value, copy.deepcopy(current)))
    return saved


def _put_back(saved: list[Any]) -> None:
    for table, hash_value, range_value, item in reversed(saved):
        if range_value is not None:
            partition = table.items[hash_value]
            if item is None:
                partition.pop(range_value, None)
            else:
                partition[range_value] = item
        elif item is None:
            table.items.pop(hash_value, None)
        else:
            table.items[hash_value] = item


def _transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    saved = _saved_targets(self, transact_items)
    real_copy = dynamodb_models.copy
    dynamodb_models.copy = _TablesNotCopied  # type: ignore[assignment]
    try:
        _original_transact(self, transact_items)
    except Exception:
        _put_back(saved)
        raise
    finally:
        dynamodb_models.copy = real_copy


# Table.query(self, hash_key, range_comparison, range_objs, limit, exclusive_start_key,
#             scan_index_forward, projection_expressions, index_name, ...): index_name is args[6]
_INDEX_NAME_POSITION = 6
# A moto that moves the argument must fail here, not silently answer index queries from one partition.
assert list(inspect.signature(_original_query).parameters)[2 + _INDEX_NAME_POSITION] == "index_name"


def _query(self: Table, hash_key: DynamoType | None, *args: Any, **kwargs: Any) -> Any:
    index_name = args[_INDEX_NAME_POSITION] if len(args) > _INDEX_NAME_POSITION else kwargs.get("index_name")
    if index_name or hash_key is None or self.range_key_attr is None:
        return _original_query(self, hash_key, *args, **kwargs)
    partition = dict(self.items.get(hash_key) or {})
    # moto builds a base-table query from all_items(); give it only the partition it asks for
    only_partition = types.MethodType(
        lambda _self: sorted(partition.values(), key=lambda i: i.range_key), self
    )
    self.all_items = only_partition  # type: ignore[method-assign]
    try:
        return _original_query(self, hash_key, *args, **kwargs)
    finally:
        del self.all_items


_PLAIN_JSON_OPERATIONS = frozenset(
    {"BatchGetItem", "DeleteItem", "GetItem", "PutItem", "Query", "TransactWriteItems", "UpdateItem"}
)


def _serialize_result(self: ResponseSerializer, resp: Any, result: Any) -> Any:
    if (
        self.service_model.service_name == "dynamodb"
        and self.operation_model.name in _PLAIN_JSON_OPERATIONS
        and isinstance(result, dict)
    ):
        try:  # moto's DynamoDB answers are already in wire form: the same JSON, without walking the shape
            return self._serialized_result_to_response(
                resp, result, self.operation_model.output_shape, result
            )
        except TypeError:
            pass  # bytes (a binary attribute): moto's serializer base64-encodes them
    return _original_serialize_result(self, resp, result)


@contextmanager
def item_level_moto() -> Iterator[None]:
    """Inside the block, moto's transactions copy only their target items, base-table queries read only
    their partition, and DynamoDB answers are written as JSON directly. Single-threaded use (the storm is)."""
    DynamoDBBackend.transact_write_items = _transact_write_items  # type: ignore[method-assign]
    Table.query = _query  # type: ignore[method-assign]
    ResponseSerializer._serialize_result = _serialize_result  # type: ignore[method-assign]
    try:
        yield
    finally:
        DynamoDBBackend.transact_write_items = _original_transact  # type: ignore[method-assign]
        Table.query = _original_query  # type: ignore[method-assign]
        ResponseSerializer._serialize_result = _original_serialize_result  # type: ignore[method-assign]
