"""The wide frame (fenxiao_local.datastack) stops CPython 3.11's data-stack chunk churn and changes nothing else."""

from __future__ import annotations

import resource
import sys
import threading
from collections.abc import Callable
from typing import Any

import pytest

from fenxiao_local.datastack import run_in_wide_frame

pytestmark = pytest.mark.unit

DEPTH = 400  # small frames: about 130 fit a 16 KiB chunk, so each descent crosses chunk boundaries
DESCENTS = 500


def _down(depth: int) -> int:
    return 0 if depth == 0 else 1 + _down(depth - 1)


def _descents() -> None:
    for _ in range(DESCENTS):
        assert _down(DEPTH) == DEPTH


def _page_faults_in_a_new_thread(work: Callable[[], None]) -> int:
    """Minor page faults of ``work`` run in a fresh thread (its own data stack, starting with one chunk)."""
    faults: list[int] = []

    def measured() -> None:
        before = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
        work()
        faults.append(resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - before)

    thread = threading.Thread(target=measured)
    thread.start()
    thread.join()
    return faults[0]


@pytest.mark.skipif(
    sys.implementation.name != "cpython" or sys.version_info < (3, 11), reason="CPython 3.11+'s data stack"
)
def test_a_deep_stack_going_up_and_down_maps_no_new_chunks_from_a_wide_frame() -> None:
    plain = _page_faults_in_a_new_thread(_descents)
    wide = _page_faults_in_a_new_thread(lambda: run_in_wide_frame(_descents))
    # Plain: each descent maps fresh chunks (at least one new zeroed page each); wide: the pages the frames
    # use once, the same for every descent.
    assert plain >= DESCENTS
    assert wide < DESCENTS // 5, (plain, wide)


def test_the_wide_frame_passes_arguments_answers_and_exceptions_through() -> None:
    def call(a: int, *rest: int, scale: int = 1) -> dict[str, Any]:
        return {"sum": (a + sum(rest)) * scale}

    assert run_in_wide_frame(call, 1, 2, 3, scale=10) == {"sum": 60}

    def fail() -> None:
        raise KeyError("refund")

    with pytest.raises(KeyError, match="refund"):
        run_in_wide_frame(fail)
    assert run_in_wide_frame(_down, 500) == 500
