"""``item_level_moto()`` changes how much moto copies, walks and serializes — never what it answers: the
same operations give the same answers and leave the same tables with and without it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.storm.fast_moto import item_level_moto

pytestmark = pytest.mark.storm

TABLE = "Items"


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


def _exercise() -> dict[str, Any]:
    import boto3

    client = boto3.client("dynamodb", region_name="us-east-1")
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


def test_item_level_moto_answers_as_moto_does() -> None:
    from moto import mock_aws

    with mock_aws():
        plain = _exercise()
    with mock_aws(), item_level_moto():
        fast = _exercise()
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
