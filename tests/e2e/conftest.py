"""The e2e fixture: a real `fenxiao local up` subprocess per test."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest

from tests.support.e2e import TOKEN, Running, start_stack, stop


@pytest.fixture
def stack() -> Iterator[Running]:
    running = start_stack("--allow-clock-override", "--operator-token", TOKEN)
    try:
        yield running
    finally:
        if running.process.poll() is None:
            stop(running, signal.SIGKILL)
