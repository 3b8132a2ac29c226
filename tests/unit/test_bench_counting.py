"""The benchmarks' request counter (tests/bench/counting.py) leaves botocore as it found it."""

from __future__ import annotations

from typing import Any

import botocore.client
import pytest

from tests.bench import counting

pytestmark = pytest.mark.unit


def test_measuring_inside_a_wrapper_of_the_counted_call_puts_back_botocore_s_own() -> None:
    """A bench's spy wraps counting._original around a measuring block (the leaderboard's write spy): on
    leaving both, every client calls botocore's own method again, not the spy."""
    own = botocore.client.BaseClient.__dict__["_make_api_call"]
    real = counting._original

    def spy(client: Any, operation: str, params: dict[str, Any]) -> Any:
        return real(client, operation, params)

    counting._original = spy
    try:
        with counting.measuring():
            assert botocore.client.BaseClient.__dict__["_make_api_call"] is counting._counting_call
    finally:
        counting._original = real
    assert botocore.client.BaseClient.__dict__["_make_api_call"] is own


def test_nested_measuring_blocks_leave_the_outer_one_counting() -> None:
    own = botocore.client.BaseClient.__dict__["_make_api_call"]
    with counting.measuring():
        with counting.measuring():
            pass
        assert botocore.client.BaseClient.__dict__["_make_api_call"] is counting._counting_call
    assert botocore.client.BaseClient.__dict__["_make_api_call"] is own
