"""moto's DynamoDB without its whole-table costs: the local stack's engine (``fenxiao local up``, the e2e
tier, the benchmarks and the fault storm all run on it).

moto 5 makes three operations cost time proportional to everything stored in a table, so a local shop
slows down as it fills (measured: 0.3 s per order at 50 orders, 2.5 s at 300):

- ``TransactWriteItems`` deep-copies every table it touches, once per item of the transaction, so it can
  roll back by putting the copies back;
- a ``Query`` on a table's own key walks and sorts every item of the table to find one partition;
- a ``Query`` on a secondary index does the same to find one index partition.

The engine keeps moto's own code for all three and narrows only what they copy and walk: a transaction
saves copies of the items it targets (the only items a Put, Update, Delete or ConditionCheck can change)
and puts those back when moto cancels it; a base-table query starts from the one partition it names; an
index query starts from the items whose index hash attribute holds the value it names, found in a
per-index partition map that every write keeps current. moto then matches, sorts, pages, filters and
projects exactly as before, so the answers are moto's (``tests/storm/test_fast_moto.py`` checks it on
random workloads). A DynamoDB answer that is plain JSON already (moto keeps items in wire form) is written
with ``json.dumps`` directly; one holding bytes goes through moto's serializer as before.

The patch reaches into moto's internals, so it runs only on the moto versions it was verified against
(``VERIFIED``); ``check_moto()`` refuses any other with a message saying so.
"""

from __future__ import annotations

import copy
import inspect
import threading
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import metadata
from typing import Any

# The moto releases the engine was verified against: [first, end). pyproject.toml pins the same range.
VERIFIED = ((5, 2, 6), (5, 3))
# Table.query(self, hash_key, range_comparison, range_objs, limit, exclusive_start_key,
#             scan_index_forward, projection_expressions, index_name, ...): index_name is args[6]
_INDEX_NAME_POSITION = 6


class MotoVersionError(RuntimeError):
    """The installed moto is not one the engine was verified against."""


