"""What an in-process local stack leaves behind in the process once stopped: nothing of its data.

moto keeps every server's data in process-wide backends; a stack stopped inside a longer-lived process
(the benchmarks, a notebook, a test session) must not leave its tables to the next user of moto, nor keep
their objects for the garbage collector to walk.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from fenxiao_local.stack import Moto, boto_client, point_process_at

pytestmark = pytest.mark.integration


@pytest.fixture
def restored_environment() -> Iterator[None]:
    saved = dict(os.environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _create_table(name: str) -> None:
    boto_client("dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def test_a_stopped_stack_s_tables_are_gone_from_the_process(restored_environment: None) -> None:
    first = Moto()
    try:
        point_process_at(first.start())
        _create_table("left_behind")
        assert boto_client("dynamodb").list_tables()["TableNames"] == ["left_behind"]
    finally:
        first.stop()
    second = Moto()
    try:
        point_process_at(second.start())
        assert boto_client("dynamodb").list_tables()["TableNames"] == []
    finally:
        second.stop()


def test_a_stack_stopped_inside_mock_aws_leaves_its_data_alone(restored_environment: None) -> None:
    import boto3
    from moto import mock_aws

    with mock_aws():
        mocked = boto3.client("dynamodb", region_name="us-east-1")
        mocked.create_table(
            TableName="mocked",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        moto = Moto()
        try:
            moto.start()
        finally:
            moto.stop()
        assert mocked.list_tables()["TableNames"] == ["mocked"]


def test_an_in_process_stack_gives_back_the_process_s_gc_thresholds(restored_environment: None) -> None:
    import gc

    from fenxiao import bootstrap, clock
    from fenxiao_local.stack import GC_THRESHOLDS, LocalStack, StackOptions

    own = gc.get_threshold()
    stack = LocalStack(StackOptions(port=0, log_level="WARNING"), progress=lambda line: None)
    try:
        stack.start()
        assert gc.get_threshold() == GC_THRESHOLDS
        assert boto_client("dynamodb").list_tables()["TableNames"]  # the template's tables
    finally:
        stack.stop()
        bootstrap.reset()
        clock.reset()
    assert gc.get_threshold() == own
