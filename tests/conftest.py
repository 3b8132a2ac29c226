"""Fixtures shared by the tiers. Each test that needs AWS gets a fresh stack from template.yaml on moto."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.app import Api, app_module
from tests.support.stack import MOTO_CREDENTIALS, create_stack, moto_dynamodb_serialized


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A fresh moto account with the whole stack created from template.yaml; the env points at it."""
    from moto import mock_aws

    for name, value in MOTO_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    from fenxiao import bootstrap, clock

    # One DynamoDB request at a time, as DynamoDB executes each atomically: settlement reads a batch's refunds
    # from a thread pool, and moto (fast_moto's queries above all) is not thread-safe.
    with mock_aws(), moto_dynamodb_serialized():
        env = create_stack()
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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The fault storm's parts first. pytest-xdist hands out the first tests one per worker in turn, so each
    CI core starts one part straight away and the rest of the suite fills in around them; collected last,
    both parts could land on one worker after everything else (docs/storm.md)."""
    storm = [item for item in items if item.name.startswith("test_fault_storm[")]
    if storm:
        items[:] = storm + [item for item in items if item not in storm]
