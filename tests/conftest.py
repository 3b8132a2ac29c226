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


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> bool:
    """pytest's own protocol (setup, call, teardown), run from a wide frame (fenxiao_local.datastack): without
    it CPython 3.11 maps and unmaps a data-stack chunk on nearly every moto request, which cost the suite 16
    million page faults and a sixth of its CPU time in the kernel. The other implementations are wrappers."""
    from _pytest.runner import pytest_runtest_protocol as protocol

    from fenxiao_local.datastack import run_in_wide_frame

    return run_in_wide_frame(protocol, item, nextitem)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """Each xdist worker learns the controller's scheduler (a worker's own ``--dist`` reads "no")."""
    node.workerinput["fenxiao_dist"] = node.config.getoption("dist")


def _scheduler(config: pytest.Config) -> str | None:
    workerinput: dict[str, Any] = getattr(config, "workerinput", {})
    return workerinput.get("fenxiao_dist") or config.getoption("dist", None)


@pytest.hookimpl(trylast=True)  # after -m and -k deselected: xdist schedules what is left
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """One fault-storm part at the head of each worker's first chunk, so the two longest tests start at once
    on different cores. ``dev.py test`` uses xdist's work-stealing scheduler, which first splits the tests
    into one run of consecutive tests per worker (``len(items) // workers`` each) and at the end moves
    queued tests from a busy worker to an idle one. The load scheduler (``--dist load``) first sends each
    worker ``len(items) // workers // 4`` (at most --maxschedchunk); with the parts side by side at the
    front, one worker got both and ran them one after the other (292 s + 230 s on one core, docs/local-stack.md)."""
    storm = [item for item in items if item.name.startswith("test_fault_storm[")]
    if not storm:
        return
    workers = max(1, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
    rest = [item for item in items if item not in storm]
    if workers == 1:
        chunk = 0
    elif _scheduler(config) == "worksteal":
        chunk = len(items) // workers  # the first worker's share; the second's starts right after it
    else:
        limit = config.getoption("maxschedchunk", None) or len(items)
        chunk = max(2, min(len(items) // workers // 4, limit))
    for part, item in enumerate(storm):
        rest.insert(min(part * chunk, len(rest)), item)
    items[:] = rest
