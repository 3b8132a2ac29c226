"""Each test's stack is a copy of one created per process (tests/support/stack.py created_stack()): a copy
must be the stack template.yaml creates, and no test may see another's data."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest

from fenxiao_local.fast_moto import item_level_moto
from tests.support.stack import MOTO_CREDENTIALS, OPERATOR_TOKEN, StackCopy, create_stack, created_stack

pytestmark = pytest.mark.integration

BOARD = "FENXIAO_LEADERBOARD_TABLE"  # a table with a global secondary index (BoardRanking)
QUEUE = "FENXIAO_ORDER_EVENTS_QUEUE_URL"  # a queue with a redrive policy (OrderEventsDLQ, 5 receives)


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in MOTO_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


@contextmanager
def restored(stack: StackCopy) -> Iterator[dict[str, str]]:
    """A copy of the stack in a mock of its own, as aws_env gives each test."""
    from moto import mock_aws

    with mock_aws(), item_level_moto():
        yield stack.restore()


def client(service: str) -> Any:
    return boto3.client(service, region_name="us-east-1")


def write_board(env: dict[str, str], board: str, sk: str, score: int) -> None:
    client("dynamodb").put_item(
        TableName=env[BOARD], Item={"board_key": {"S": board}, "sk": {"S": sk}, "score": {"N": str(score)}}
    )


def ranking(env: dict[str, str], board: str) -> list[str]:
    """The board's items by the index (fast_moto answers it from its per-index partition map)."""
    got = client("dynamodb").query(
        TableName=env[BOARD],
        IndexName="BoardRanking",
        KeyConditionExpression="board_key = :b",
        ExpressionAttributeValues={":b": {"S": board}},
    )
    return [item["sk"]["S"] for item in got["Items"]]


def bodies(queue_url: str) -> list[str]:
    sqs = client("sqs")
    got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0)
    return [message["Body"] for message in got.get("Messages", [])]


@pytest.mark.parametrize("writer", ["first", "second"])
def test_tests_do_not_see_each_others_data(aws_env: dict[str, str], writer: str) -> None:
    # both write the same keys of the same table and queue: each finds only its own (in either order)
    dynamodb = client("dynamodb")
    assert dynamodb.scan(TableName=aws_env[BOARD])["Items"] == []
    assert bodies(aws_env[QUEUE]) == []
    write_board(aws_env, "shop1#fans#all#0", "member-a", 1 if writer == "first" else 2)
    client("sqs").send_message(QueueUrl=aws_env[QUEUE], MessageBody=writer)
    assert ranking(aws_env, "shop1#fans#all#0") == ["member-a"]
    scores = [item["score"]["N"] for item in dynamodb.scan(TableName=aws_env[BOARD])["Items"]]
    assert scores == (["1"] if writer == "first" else ["2"])
    assert bodies(aws_env[QUEUE]) == [writer]


def test_a_copy_starts_empty_after_another_wrote(credentials: None) -> None:
    stack = created_stack()
    with restored(stack) as env:
        write_board(env, "b", "member-a", 1)
        assert ranking(env, "b") == ["member-a"]  # the copy's index map is built here
        client("sqs").send_message(QueueUrl=env[QUEUE], MessageBody="one")
        kms = client("kms")
        blob = kms.encrypt(KeyId=env["FENXIAO_KMS_KEY_ID"], Plaintext=b"secret")["CiphertextBlob"]
        client("secretsmanager").put_secret_value(
            SecretId=env["FENXIAO_OPERATOR_TOKEN_SECRET_ARN"], SecretString="changed"
        )
    with restored(stack) as env:
        assert ranking(env, "b") == []
        assert client("dynamodb").scan(TableName=env[BOARD])["Items"] == []
        assert bodies(env[QUEUE]) == []
        token = client("secretsmanager").get_secret_value(SecretId=env["FENXIAO_OPERATOR_TOKEN_SECRET_ARN"])
        assert token["SecretString"] == OPERATOR_TOKEN  # as created, not the other copy's change
        # the same key as created, in each copy: what one test encrypted, another could decrypt (no test keeps
        # ciphertext across tests: each starts from empty tables)
        assert client("kms").decrypt(CiphertextBlob=blob)["Plaintext"] == b"secret"


def test_a_redrive_moves_a_message_to_the_copys_own_dead_letter_queue(credentials: None) -> None:
    stack = created_stack()
    with restored(stack) as env:
        sqs = client("sqs")
        sqs.send_message(QueueUrl=env[QUEUE], MessageBody="poison")
        for _ in range(5):
            assert bodies(env[QUEUE]) == ["poison"]
        assert bodies(env[QUEUE]) == []  # the sixth receive moved it
        dlq = sqs.get_queue_url(QueueName=dead_letter_queue_name(env))["QueueUrl"]
        assert bodies(dlq) == ["poison"]
    with restored(stack) as env:
        dlq = client("sqs").get_queue_url(QueueName=dead_letter_queue_name(env))["QueueUrl"]
        assert bodies(dlq) == []


def dead_letter_queue_name(env: dict[str, str]) -> str:
    attributes = client("sqs").get_queue_attributes(QueueUrl=env[QUEUE], AttributeNames=["RedrivePolicy"])
    return str(json.loads(attributes["Attributes"]["RedrivePolicy"])["deadLetterTargetArn"].rsplit(":", 1)[1])