def _release(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split("."):
        digits = "".join(c for c in piece if c.isdigit()) if piece[:1].isdigit() else ""
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def check_moto(version: str | None = None) -> None:
    """Raise MotoVersionError unless moto ``version`` (default: the installed one) is in ``VERIFIED`` and
    has the internals the engine replaces."""
    installed = version or metadata.version("moto")
    first, end = VERIFIED
    wanted = f"moto>={'.'.join(map(str, first))},<{'.'.join(map(str, end))}"
    if not first <= _release(installed) < end:
        raise MotoVersionError(
            f"moto {installed} is installed; the local stack's DynamoDB engine was verified against "
            f"{wanted} only (pyproject.toml). Reinstall with: python3 dev.py up (or pip install '{wanted}')"
        )
    from moto.dynamodb.models.table import Table

    params = list(inspect.signature(Table.query).parameters)
    if params[2 + _INDEX_NAME_POSITION] != "index_name" or "hash_key_conditions" not in params:
        raise MotoVersionError(f"moto {installed}: Table.query's arguments moved; the engine cannot run")


# ---------------------------------------------------------------- per-index partition maps

_MAP = "_fenxiao_index_map"
_KEY_TYPES = frozenset({"S", "N", "B"})


class _IndexMap:
    """For one table: index name -> index hash value -> primary keys of the items holding it, and the
    reverse (primary key -> index name -> value), so a write can move its item between partitions."""

    def __init__(self, table: Any) -> None:
        self.items = table.items  # the dict this map describes (a restored table gets a new one)
        self.attrs = {index.name: _hash_attr(index) for index in table.all_indexes()}
        self.partitions: dict[str, dict[Any, dict[Any, None]]] = {name: {} for name in self.attrs}
        self.where: dict[Any, dict[str, Any]] = {}
        for item in _every_item(table):
            self.add(item)

    def add(self, item: Any) -> None:
        key = (item.hash_key, item.range_key)
        placed = {}
        for name, attr in self.attrs.items():
            value = item.attrs.get(attr) if attr else None
            if value is not None and value.type in _KEY_TYPES:  # a key is S, N or B (others never match)
                self.partitions[name].setdefault(value, {})[key] = None
                placed[name] = value
        if placed:
            self.where[key] = placed

    def remove(self, key: Any) -> None:
        for name, value in self.where.pop(key, {}).items():
            partition = self.partitions[name][value]
            partition.pop(key, None)
            if not partition:
                del self.partitions[name][value]


def _hash_attr(index: Any) -> str | None:
    hashes = [k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH"]
    return hashes[0] if hashes else None


def _every_item(table: Any) -> Iterator[Any]:
    for value in table.items.values():
        if table.range_key_attr:
            yield from value.values()
        else:
            yield value


def _lookup(table: Any, hash_value: Any, range_value: Any) -> Any:
    if table.range_key_attr:
        return (table.items.get(hash_value) or {}).get(range_value)
    return table.items.get(hash_value)


def _index_map(table: Any) -> _IndexMap:
    current = table.__dict__.get(_MAP)
    names = {index.name for index in table.all_indexes()}
    if current is None or current.items is not table.items or set(current.attrs) != names:
        current = _IndexMap(table)
        table.__dict__[_MAP] = current
    return current


def _reindex(table: Any, hash_value: Any, range_value: Any) -> None:
    """Move one primary key's item to the index partitions its current attributes name."""
    current = table.__dict__.get(_MAP)
    if current is None or current.items is not table.items:
        return  # not built yet (or for another items dict): the next index query builds it from scratch
    key = (hash_value, range_value if table.range_key_attr else None)
    current.remove(key)
    item = _lookup(table, hash_value, key[1])
    if item is not None:
        current.add(item)


def _forget_maps(backend: Any) -> None:
    for table in backend.tables.values():
        table.__dict__.pop(_MAP, None)


def _all_items_order(item: Any) -> Any:
    # Table.all_items()'s order: moto's index sort is stable, so equal index keys keep this order
    return (item.hash_key, item.range_key) if item.range_key else item.hash_key


# ---------------------------------------------------------------- the patched operations

_originals: dict[str, Any] = {}


class _TablesNotCopied:
    """Stands in for the ``copy`` module inside moto's DynamoDB backend while a transaction runs: a Table
    is "copied" as itself (rolling back then puts back the same table, a no-op), anything else (moto copies
    an item before updating it) is copied for real."""

    @staticmethod
    def deepcopy(value: Any, memo: Any = None) -> Any:
        from moto.dynamodb.models.table import Table

        if isinstance(value, Table):
            return value
        return copy.deepcopy(value, memo)


def _target(table: Any, op_type: str, op: dict[str, Any]) -> tuple[Any, Any] | None:
    from moto.dynamodb.models.dynamo_type import DynamoType

    source = op.get("Item") if op_type == "Put" else op.get("Key")
    if not source or table.hash_key_attr not in source:
        return None  # moto rejects it before changing anything
    if table.range_key_attr is not None and table.range_key_attr not in source:
        return None
    try:
        hash_value = DynamoType(source[table.hash_key_attr])
        range_value = DynamoType(source[table.range_key_attr]) if table.range_key_attr else None
    except Exception:
        return None  # a malformed key: moto rejects it before changing anything
    return hash_value, range_value


def _transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
    from moto.dynamodb import models as dynamodb_models

    saved = []
    for entry in transact_items:
        for op_type, op in entry.items() if isinstance(entry, dict) else ():
            table = self.tables.get(op.get("TableName", "")) if isinstance(op, dict) else None
            target = _target(table, op_type, op) if table is not None else None
            if target is not None:
                current = _lookup(table, *target)
                saved.append((table, *target, copy.deepcopy(current)))
    real_copy = dynamodb_models.copy
    dynamodb_models.copy = _TablesNotCopied  # type: ignore[assignment]
    try:
        _originals["transact"](self, transact_items)
    except Exception:
        _put_back(saved)
        raise
    finally:
        dynamodb_models.copy = real_copy
        for table, hash_value, range_value, _ in saved:
            _reindex(table, hash_value, range_value)


def _put_back(saved: list[Any]) -> None:
    for table, hash_value, range_value, item in reversed(saved):
        if range_value is not None:
            partition = table.items[hash_value]
            if item is None:
                partition.pop(range_value, None)
                if not partition:
                    del table.items[hash_value]
            else:
                partition[range_value] = item
        elif item is None:
            table.items.pop(hash_value, None)
        else:
            table.items[hash_value] = item


def _update_item(self: Any, table_name: str, key: Any, *args: Any, **kwargs: Any) -> Any:
    # moto updates the stored item in place: re-place it in the index partitions afterwards
    try:
        return _originals["update_item"](self, table_name, key, *args, **kwargs)
    finally:
        table = self.tables.get(table_name)
        if table is not None and isinstance(key, dict):
            target = _target(table, "Update", {"Key": key})
            if target is not None:
                _reindex(table, *target)


def _table_put_item(self: Any, item_attrs: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
    item = _originals["table_put_item"](self, item_attrs, *args, **kwargs)
    _reindex(self, item.hash_key, item.range_key)
    return item


def _table_delete_item(self: Any, hash_key: Any, range_key: Any) -> Any:
    item = _originals["table_delete_item"](self, hash_key, range_key)
    _reindex(self, hash_key, range_key)
    return item


def _forgetting(name: str) -> Callable[..., Any]:
    """A backend operation that writes items by a path the maps do not follow (PartiQL, restores,
    imports, index changes): the maps of every table are rebuilt on their next index query."""

    def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return _originals[name](self, *args, **kwargs)
        finally:
            _forget_maps(self)

    return run


_FORGETTING = (
    "execute_statement",
    "execute_transaction",
    "batch_execute_statement",
    "restore_table_from_backup",
    "restore_table_to_point_in_time",
    "import_table",
    "update_table",
)


def _query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
    index_name = args[_INDEX_NAME_POSITION] if len(args) > _INDEX_NAME_POSITION else kwargs.get("index_name")
    if index_name:
        candidates = _index_candidates(self, index_name, hash_key, kwargs.get("hash_key_conditions"))
        if candidates is None:
            return _originals["query"](self, hash_key, *args, **kwargs)
    elif hash_key is None or self.range_key_attr is None:
        return _originals["query"](self, hash_key, *args, **kwargs)
    else:
        candidates = sorted((self.items.get(hash_key) or {}).values(), key=lambda i: i.range_key)
    # moto builds a query from all_items(); give it only the partition it asks for (it still matches,
    # sorts, pages, filters and projects them itself)
    self.all_items = types.MethodType(lambda _self: candidates, self)  # type: ignore[method-assign]
    try:
        return _originals["query"](self, hash_key, *args, **kwargs)
    finally:
        del self.all_items


def _index_candidates(table: Any, index_name: str, hash_key: Any, conditions: Any) -> list[Any] | None:
    """Every item whose index hash attribute holds the queried value (a superset of what moto keeps), in
    all_items() order; None when the engine cannot tell (moto then walks the table as before)."""
    index = next((i for i in table.all_indexes() if i.name == index_name), None)
    attr = _hash_attr(index) if index is not None else None
    if attr is None:
        return None  # moto raises its own error
    value = dict(conditions).get(attr) if conditions else hash_key
    if value is None:
        return None
    keys = _index_map(table).partitions[index_name].get(value, {})
    items = [_lookup(table, hash_value, range_value) for hash_value, range_value in keys]
    return sorted((i for i in items if i is not None), key=_all_items_order)


_PLAIN_JSON_OPERATIONS = frozenset(
    {"BatchGetItem", "DeleteItem", "GetItem", "PutItem", "Query", "TransactWriteItems", "UpdateItem"}
)


def _serialize_result(self: Any, resp: Any, result: Any) -> Any:
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
    return _originals["serialize"](self, resp, result)


def _retention_still_valid(self: Any, queue_name: str, message: Any) -> bool:
    # moto read the period through get_queue_attributes, which recounts the whole queue for every message
    # a receive hands out (O(n²) in the queue's length); the period itself is the queue's attribute
    from moto.sqs import models as sqs_models

    retention_period = self.get_queue(queue_name).message_retention_period
    return bool(retention_period + message.sent_timestamp / 1000 > sqs_models.unix_time())


_sending = threading.local()


def _send_message(self: Any, queue_name: str, *args: Any, **kwargs: Any) -> Any:
    # moto's send_message reads one attribute through Queue.attributes, which counts every message of the
    # queue (three list walks per send, so O(n) in the backlog): answer that read alone while it sends
    # (not when moto itself hands the message to a Lambda mapping: that receive is moto's as it is)
    if self.get_queue(queue_name).lambda_event_source_mappings:
        return _originals["sqs_send"](self, queue_name, *args, **kwargs)
    _sending.active = True
    try:
        return _originals["sqs_send"](self, queue_name, *args, **kwargs)
    finally:
        _sending.active = False


def _send_attributes(queue: Any) -> dict[str, Any]:
    """What moto's ``Queue.attributes`` holds under ContentBasedDeduplication (only a FIFO queue has it,
    a bool lowered to "true"/"false"): the one key send_message reads."""
    if not queue.fifo_queue:
        return {}
    value = queue.content_based_deduplication
    return {"ContentBasedDeduplication": str(value).lower() if isinstance(value, bool) else value}


def _queue_attributes(self: Any) -> dict[str, Any]:
    if getattr(_sending, "active", False):
        return _send_attributes(self)
    attributes: dict[str, Any] = _originals["queue_attributes"].fget(self)
    return attributes


# moto's Item size limit (dynamo_type.LimitedSizeDict.__setitem__): an attribute may be added while the
# item, with it, stays within this many bytes
_ITEM_SIZE_LIMIT = 405000


def _item_init(self: Any, hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> None:
    # moto's LimitedSizeDict re-sizes every attribute already set on each insert, so building an item was
    # quadratic in its attributes; the same check on a running total, in the same order
    from moto.dynamodb.models import dynamo_type

    self.hash_key = hash_key
    self.range_key = range_key
    self.attrs = dynamo_type.LimitedSizeDict()
    size = 0
    for key, value in attrs.items():
        typed = dynamo_type.DynamoType(value)
        size += dynamo_type.bytesize(key) + typed.size()
        if size > _ITEM_SIZE_LIMIT:
            raise dynamo_type.ItemSizeTooLarge
        dict.__setitem__(self.attrs, key, typed)


def _deepcopy_ast(value: Any, memo: dict[int, Any] | None = None) -> Any:
    """copy.deepcopy for moto's expression trees, without pickling's __reduce_ex__ per node: a node is
    rebuilt from its __dict__ and a list item by item, registered in ``memo`` first as deepcopy does (so
    parent links land on the copies); anything else goes to copy.deepcopy with the same memo."""
    memo = {} if memo is None else memo
    kind = type(value)
    if kind in _ATOMS:
        return value
    found = memo.get(id(value))
    if found is not None:
        return found
    if kind is list:
        copied: list[Any] = []
        memo[id(value)] = copied
        for item in value:
            copied.append(_deepcopy_ast(item, memo))
        return copied
    if _is_node(kind):
        node = object.__new__(kind)
        memo[id(value)] = node
        state = node.__dict__
        for name, attribute in value.__dict__.items():
            state[name] = _deepcopy_ast(attribute, memo)
        return node
    return copy.deepcopy(value, memo)


_ATOMS = frozenset({str, int, bool, float, type(None)})
_node_kinds: dict[type, bool] = {}


def _is_node(kind: type) -> bool:
    # ABCMeta's isinstance is slow and asked for every value of a tree: once per class
    found = _node_kinds.get(kind)
    if found is None:
        from moto.dynamodb.parsing.ast_nodes import Node

        found = _node_kinds[kind] = issubclass(kind, Node)
    return found


_processed: dict[tuple[type, type], bool] = {}


def _traverse_node_recursively(self: Any, node: Any, child_id: int = -1) -> Any:
    # moto's DepthFirstTraverser, with its two isinstance tests (ABCMeta's, slow, on every node of every
    # traversal of every update) answered once per class: a processor's _processing_map keys are literals
    kind = type(node)
    if not _is_node(kind):
        return node
    parent_node = node.parent
    if node.children is not None:
        for i, child_node in enumerate(node.children):
            self.pre_processing_of_child(node, i)
            self.traverse_node_recursively(child_node, i)
    key = (type(self), kind)
    processed = _processed.get(key)
    if processed is None:
        processed = _processed[key] = issubclass(kind, self.nodes_to_be_processed())
    if processed:
        node = self.process(node)
        node.parent = parent_node
        if parent_node:
            parent_node.children[child_id] = node
    return node


# ---------------------------------------------------------------- parsing once per distinct text

# moto re-parses every expression of every request; the product sends a handful of distinct texts. The
# caches keep what depends on the text alone (bounded: a workload of ever-new texts clears them).
_CACHE_LIMIT = 4096
_update_asts: dict[str, Any] = {}
_lexed_conditions: dict[str, Any] = {}
_method_names: dict[type, list[str]] = {}


def _bounded(cache: dict[Any, Any], key: Any, value: Any) -> Any:
    if len(cache) >= _CACHE_LIMIT:
        cache.clear()
    cache[key] = value
    return value


def _update_expression_ast(cls: Any, expression_str: str) -> Any:
    # the AST is only read (find_clauses) or deep-copied (every Validator copies it before changing it)
    found = _update_asts.get(expression_str)
    if found is None:
        found = _bounded(
            _update_asts, expression_str, _originals["update_parse"].__func__(cls, expression_str)
        )
    return found


def _lex_condition_expression(self: Any) -> Any:
    # the lexed nodes are immutable tuples; the parser consumes the deque, so each parse gets its own
    from collections import deque

    text = self.condition_expression
    found = _lexed_conditions.get(text)
    if found is None:
        found = _bounded(_lexed_conditions, text, tuple(_originals["condition_lex"](self)))
    return deque(found)


def _method_names_from_class(clazz: Any) -> list[str]:
    # moto lists a response class's methods with inspect.getmembers on every request
    found = _method_names.get(clazz)
    if found is None:
        found = _bounded(_method_names, clazz, _originals["method_names"](clazz))
    return list(found)


def _forget_parses() -> None:
    for cache in (_update_asts, _lexed_conditions, _method_names, _condition_trees, _compiled, _shapes_kept):
        cache.clear()


# ---------------------------------------------------------------- update shape checks, once per shape

# moto's UpdateExpressionValidator walks the whole tree ten times per update item; its first three walks
# (ActionCountValidator, OverlappingPathsValidator, UpdateHashRangeKeyValidator) only check the expression's
# shape against its attribute names and the table's keys, and change nothing. Once they passed for a tree
# (the same object for the same text: _update_expression_ast), names and keys, they are not walked again;
# the seven walks that read values and the item run as before.
_SHAPE_CHECKS = ("ActionCountValidator", "OverlappingPathsValidator", "UpdateHashRangeKeyValidator")
_shapes_checked: dict[tuple[Any, ...], Any] = {}


def _validator_init(
    self: Any, expression: Any, expression_attribute_names: Any, *args: Any, **kwargs: Any
) -> Any:
    _originals["validator_init"](self, expression, expression_attribute_names, *args, **kwargs)
    names = tuple(type(p).__name__ for p in self.processors[: len(_SHAPE_CHECKS)])
    if names != _SHAPE_CHECKS:
        return  # not an update validator (or moto reordered its checks): every walk runs
    shape = (
        id(expression),
        tuple((expression_attribute_names or {}).items()),
        tuple(self.table.table_key_attrs),
    )
    if _shapes_checked.get(shape) is expression:
        self.processors = self.processors[len(_SHAPE_CHECKS) :]
    else:
        self._fenxiao_shape = (shape, expression)


def _validator_validate(self: Any) -> Any:
    node = _originals["validator_validate"](self)
    unchecked = self.__dict__.get("_fenxiao_shape")
    if unchecked is not None:  # every walk passed: the shape's three need not run again
        _bounded(_shapes_checked, unchecked[0], unchecked[1])
    return node


# ---------------------------------------------------------------- condition trees and answers, walked once

# A condition's syntax tree depends on its text and attribute names; the values only fill its value leaves.
# Key: (text, names, the values' names in order): with the same names every lookup moto made succeeds again.
_condition_trees: dict[Any, tuple[Any, list[str], list[str]]] = {}
_VALUE_KIND = "EXPRESSION_ATTRIBUTE_VALUE"  # ConditionExpressionParser.Kind.EXPRESSION_ATTRIBUTE_VALUE


def _parse_condition(self: Any) -> Any:
    # moto lexes, resolves paths, functions, comparators and parentheses for every request; the tree is
    # kept per text and names, its value leaves refilled from this request's values, and moto's own
    # _make_op_condition builds the request's condition from it (so value-dependent checks still run)
    text, names, values = (
        self.condition_expression,
        self.expression_attribute_names,
        self.expression_attribute_values,
    )
    if not text:
        return _originals["condition_parse"](self)
    key = (text, tuple(names.items()) if names else None, tuple(values) if values else None)
    found = _condition_trees.get(key)
    if found is None:
        seen: list[Any] = []
        make = type(self)._make_op_condition

        def recording(node: Any) -> Any:  # the outermost call receives the finished tree
            if not seen:
                seen.append(node)
            return make(self, node)

        self._make_op_condition = recording
        try:
            op = _originals["condition_parse"](self)
        finally:
            del self._make_op_condition
        tree = (seen[0], list(self.expr_attr_names_found), list(self.expr_attr_values_found))
        _bounded(_condition_trees, key, tree)
        return op
    node, names_found, values_found = found
    self.expr_attr_names_found.extend(names_found)
    self.expr_attr_values_found.extend(values_found)
    return self._make_op_condition(_refill(node, values))


def _refill(node: Any, values: Any) -> Any:
    if node.kind == _VALUE_KIND:
        return node._replace(value=values[node.text])
    if not node.children:
        return node
    return node._replace(children=[_refill(child, values) for child in node.children])


def _dynamo_to_dict(obj: Any) -> Any:
    # moto's dynamo_to_dict asks isinstance(datetime), isinstance(DynamoType), hasattr(to_json), dict, list
    # of every value of every answer; the same conversion by exact type, anything else through moto's own
    from moto.dynamodb.models.dynamo_type import DynamoType

    kind = type(obj)
    if kind is DynamoType:
        if obj.type in _BINARY_TYPES:
            return _originals["to_dict"](obj)
        value = obj.value
        return {obj.type: value if type(value) in _ATOMS else _dynamo_to_dict(value)}
    if kind is dict:
        return {k: _dynamo_to_dict(v) for k, v in obj.items()}
    if kind is list:
        return [_dynamo_to_dict(v) for v in obj]
    if kind in _ATOMS:
        return obj
    return _originals["to_dict"](obj)


_BINARY_TYPES = frozenset({"B", "BS"})


# moto's JSON request parser looks up a handler by name (getattr on an f-string) for every value of every
# request; the same walk compiled once per input shape into closures. Structures, lists, maps and plain
# values (strings, booleans) are walked as moto's RequestParser/BaseJSONParser walk them; every other kind
# (blobs, timestamps, numbers) still calls the parser's own handler.
_Parse = Callable[[Any, Any], Any]  # (the parser, a value) -> the parsed value
_compiled: dict[Any, _Parse] = {}
_shapes_kept: list[Any] = []  # the compiled shapes (and resolvers) stay alive: their ids are not reused


def _parse_json_body(self: Any, raw_body: Any, shape: Any) -> Any:
    from moto.core.parse import RequestParser

    if type(self)._parse_shape is not RequestParser._parse_shape:
        return _originals["json_body"](self, raw_body, shape)
    if len(_compiled) >= _CACHE_LIMIT:  # bounded, as the parse caches above
        _compiled.clear()
        _shapes_kept.clear()
    parsed_json = self._parse_body_as_json(raw_body)
    return _compile(type(self), shape, {})(self, parsed_json)


def _compile(kind: type, shape: Any, building: dict[Any, _Parse]) -> _Parse:
    from moto.core.parse import BaseJSONParser, RequestParser

    # botocore resolves a member to a new Shape object each time: a shape is known by its service model's
    # resolver and its name (recursive shapes, such as DynamoDB's AttributeValue, then compile once)
    resolver = getattr(shape, "_shape_resolver", None)
    key = (kind, id(resolver), shape.name) if resolver is not None and shape.name else (kind, id(shape))
    found = _compiled.get(key) or building.get(key)
    if found is not None:
        return found
    handler = getattr(kind, f"_parse_{shape.type_name}", None)
    compiled: _Parse
    if handler is None or handler is RequestParser._default_handle:
        compiled = _identity
    elif handler is BaseJSONParser._parse_structure and not shape.is_document_type:
        members: list[tuple[str, str, _Parse]] = []

        def compiled(parser: Any, value: Any) -> Any:
            if value is None:
                return None
            final = parser.MAP_TYPE()
            get = value.get
            for name, json_name, parse in members:
                raw = get(json_name)
                if raw is not None:
                    final[name] = parse(parser, raw)
            return final

        building[key] = compiled
        for name, member in shape.members.items():
            members.append((name, member.serialization.get("name", name), _compile(kind, member, building)))
    elif handler is RequestParser._parse_list:
        item: list[_Parse] = []

        def compiled(parser: Any, value: Any) -> Any:
            parse = item[0]
            return [parse(parser, v) for v in value]

        building[key] = compiled
        item.append(_compile(kind, shape.member, building))
    elif handler is RequestParser._parse_map:
        pair: list[_Parse] = []

        def compiled(parser: Any, value: Any) -> Any:
            parse_key, parse_value = pair
            parsed = parser.MAP_TYPE()
            for k, v in value.items():
                actual_key = parse_key(parser, k)
                parsed[actual_key] = parse_value(parser, v)
            return parsed

        building[key] = compiled
        pair.extend((_compile(kind, shape.key, building), _compile(kind, shape.value, building)))
    else:  # a document structure, blobs, timestamps, numbers: the parser's own handler

        def compiled(parser: Any, value: Any) -> Any:
            return handler(parser, shape, value)

    _shapes_kept.append((shape, resolver))
    _compiled[key] = compiled
    return compiled


def _identity(parser: Any, value: Any) -> Any:
    return value


def _parse_points() -> list[tuple[Any, str, str, Any]]:
    from moto.core.parse import JSONParser
    from moto.dynamodb import responses as dynamodb_responses
    from moto.dynamodb.comparisons import ConditionExpressionParser

    return [
        (ConditionExpressionParser, "parse", "condition_parse", _parse_condition),
        (dynamodb_responses, "dynamo_to_dict", "to_dict", _dynamo_to_dict),
        (JSONParser, "_parse_json_body", "json_body", _parse_json_body),
    ]


# ---------------------------------------------------------------- switching it on and off

_users = 0
_switch = threading.Lock()


def _patch_points() -> list[tuple[Any, str, str, Any]]:
    """(owner, attribute, key in _originals, replacement)."""
    from moto.core import responses as core_responses
    from moto.core.serialize import ResponseSerializer
    from moto.dynamodb.comparisons import ConditionExpressionParser
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import Item
    from moto.dynamodb.models.table import Table
    from moto.dynamodb.parsing import validators
    from moto.dynamodb.parsing.ast_nodes import DepthFirstTraverser
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser
    from moto.sqs.models import Queue, SQSBackend

    points = [
        (DynamoDBBackend, "transact_write_items", "transact", _transact_write_items),
        (DynamoDBBackend, "update_item", "update_item", _update_item),
        (Table, "put_item", "table_put_item", _table_put_item),
        (Table, "delete_item", "table_delete_item", _table_delete_item),
        (Table, "query", "query", _query),
        (ResponseSerializer, "_serialize_result", "serialize", _serialize_result),
        (SQSBackend, "is_message_valid_based_on_retention_period", "retention", _retention_still_valid),
        (SQSBackend, "send_message", "sqs_send", _send_message),
        (Queue, "attributes", "queue_attributes", property(_queue_attributes)),
        (UpdateExpressionParser, "make", "update_parse", classmethod(_update_expression_ast)),
        (ConditionExpressionParser, "_lex_condition_expression", "condition_lex", _lex_condition_expression),
        (core_responses, "method_names_from_class", "method_names", _method_names_from_class),
        (Item, "__init__", "item_init", _item_init),
        (validators, "deepcopy", "validator_copy", _deepcopy_ast),
        (DepthFirstTraverser, "traverse_node_recursively", "traverse", _traverse_node_recursively),
    ]
    points += [(DynamoDBBackend, name, name, _forgetting(name)) for name in _FORGETTING]
    points += [
        (validators.Validator, "__init__", "validator_init", _validator_init),
        (validators.Validator, "validate", "validator_validate", _validator_validate),
    ]
    points += _parse_points()
    return points


def install() -> None:
    """Switch the engine on for this process (counted: every install() is paired with an uninstall())."""
    global _users
    with _switch:
        if _users == 0:
            check_moto()
            for owner, attribute, key, replacement in _patch_points():
                _originals[key] = owner.__dict__[attribute]
                setattr(owner, attribute, replacement)
        _users += 1


def uninstall() -> None:
    global _users
    with _switch:
        if _users == 0:
            return
        _users -= 1
        if _users == 0:
            for owner, attribute, key, _ in _patch_points():
                setattr(owner, attribute, _originals.pop(key))
            _forget_parses()


def installed() -> bool:
    return _users > 0


@contextmanager
def item_level_moto() -> Iterator[None]:
    """The engine inside the block (in-process moto: the fault storm, the in-process benchmarks)."""
    install()
    try:
        yield
    finally:
        uninstall()


@contextmanager
def plain_moto() -> Iterator[None]:
    """Unpatched moto inside the block, even where the engine is on (the equivalence tests' reference)."""
    global _users
    with _switch:
        saved_users = _users
    for _ in range(saved_users):
        uninstall()
    try:
        yield
    finally:
        for _ in range(saved_users):
            install()
