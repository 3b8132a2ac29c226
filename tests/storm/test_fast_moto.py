"""``item_level_moto()`` changes how much moto copies, walks, parses and serializes — never what it
answers: the same operations give the same answers and leave the same tables with and without it. And the
local stack's in-process shortcut to moto answers what moto's HTTP server answers."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fenxiao_local.fast_moto import item_level_moto, plain_moto

pytestmark = pytest.mark.storm

TABLE = "Items"
T = TypeVar("T")


@pytest.fixture(autouse=True)
def _credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def _call(client: Any, operation: str, **params: Any) -> Any:
    """The answer without its request id, or the error code and cancellation reasons."""
    try:
        answer = getattr(client, operation)(**params)
    except client.exceptions.ClientError as exc:
        return {"error": exc.response["Error"]["Code"], "reasons": exc.response.get("CancellationReasons")}
    answer.pop("ResponseMetadata", None)
    return answer


def _exercise(client: Any = None) -> dict[str, Any]:
    import boto3

    client = client or boto3.client("dynamodb", region_name="us-east-1")
    client.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
            {"AttributeName": "owner", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "ByOwner",
                "KeySchema": [
                    {"AttributeName": "owner", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    out: dict[str, Any] = {}
    for p in range(3):
        for s in range(5):
            item = {"pk": _s(f"p{p}"), "sk": _s(f"s{s}"), "owner": _s(f"o{s % 2}"), "n": _n(s)}
            out[f"put {p} {s}"] = _call(client, "put_item", TableName=TABLE, Item=item)
    binary = {"pk": _s("bin"), "sk": _s("b"), "blob": {"B": b"\x00\xff"}}
    out["put binary"] = _call(client, "put_item", TableName=TABLE, Item=binary)

    def transact(*items: dict[str, Any]) -> Any:
        return _call(client, "transact_write_items", TransactItems=list(items))

    update = {
        "Update": {
            "TableName": TABLE,
            "Key": {"pk": _s("p0"), "sk": _s("s0")},
            "UpdateExpression": "ADD n :one SET tag = :t",
            "ExpressionAttributeValues": {":one": _n(1), ":t": _s("x")},
        }
    }
    new_item = {"Put": {"TableName": TABLE, "Item": {"pk": _s("p9"), "sk": _s("new")}}}
    delete = {"Delete": {"TableName": TABLE, "Key": {"pk": _s("p1"), "sk": _s("s1")}}}
    failing = {
        "ConditionCheck": {
            "TableName": TABLE,
            "Key": {"pk": _s("p2"), "sk": _s("s2")},
            "ConditionExpression": "n = :wrong",
            "ExpressionAttributeValues": {":wrong": _n(99)},
        }
    }
    # cancelled after earlier items were applied: all of it must be undone
    out["cancelled"] = transact(update, new_item, delete, failing)
    # the same key twice: rejected, nothing applied
    out["same key twice"] = transact(update, {**update})
    # applied
    out["applied"] = transact(update, new_item, delete)
    again = {"Put": {**new_item["Put"], "ConditionExpression": "attribute_not_exists(sk)"}}
    out["condition failed"] = transact(again)

    def query(name: str, condition: str, values: dict[str, Any], **more: Any) -> Any:
        out[name] = _call(
            client,
            "query",
            TableName=TABLE,
            KeyConditionExpression=condition,
            ExpressionAttributeValues=values,
            **more,
        )
        return out[name]

    query("forward", "pk = :p", {":p": _s("p0")})
    query("backward", "pk = :p", {":p": _s("p0")}, ScanIndexForward=False)
    page = query("page 1", "pk = :p AND sk > :s", {":p": _s("p2"), ":s": _s("s0")}, Limit=2)
    query(
        "page 2",
        "pk = :p AND sk > :s",
        {":p": _s("p2"), ":s": _s("s0")},
        ExclusiveStartKey=page["LastEvaluatedKey"],
    )
    query("absent", "pk = :p", {":p": _s("absent")})
    query("index", "owner = :o", {":o": _s("o1")}, IndexName="ByOwner")
    out["binary"] = _call(client, "get_item", TableName=TABLE, Key={"pk": _s("bin"), "sk": _s("b")})
    keys = [{"pk": _s("p0"), "sk": _s("s0")}, {"pk": _s("p9"), "sk": _s("new")}]
    out["batch"] = _call(client, "batch_get_item", RequestItems={TABLE: {"Keys": keys}})
    out["table"] = sorted(client.scan(TableName=TABLE)["Items"], key=lambda i: (i["pk"]["S"], i["sk"]["S"]))
    return out


def _on_moto_then_on_the_engine(run: Callable[[], T]) -> tuple[T, T]:
    """``run()`` in a fresh moto account on unpatched moto, then in another on the engine: (moto's, the
    engine's) answers, for the equivalence tests to compare."""
    from moto import mock_aws

    with mock_aws(), plain_moto():
        plain = run()
    with mock_aws(), item_level_moto():
        fast = run()
    return plain, fast


def test_item_level_moto_answers_as_moto_does() -> None:
    plain, fast = _on_moto_then_on_the_engine(_exercise)
    assert fast == plain
    # and the answers are what they should be, so the comparison compares something
    assert plain["cancelled"]["error"] == "TransactionCanceledException"
    assert plain["same key twice"]["error"] == "ValidationException"
    assert plain["condition failed"]["error"] == "TransactionCanceledException"
    assert [i["sk"]["S"] for i in plain["backward"]["Items"]] == ["s4", "s3", "s2", "s1", "s0"]
    assert plain["index"]["Count"] == 5  # o1 owns s1 and s3 of p0..p2; p1/s1 was deleted
    assert plain["binary"]["Item"]["blob"] == {"B": b"\x00\xff"}
    p0s0 = next(i for i in plain["table"] if i["pk"] == _s("p0") and i["sk"] == _s("s0"))
    assert (p0s0["n"], p0s0["tag"]) == (_n(1), _s("x"))  # applied once: the cancelled try left no trace
    assert not any(i["pk"] == _s("p1") and i["sk"] == _s("s1") for i in plain["table"])


# ---------------------------------------------------------------- random workloads (hypothesis)

PKS = [f"p{i}" for i in range(3)]
SKS = [f"s{i}" for i in range(4)]
OWNERS = ["o0", "o1"]
TAGS = ["t0", "t1"]
ATTR_NAMES = {"#o": "owner", "#t": "tag", "#r": "rank"}  # owner is a reserved word

_key = st.fixed_dictionaries({"pk": st.sampled_from(PKS), "sk": st.sampled_from(SKS)})
# each attribute present or absent: an item without an index's key attributes is not in that (sparse) index
_attrs = st.fixed_dictionaries(
    {},
    optional={
        "owner": st.sampled_from(OWNERS),
        "rank": st.integers(0, 3),
        "tag": st.sampled_from(TAGS),
        "n": st.integers(-2, 5),
        "note": st.sampled_from(["a", "b"]),
    },
)
_put = st.tuples(st.just("put"), _key, _attrs, st.booleans())
_update = st.tuples(
    st.just("update"),
    _key,
    st.sampled_from(
        [
            "SET #o = :o",
            "REMOVE #o",
            "SET #t = :t",
            "REMOVE #t, #r",
            "ADD n :one",
            "SET #r = :r, #o = :o",
        ]
    ),
    st.sampled_from(OWNERS),
    st.sampled_from(TAGS),
    st.integers(0, 3),
    st.booleans(),
)
_delete = st.tuples(st.just("delete"), _key, st.booleans())
_check = st.tuples(st.just("check"), _key, st.integers(-2, 5))
_transact = st.tuples(
    st.just("transact"), st.lists(st.one_of(_put, _update, _delete, _check), min_size=1, max_size=4)
)
_query = st.tuples(
    st.just("query"),
    st.sampled_from(
        ["base", "base-range", "ByOwner", "ByOwner-range", "ByOwnerAll", "ByTag", "ByN", "absent-index"]
    ),
    st.sampled_from(PKS + OWNERS + TAGS),
    st.one_of(st.none(), st.integers(1, 3)),
    st.booleans(),
    st.booleans(),
)
_workload = st.lists(st.one_of(_put, _update, _delete, _transact, _query), min_size=1, max_size=25)


def _random_table(client: Any) -> None:
    client.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": name, "AttributeType": kind}
            for name, kind in (
                ("pk", "S"),
                ("sk", "S"),
                ("owner", "S"),
                ("rank", "N"),
                ("tag", "S"),
                ("n", "N"),
            )
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "ByOwner",
                "KeySchema": [
                    {"AttributeName": "owner", "KeyType": "HASH"},
                    {"AttributeName": "rank", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            },
            {
                "IndexName": "ByOwnerAll",
                "KeySchema": [{"AttributeName": "owner", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            },
            {
                "IndexName": "ByTag",
                "KeySchema": [
                    {"AttributeName": "tag", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["n"]},
            },
        ],
        LocalSecondaryIndexes=[
            {
                "IndexName": "ByN",
                "KeySchema": [
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "n", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def _write(op: tuple[Any, ...]) -> dict[str, Any]:
    """One write as a TransactItems entry (a single write uses the same shapes)."""
    kind, key = op[0], {"pk": _s(op[1]["pk"]), "sk": _s(op[1]["sk"])}
    if kind == "put":
        attrs = {k: (_n(v) if isinstance(v, int) else _s(v)) for k, v in op[2].items()}
        put: dict[str, Any] = {"TableName": TABLE, "Item": {**key, **attrs}}
        if op[3]:
            put["ConditionExpression"] = "attribute_not_exists(pk)"
        return {"Put": put}
    if kind == "update":
        expression, owner, tag, rank, conditional = op[2:]
        values = {":o": _s(owner), ":t": _s(tag), ":r": _n(rank), ":one": _n(1)}
        update: dict[str, Any] = {"TableName": TABLE, "Key": key, "UpdateExpression": expression}
        used = {name: value for name, value in values.items() if name in expression}
        names = {name: attr for name, attr in ATTR_NAMES.items() if name in expression}
        if conditional:
            update["ConditionExpression"] = "attribute_exists(pk)"
        if used:
            update["ExpressionAttributeValues"] = used
        if names:
            update["ExpressionAttributeNames"] = names
        return {"Update": update}
    if kind == "delete":
        delete: dict[str, Any] = {"TableName": TABLE, "Key": key}
        if op[2]:
            delete["ConditionExpression"] = "attribute_exists(#o)"
            delete["ExpressionAttributeNames"] = {"#o": "owner"}
        return {"Delete": delete}
    return {
        "ConditionCheck": {
            "TableName": TABLE,
            "Key": key,
            "ConditionExpression": "n >= :n",
            "ExpressionAttributeValues": {":n": _n(op[2])},
        }
    }


def _query_pages(client: Any, op: tuple[Any, ...]) -> list[Any]:
    """Every page of one query, followed through LastEvaluatedKey."""
    _, shape, value, limit, forward, filtered = op
    params: dict[str, Any] = {"TableName": TABLE, "ScanIndexForward": forward}
    values: dict[str, Any] = {":v": _s(value)}
    condition = {"base": "pk = :v", "ByN": "pk = :v", "ByTag": "tag = :v"}.get(shape, "#o = :v")
    if shape == "base-range":
        condition, values[":lo"], values[":hi"] = "pk = :v AND sk BETWEEN :lo AND :hi", _s("s1"), _s("s2")
    if shape == "ByOwner-range":
        condition, values[":r"] = "#o = :v AND #r >= :r", _n(1)
        params["ExpressionAttributeNames"] = {"#o": "owner", "#r": "rank"}
    elif condition.startswith("#o"):
        params["ExpressionAttributeNames"] = {"#o": "owner"}
    if shape.startswith("By") or shape == "absent-index":
        params["IndexName"] = shape.removesuffix("-range") if shape != "absent-index" else "Missing"
    if limit is not None:
        params["Limit"] = limit
    if filtered and shape not in {"ByOwner", "ByOwner-range"}:  # KEYS_ONLY: no n to filter on
        params["FilterExpression"] = "attribute_not_exists(n) OR n > :f"
        values[":f"] = _n(0)
    params["KeyConditionExpression"] = condition
    params["ExpressionAttributeValues"] = values
    pages = []
    for _ in range(20):
        page = _call(client, "query", **params)
        pages.append(page)
        if "LastEvaluatedKey" not in page:
            break
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return pages


def _run_workload(workload: list[tuple[Any, ...]]) -> list[Any]:
    import boto3

    client = boto3.client("dynamodb", region_name="us-east-1")
    _random_table(client)
    # every index and partition queried before the workload (the engine's maps then exist and must
    # follow every write) and after it
    battery = [
        ("query", shape, value, None, True, False)
        for shape, values in (
            ("base", PKS),
            ("ByN", PKS),
            ("ByOwner", OWNERS),
            ("ByOwnerAll", OWNERS),
            ("ByTag", TAGS),
        )
        for value in values
    ]
    answers: list[Any] = []
    for op in [*battery, *workload, *battery]:
        if op[0] == "query":
            answers.append(_query_pages(client, op))
        elif op[0] == "transact":
            answers.append(_call(client, "transact_write_items", TransactItems=[_write(w) for w in op[1]]))
        else:
            ((kind, params),) = _write(op).items()
            operation = {"Put": "put_item", "Update": "update_item", "Delete": "delete_item"}[kind]
            answers.append(_call(client, operation, **params))
    answers.append(_call(client, "scan", TableName=TABLE))
    for index in ("ByOwner", "ByOwnerAll", "ByTag", "ByN"):
        answers.append(_call(client, "scan", TableName=TABLE, IndexName=index))
    return answers


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(workload=_workload)
# a cancelled transaction moved an item between index partitions and back
@example(
    workload=[
        ("put", {"pk": "p0", "sk": "s0"}, {"owner": "o0", "rank": 1, "tag": "t0", "n": 1}, False),
        (
            "transact",
            [
                ("update", {"pk": "p0", "sk": "s0"}, "SET #r = :r, #o = :o", "o1", "t1", 2, False),
                ("delete", {"pk": "p0", "sk": "s1"}, False),
                ("check", {"pk": "p0", "sk": "s0"}, 5),
            ],
        ),
    ]
)
def test_the_engine_answers_random_workloads_as_moto_does(workload: list[tuple[Any, ...]]) -> None:
    """Puts, updates, deletes and transactions (cancelled ones and rejected ones included) in any order,
    then base, index (sparse, KEYS_ONLY, INCLUDE, hash-only, local) queries with Limit, paging,
    ScanIndexForward and filters: every answer and the tables at the end are unpatched moto's."""
    plain, fast = _on_moto_then_on_the_engine(lambda: _run_workload(workload))
    assert fast == plain


def _sqs_exchange(sqs: Any) -> list[Any]:
    """A queue's life through SQS's JSON protocol, without the ids moto draws at random."""
    url = sqs.create_queue(QueueName="shortcut", Attributes={"VisibilityTimeout": "5"})["QueueUrl"]
    sent = sqs.send_message(
        QueueUrl=url,
        MessageBody='{"order": "o1"}',
        MessageAttributes={"kind": {"DataType": "String", "StringValue": "paid"}},
    )
    received = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=0
    )["Messages"]
    deleted = sqs.delete_message_batch(
        QueueUrl=url, Entries=[{"Id": "0", "ReceiptHandle": received[0]["ReceiptHandle"]}]
    )
    missing = _call(sqs, "get_queue_url", QueueName="absent")
    return [
        url,
        sent["MD5OfMessageBody"],
        [(m["Body"], m["MD5OfBody"], m["MessageAttributes"]) for m in received],
        deleted["Successful"],
        missing,
        sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0).get("Messages"),
    ]


def test_the_stacks_own_clients_get_the_answers_the_socket_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    """The local stack's in-process shortcut to moto (fenxiao_local.in_process) against moto's HTTP
    server: the same requests, on the same fresh backends, answer the same."""
    import urllib.request

    import boto3

    from fenxiao_local.stack import Moto

    moto = Moto()
    endpoint = moto.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    try:
        answers = []
        for through_socket in (False, True):
            moto.shortcut.enabled = not through_socket
            before = moto.shortcut.requests
            session = boto3.session.Session(region_name="us-east-1")  # a new session takes the shortcut
            dynamodb = _exercise(session.client("dynamodb"))
            sqs = _sqs_exchange(session.client("sqs"))
            answers.append((dynamodb, sqs))
            taken = moto.shortcut.requests - before
            assert taken == 0 if through_socket else taken > 20
            urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"))
        assert answers[0] == answers[1]
        dynamodb, sqs = answers[0]
        assert dynamodb["cancelled"]["error"] == "TransactionCanceledException"
        assert dynamodb["binary"]["Item"]["blob"] == {"B": b"\x00\xff"}
        assert sqs[2] == [
            ('{"order": "o1"}', sqs[1], {"kind": {"DataType": "String", "StringValue": "paid"}})
        ]
        assert sqs[4]["error"] == "AWS.SimpleQueueService.NonExistentQueue" and sqs[5] is None
    finally:
        moto.stop()


def test_a_receive_keeps_moto_s_retention_rule() -> None:
    """The engine reads a queue's retention period directly (moto recounted the queue per message): the
    same messages are kept and dropped."""
    import boto3
    from moto import mock_aws
    from moto.sqs.models import SQSBackend, sqs_backends

    from fenxiao_local import fast_moto

    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="kept", Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
        for body in ("fresh", "old", "older"):
            sqs.send_message(QueueUrl=url, MessageBody=body)
        backend = sqs_backends["123456789012"]["us-east-1"]
        queue = backend.get_queue("kept")
        ages = {"fresh": 0, "old": 59_000, "older": 61_000}
        for message in queue._messages:
            message.sent_timestamp -= ages[message.body]
        # moto's own rule (the engine's replacement when it is switched on elsewhere in this process)
        original = (
            fast_moto._originals.get("retention") or SQSBackend.is_message_valid_based_on_retention_period
        )
        kept = {m.body: original(backend, "kept", m) for m in queue._messages}
        assert kept == {"fresh": True, "old": True, "older": False}
        assert {m.body: fast_moto._retention_still_valid(backend, "kept", m) for m in queue._messages} == kept


def test_a_send_reads_the_deduplication_attribute_as_moto_does() -> None:
    """The engine answers send_message's one read of Queue.attributes without counting the queue: the same
    value for standard and FIFO queues, the same deduplication, and the full attributes outside a send."""
    import boto3
    from moto import mock_aws
    from moto.sqs.models import Queue, sqs_backends

    from fenxiao_local import fast_moto

    original = fast_moto._originals.get("queue_attributes") or Queue.__dict__["attributes"]
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        urls = {
            "standard": sqs.create_queue(QueueName="standard")["QueueUrl"],
            "deduped.fifo": sqs.create_queue(
                QueueName="deduped.fifo",
                Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"},
            )["QueueUrl"],
            "plain.fifo": sqs.create_queue(QueueName="plain.fifo", Attributes={"FifoQueue": "true"})[
                "QueueUrl"
            ],
        }
        backend = sqs_backends["123456789012"]["us-east-1"]
        for name in urls:
            queue = backend.get_queue(name)
            full = original.fget(queue)
            wanted = {k: v for k, v in full.items() if k == "ContentBasedDeduplication"}
            assert fast_moto._send_attributes(queue) == wanted
        assert fast_moto._send_attributes(backend.get_queue("deduped.fifo")) == {
            "ContentBasedDeduplication": "true"
        }
        fast_moto.install()
        try:
            for _ in range(2):
                sqs.send_message(QueueUrl=urls["deduped.fifo"], MessageBody="same", MessageGroupId="g")
                sqs.send_message(QueueUrl=urls["standard"], MessageBody="same")
            counts = {
                name: sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])[
                    "Attributes"
                ]["ApproximateNumberOfMessages"]
                for name, url in urls.items()
            }
        finally:
            fast_moto.uninstall()
        assert counts == {"standard": "2", "deduped.fifo": "1", "plain.fifo": "0"}


def test_items_are_built_and_refused_at_moto_s_size_limit() -> None:
    """The engine sizes an item's attributes once each (moto re-sized all of them per attribute): the
    same items, and the same refusal one byte past moto's limit."""
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    from fenxiao_local import fast_moto

    original = fast_moto._originals.get("item_init") or Item.__init__
    key = DynamoType(_s("k"))
    small = {
        "a": _s("x"),
        "n": _n(12345),
        "m": {"M": {"b": _n(1)}},
        "l": {"L": [_s("y")]},
        "ss": {"SS": ["p"]},
    }
    sizes = sum(len(name) + DynamoType(value).size() for name, value in small.items())
    fits = 405000 - sizes - len("big")
    for extra in (fits, fits + 1):  # the item ends at the limit, or one byte past it
        attrs = {**small, "big": _s("z" * extra)}
        outcomes = []
        for init in (original, fast_moto._item_init):
            item = Item.__new__(Item)
            try:
                init(item, key, None, attrs)
                outcomes.append(("built", item.to_json(), type(item.attrs).__name__))
            except ItemSizeTooLarge as exc:
                outcomes.append(("refused", str(exc)))
        assert outcomes[0] == outcomes[1]
        assert outcomes[0][0] == ("built" if extra == fits else "refused")


def _shape(node: Any, seen: dict[int, int]) -> Any:
    """A node tree as plain data: class, attributes, children, and which node each parent link names."""
    from moto.dynamodb.parsing.ast_nodes import Node

    if isinstance(node, list):
        return [_shape(v, seen) for v in node]
    if not isinstance(node, Node):
        return (type(node).__name__, repr(node))
    seen.setdefault(id(node), len(seen))
    attributes = {k: v for k, v in vars(node).items() if k not in {"children", "parent"}}
    parent = seen.get(id(node.parent)) if node.parent is not None else None
    return (type(node).__name__, repr(attributes), parent, _shape(node.children or [], seen))


def test_expression_trees_are_copied_as_deepcopy_copies_them() -> None:
    """Every Validator copies its update expression's tree before changing it; the engine's copy is the
    same tree, shares no node with the original, and links each child to its copied parent."""
    import copy

    from moto.dynamodb.parsing.ast_nodes import Node
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    from fenxiao_local.fast_moto import _deepcopy_ast

    parse = UpdateExpressionParser.__dict__["make"].__func__
    for text in (
        "SET #a = :a, b.c[1] = if_not_exists(b.c[1], :z) + :one REMOVE d, e[2] ADD n :one DELETE s :s",
        "SET l = list_append(l, :more), #t = :t",
        "ADD frozen_fen :amount, version :one SET updated_at = :now",
    ):
        tree = parse(UpdateExpressionParser, text)
        plain, fast = copy.deepcopy(tree), _deepcopy_ast(tree)
        assert _shape(fast, {}) == _shape(plain, {}) == _shape(tree, {})

        def nodes(node: Any) -> list[Any]:
            children = [c for c in (node.children or []) if isinstance(c, Node)]
            return [node, *(n for c in children for n in nodes(c))]

        originals = {id(n) for n in nodes(tree)}
        assert not originals & {id(n) for n in nodes(fast)}
        assert all(c.parent is n for n in nodes(fast) for c in (n.children or []) if isinstance(c, Node))


def test_the_engine_refuses_a_moto_it_was_not_verified_against() -> None:
    from fenxiao_local.fast_moto import VERIFIED, MotoVersionError, check_moto

    check_moto(".".join(map(str, VERIFIED[0])))  # the first verified release runs
    for outside in ("5.0.20", "5.2.5", "5.3.0", "6.0.0"):
        with pytest.raises(
            MotoVersionError, match=rf"moto {re.escape(outside)} is installed.*verified against moto>="
        ):
            check_moto(outside)


# ---------------------------------------------------------------- update shape checks, once per shape


def _updates_of_every_shape() -> list[Any]:
    """Each update twice (the engine's second try skips the shape walks), including the shapes moto refuses:
    two actions on one path, a key attribute updated (also through a name that maps to it only the second
    time), two SET clauses; and updates that pass the shape checks but fail later (a missing value)."""
    import boto3

    client = boto3.client("dynamodb", region_name="us-east-1")
    client.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    key = {"pk": _s("p"), "sk": _s("s")}
    tries: list[tuple[str, dict[str, str] | None, dict[str, Any] | None]] = [
        ("SET #a = :v, n = :one", {"#a": "tag"}, {":v": _s("x"), ":one": _n(1)}),
        ("SET #a = :v, n = :one", {"#a": "pk"}, {":v": _s("x"), ":one": _n(1)}),  # now a key attribute
        ("SET #a = :v, n = :one", {"#a": "n"}, {":v": _s("x"), ":one": _n(1)}),  # now the same path twice
        ("SET #a = :v, n = :one", {"#a": "tag"}, {":v": _s("y")}),  # passes the shape, misses :one
        ("SET sk = :v", None, {":v": _s("x")}),
        ("SET a.b = :v, a = :v", None, {":v": _s("x")}),
        ("SET tag = :v SET n = :one", None, {":v": _s("x"), ":one": _n(1)}),
        ("REMOVE tag ADD n :one", None, {":one": _n(2)}),
    ]
    answers = []
    for _ in range(2):
        for text, names, values in tries:
            params: dict[str, Any] = {"TableName": TABLE, "Key": key, "UpdateExpression": text}
            if names:
                params["ExpressionAttributeNames"] = names
            if values:
                params["ExpressionAttributeValues"] = values
            answers.append(_call(client, "update_item", ReturnValues="ALL_NEW", **params))
            item = {"Put": {"TableName": TABLE, "Item": {"pk": _s("t"), "sk": _s("s")}}}
            update = {k: v for k, v in params.items() if k != "TableName"}
            answers.append(
                _call(
                    client,
                    "transact_write_items",
                    TransactItems=[item, {"Update": {"TableName": TABLE, **update}}],
                )
            )
    answers.append(client.scan(TableName=TABLE)["Items"])
    return answers


def test_update_shape_checks_skipped_once_passed_refuse_and_answer_as_moto_does() -> None:
    plain, fast = _on_moto_then_on_the_engine(_updates_of_every_shape)
    assert fast == plain
    errors = [a.get("error") for a in plain[:-1] if isinstance(a, dict)]
    # the comparison compares something: refusals of every kind, on the first try and the second alike
    assert errors.count("ValidationException") >= 2 * 5
    assert plain[0]["Attributes"]["tag"] == _s("x") and plain[-1]


# ---------------------------------------------------------------- condition trees and answers (testtime17)

_CONDITIONS = [
    "attribute_not_exists(pk)",
    "attribute_exists(#o) AND n >= :n",
    "#v = :v OR attribute_not_exists(#v)",
    "(n BETWEEN :lo AND :hi) AND NOT (#o IN (:a, :b))",
    "begins_with(sk, :p) AND size(tags) > :n AND contains(tags, :t)",
    "attribute_type(n, :kind) OR m.inner[1].deep <> :v",
    "n > :missing",  # a value the request does not send: moto's KeyError, every time
    "#absent = :v",  # a name the request does not send
    "((n = :n))",  # redundant parentheses: refused
    "status = :v",  # a reserved word: refused
    "n = = :n",  # not a condition
]
_CONDITION_NAMES = {"#o": "owner", "#v": "version"}
_condition_value = st.one_of(
    st.integers(-3, 3).map(_n),
    st.sampled_from(["a", "b", "o1", ""]).map(_s),
    st.sampled_from(["S", "N", "L"]).map(_s),
    st.just({"L": [_n(1), _s("x")]}),
)
# every request sends the same value names (the engine's key), so texts repeat with other values
_condition_values = st.fixed_dictionaries(
    {name: _condition_value for name in (":n", ":v", ":lo", ":hi", ":a", ":b", ":p", ":t", ":kind")}
)


def _condition_outcomes(requests: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    """Each condition as moto's parser answers it: the names and values it found and the condition's
    verdict on a few items, or the error it raised."""
    from moto.dynamodb.comparisons import ConditionExpressionParser
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    items = [
        None,
        Item(DynamoType(_s("p")), DynamoType(_s("s")), {"pk": _s("p"), "sk": _s("s")}),
        Item(
            DynamoType(_s("p")),
            DynamoType(_s("a1")),
            {
                "pk": _s("p"),
                "sk": _s("a1"),
                "owner": _s("o1"),
                "version": _n(2),
                "n": _n(1),
                "tags": {"SS": ["a", "x"]},
                "m": {"M": {"inner": {"L": [_n(0), {"M": {"deep": _s("b")}}]}}},
            },
        ),
    ]
    out: list[Any] = []
    for text, values in requests:
        parser = ConditionExpressionParser(text, dict(_CONDITION_NAMES), values)
        try:
            op = parser.parse()
        except Exception as exc:
            out.append(("raised", type(exc).__name__, str(exc)))
            continue
        verdicts = []
        for item in items:
            try:
                verdicts.append(op.expr(item))
            except Exception as exc:
                verdicts.append((type(exc).__name__, str(exc)))
        out.append((repr(op), parser.expr_attr_names_found, parser.expr_attr_values_found, verdicts))
    return out


@settings(max_examples=60, deadline=None)
@given(requests=st.lists(st.tuples(st.sampled_from(_CONDITIONS), _condition_values), min_size=1, max_size=30))
def test_condition_expressions_parse_as_moto_parses_them(requests: list[tuple[str, dict[str, Any]]]) -> None:
    """The engine keeps each condition's tree per text and names and refills its values per request: every
    condition, the same text repeated with other values included, and every refusal are moto's."""
    with plain_moto():
        plain = _condition_outcomes(requests)
    with item_level_moto():
        fast = _condition_outcomes(requests)
    assert fast == plain
    assert ("raised", "KeyError", "':missing'") in _condition_outcomes([("n > :missing", {":n": _n(1)})])


_leaf = st.one_of(
    st.text(max_size=3).map(_s),
    st.integers(-5, 5).map(_n),
    # binary as raw bytes or as the wire's base64 text: moto holds both
    st.binary(max_size=3).map(lambda b: {"B": b}),
    st.binary(max_size=3).map(lambda b: {"B": base64.b64encode(b).decode()}),
    st.lists(st.binary(max_size=2), max_size=2).map(
        lambda bs: {"BS": [base64.b64encode(b).decode() for b in bs]}
    ),
    st.lists(st.sampled_from(["a", "b"]), min_size=1, max_size=2, unique=True).map(lambda s: {"SS": s}),
    st.booleans().map(lambda b: {"BOOL": b}),
    st.just({"NULL": True}),
)
_attribute = st.recursive(
    _leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda items: {"L": items}),
        st.dictionaries(st.sampled_from(["k", "m", "B"]), inner, max_size=3).map(lambda m: {"M": m}),
    ),
    max_leaves=8,
)


@settings(max_examples=80, deadline=None)
@given(attributes=st.lists(st.dictionaries(st.sampled_from(["pk", "n", "B", "x"]), _attribute), max_size=3))
def test_answers_are_converted_as_moto_converts_them(attributes: list[dict[str, Any]]) -> None:
    """moto turns the DynamoType values of an answer into plain data (binary as bytes) before serializing
    it; the engine's conversion gives the same data for the same answers, nested and binary included."""
    import datetime

    from moto.dynamodb.models.dynamo_type import DynamoType, Item
    from moto.dynamodb.models.utilities import dynamo_to_dict

    from fenxiao_local.fast_moto import _dynamo_to_dict

    typed = [{name: DynamoType(value) for name, value in attrs.items()} for attrs in attributes]
    answer = {
        "Items": typed,
        "Count": len(typed),
        "Attributes": typed[0] if typed else {},
        "Item": Item(DynamoType(_s("p")), None, {"pk": _s("p"), **(attributes[0] if attributes else {})}),
        "When": datetime.datetime(2026, 1, 1),
        "Ratio": 0.5,
        "Flag": None,
    }
    with item_level_moto():
        fast = _dynamo_to_dict(answer)
    assert fast == dynamo_to_dict(answer)


_wire_value = st.recursive(
    st.one_of(
        st.text(max_size=3).map(_s),
        st.integers(-5, 5).map(_n),
        st.binary(max_size=3).map(lambda b: {"B": base64.b64encode(b).decode()}),
        st.lists(st.binary(max_size=2), min_size=1, max_size=2).map(
            lambda bs: {"BS": [base64.b64encode(b).decode() for b in bs]}
        ),
        st.booleans().map(lambda b: {"BOOL": b}),
        st.just({"NULL": True}),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda items: {"L": items}),
        st.dictionaries(st.sampled_from(["k", "B", "S"]), inner, max_size=3).map(lambda m: {"M": m}),
    ),
    max_leaves=6,
)
_wire_item = st.dictionaries(st.sampled_from(["pk", "sk", "n", "B", "blob"]), _wire_value, max_size=4)
_wire_requests = st.one_of(
    st.tuples(
        st.just("PutItem"),
        st.fixed_dictionaries(
            {"TableName": st.just("t"), "Item": _wire_item},
            optional={"ReturnValues": st.just("ALL_OLD"), "ConditionExpression": st.just("x = :v")},
        ),
    ),
    st.tuples(
        st.just("Query"),
        st.fixed_dictionaries(
            {
                "TableName": st.just("t"),
                "ExpressionAttributeValues": st.dictionaries(st.just(":v"), _wire_value),
            },
            optional={
                "Limit": st.integers(1, 9),
                "ScanIndexForward": st.booleans(),
                "ExclusiveStartKey": _wire_item,
                "Select": st.none(),  # a JSON null: moto drops it
                "Unknown": st.just(1),  # not in the shape: moto drops it
            },
        ),
    ),
    st.tuples(
        st.just("TransactWriteItems"),
        st.fixed_dictionaries(
            {
                "TransactItems": st.lists(
                    st.one_of(
                        _wire_item.map(lambda i: {"Put": {"TableName": "t", "Item": i}}),
                        _wire_item.map(lambda k: {"Delete": {"TableName": "t", "Key": k}}),
                        _wire_item.map(
                            lambda k: {
                                "Update": {"TableName": "t", "Key": k, "UpdateExpression": "SET a = :a"}
                            }
                        ),
                    ),
                    max_size=3,
                )
            },
            optional={"ClientRequestToken": st.text(max_size=3)},
        ),
    ),
    st.tuples(
        st.just("BatchGetItem"),
        st.fixed_dictionaries(
            {
                "RequestItems": st.dictionaries(
                    st.sampled_from(["t", "u"]), st.lists(_wire_item).map(lambda ks: {"Keys": ks})
                )
            }
        ),
    ),
)


@settings(max_examples=80, deadline=None)
@given(requests=st.lists(_wire_requests, min_size=1, max_size=4))
def test_request_bodies_are_parsed_as_moto_parses_them(requests: list[tuple[str, dict[str, Any]]]) -> None:
    """moto parses every JSON request body against the operation's input shape (binary decoded, nulls and
    unknown members dropped, structures in the shape's member order); the engine's compiled walk gives
    the same parameters, in the same order, for the same bodies."""
    import json

    from moto.core.parse import JSONParser
    from moto.core.utils import get_service_model

    model = get_service_model("dynamodb")

    def parse(operation: str, body: dict[str, Any]) -> Any:
        parser = JSONParser(model.operation_model(operation), map_type=dict)
        raw = json.dumps(body).encode()
        return parser.parse({"method": "POST", "values": {}, "headers": {}, "body": raw, "url_path": "/"})

    def ordered(value: Any) -> Any:  # dict equality ignores order; the engine must keep it too
        if isinstance(value, dict):
            return [(k, ordered(v)) for k, v in value.items()]
        if isinstance(value, list):
            return [ordered(v) for v in value]
        return value

    with plain_moto():
        plain = [ordered(parse(operation, body)) for operation, body in requests]
    with item_level_moto():
        fast = [ordered(parse(operation, body)) for operation, body in requests]
    assert fast == plain