def test_copies_do_not_share_index_maps(credentials: None) -> None:
    # fast_moto keeps each table's index partitions beside the table; a copy taken of a table whose map
    # is built gets its own map, describing its own items
    from moto.dynamodb.models import dynamodb_backends

    from fenxiao_local import fast_moto
    from tests.support.stack import _copy_backends

    with restored(created_stack()) as env:
        write_board(env, "b", "member-a", 1)
        assert ranking(env, "b") == ["member-a"]
        backend = dynamodb_backends["123456789012"]["us-east-1"]
        table = backend.tables[env[BOARD]]
        built = table.__dict__[fast_moto._MAP]
        assert built.items is table.items
        (copied,) = _copy_backends([backend])
        twin = copied.tables[env[BOARD]]
        assert twin.__dict__[fast_moto._MAP] is not built
        assert twin.__dict__[fast_moto._MAP].items is twin.items
        assert twin.__dict__[fast_moto._MAP].partitions == built.partitions
    for _, _, _, kept in created_stack().backends:
        for kept_table in getattr(kept, "tables", {}).values():
            assert fast_moto._MAP not in kept_table.__dict__  # what each test copies holds no map


def test_the_copys_stack_holds_the_copys_own_resources(credentials: None) -> None:
    # CloudFormation's stack keeps the table and queue objects it created: in a copy, the copied ones
    from moto.cloudformation.models import cloudformation_backends
    from moto.dynamodb.models import dynamodb_backends
    from moto.sqs.models import sqs_backends

    with restored(created_stack()) as env:
        (stack,) = cloudformation_backends["123456789012"]["us-east-1"].stacks.values()
        tables = dynamodb_backends["123456789012"]["us-east-1"].tables
        queues = sqs_backends["123456789012"]["us-east-1"].queues
        assert stack.resource_map["LeaderboardTable"] is tables[env[BOARD]]
        queue = stack.resource_map["OrderEventsQueue"]
        assert queue is queues[env[QUEUE].rsplit("/", 1)[1]]
        assert queue.dead_letter_queue is stack.resource_map["OrderEventsDLQ"]
        assert queue.dead_letter_queue is queues[queue.dead_letter_queue.name]


def test_a_copy_equals_a_freshly_created_stack(credentials: None) -> None:
    from moto import mock_aws

    stack = created_stack()
    with mock_aws(), item_level_moto():
        fresh = described(create_stack())
    with restored(stack) as env:
        copied = described(env)
    assert copied == fresh
    assert '"<BoardRanking>"' not in copied and "BoardRanking" in copied  # the GSIs were compared
    assert (
        "deadLetterTargetArn" in copied
        and "AccountAdministers" in copied
        and "<OperatorTokenSecret>" in copied
    )


# Keys whose values are when or by which random draw a resource was created, not what it is.
VOLATILE = re.compile(r"(Time|Date|Timestamp)$|^RoleId$|^TableId$")


def described(env: dict[str, str]) -> str:
    """Everything the stack's services say about it, as JSON, with each resource's generated name or id
    replaced by its logical id (two creations differ only there and in timestamps)."""
    cf, dynamodb, sqs, kms = client("cloudformation"), client("dynamodb"), client("sqs"), client("kms")
    secrets = client("secretsmanager")
    stack = cf.describe_stacks(StackName="fenxiao-test")["Stacks"][0]
    resources = cf.list_stack_resources(StackName="fenxiao-test")["StackResourceSummaries"]
    queues = sqs.list_queues()["QueueUrls"]
    key = env["FENXIAO_KMS_KEY_ID"]
    secret = env["FENXIAO_OPERATOR_TOKEN_SECRET_ARN"]
    tables = dynamodb.list_tables()["TableNames"]
    found = {
        "stack": stack,
        "resources": sorted(resources, key=lambda r: r["LogicalResourceId"]),
        "tables": {name: dynamodb.describe_table(TableName=name)["Table"] for name in tables},
        "ttl": {name: dynamodb.describe_time_to_live(TableName=name) for name in tables},
        "queues": {url: sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"]) for url in queues},
        "keys": kms.list_keys()["Keys"],  # (describe_key fails on moto for a key CloudFormation created)
        "key_policy": kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"],
        "key_rotation": kms.get_key_rotation_status(KeyId=key)["KeyRotationEnabled"],
        "round_trip": kms.decrypt(CiphertextBlob=kms.encrypt(KeyId=key, Plaintext=b"x")["CiphertextBlob"]),
        "secrets": secrets.list_secrets()["SecretList"],
        "token": secrets.get_secret_value(SecretId=secret)["SecretString"],
        "buckets": client("s3").list_buckets()["Buckets"],
        "topics": client("sns").list_topics()["Topics"],
        "subscriptions": client("sns").list_subscriptions()["Subscriptions"],
        "roles": client("iam").list_roles()["Roles"],
        "log_groups": client("logs").describe_log_groups()["logGroups"],
        "env": env,
    }
    names = {
        r["PhysicalResourceId"]: f"<{r['LogicalResourceId']}>" for r in resources if r["PhysicalResourceId"]
    }
    names.update({url.rsplit("/", 1)[1]: names[url] for url in queues if url in names})
    names[stack["StackId"]] = "<StackId>"
    names[secret] = "<OperatorTokenSecret>"
    names.update(
        {version: "<SecretVersion>" for s in found["secrets"] for version in s["SecretVersionsToStages"]}
    )
    text = json.dumps(_stable(found), sort_keys=True, default=str)
    for name in sorted(names, key=len, reverse=True):
        text = text.replace(name, names[name])
    return text


def _stable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k != "ResponseMetadata" and not VOLATILE.search(k)}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value
