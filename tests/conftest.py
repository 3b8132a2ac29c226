"""Fixtures shared by the tiers. Each test that needs AWS gets a fresh stack from template.yaml on moto."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.app import Api, app_module
from tests.support.stack import MOTO_CREDENTIALS, created_stack, moto_dynamodb_serialized


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A fresh moto account with the whole stack created from template.yaml; the env points at it. The stack
    is created once per process and each test gets its own copy of it as created (tests/integration/test_stack_copy.py)."""
    from moto import mock_aws

    for name, value in MOTO_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    from fenxiao import bootstrap, clock
    from fenxiao_local.fast_moto import item_level_moto

    stack = created_stack()  # before this test's mock_aws(): it creates the stack in a mock of its own

    # One DynamoDB request at a time, as DynamoDB executes each atomically: settlement reads a batch's refunds
    # from a thread pool, and moto (fast_moto's queries above all) is not thread-safe. moto runs on the
    # local stack's engine, as `fenxiao local up`, the e2e tier and the benchmarks do (its answers are
    # moto's: tests/storm/test_fast_moto.py).
    with mock_aws(), moto_dynamodb_serialized(), item_level_moto():
        env = stack.restore()
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        bootstrap.reset()
        clock.reset()
        yield env
        bootstrap.reset()
        clock.reset()


@pytest.fixture
def api(aws_env: dict[str, str]) -> Api:
    from chalice.test import Client

    module = app_module()
    client = Client(module.app)
    return Api(client)


@pytest.fixture
def shop(api: Api) -> Any:
    return api.create_shop("shop1")


@pytest.hookimpl(trylast=True)  # after -m and -k deselected: xdist schedules what is left
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """One fault-storm part at the head of each worker's first chunk. pytest-xdist's load scheduler first
    sends every worker a chunk of consecutive tests (xdist 3: ``len(items) // workers // 4`` each, at most
    --maxschedchunk); with the parts side by side at the front, one worker got both and ran them one after
    the other (measured: 292 s + 230 s on one core while the other ran the rest, docs/local-stack.md)."""
    storm = [item for item in items if item.name.startswith("test_fault_storm[")]
    if not storm:
        return
    workers = max(1, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
    limit = config.getoption("maxschedchunk", None) or len(items)
    chunk = max(2, min(len(items) // workers // 4, limit)) if workers > 1 else 0
    rest = [item for item in items if item not in storm]
    for part, item in enumerate(storm):
        rest.insert(min(part * chunk, len(rest)), item)
    items[:] = rest
