"""Cold start: importing each handler module in a fresh process vs the frameworks alone.

Issue 16 (goal: handler + first payment <= 1.3x the frameworks). Before (ef8b61a) and after, one interleaved
run of these four commands, 10 fresh processes each, load average 3.1 (another engineer's tests running):
frameworks 181 / 185 ms, app 195 / 141 ms (1.07 / 0.76), app + first payment 339 / 304 ms (1.87 / 1.64).
This bench alone after: 185 / 149 / 294 ms (0.80 / 1.59). What went: the route modules' response, request and
settings-document models (imported by the handler that answers with them) and ~10 ms per model build of the
URL fields' bounded Unicode regexes (schemas.settings 25 -> 12 ms). What remains above the frameworks
(``-X importtime``, least of 5): fenxiao's own modules ~56 ms (settings documents 12, config's first pydantic
model 6, table models 2-3 each), pydantic's lazily imported submodules ~28 ms and PynamoDB's models ~8 ms,
all on the payment path (it validates the distribution and membership documents and writes through the
table models); binding only the tables a container uses would save ~6 ms. 1.3 means <= ~55 ms above the
frameworks, i.e. no pydantic model on the payment path, or SnapStart (python3.12 runtime) to skip init.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

import pytest

from tests.support.stack import ROOT

pytestmark = pytest.mark.bench

RUNS = 10


def _median_ms(code: str) -> float:
    samples = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def test_cold_import(report) -> None:
    interpreter = _median_ms("pass")
    baseline = _median_ms("import boto3, pydantic, pynamodb, chalice")
    handler = _median_ms(f"import sys; sys.path.insert(0, {str(ROOT / 'functions')!r}); import app")
    first_request = _median_ms(
        f"import sys; sys.path.insert(0, {str(ROOT / 'functions')!r}); import app; "
        "import fenxiao.service.reconcile, fenxiao.service.notifications, fenxiao.adapters.tables, boto3"
    )
    report(
        "cold import (median of 10 fresh processes, ms)",
        {
            "python -c pass": round(interpreter, 1),
            "import boto3, pydantic, pynamodb, chalice": round(baseline, 1),
            "functions/app.py (all handlers: one module)": round(handler, 1),
            "functions/app.py + what the first payment imports": round(first_request, 1),
            "ratio handler / frameworks": round(handler / baseline, 2),
            "ratio handler+first payment / frameworks (goal <= 1.3)": round(first_request / baseline, 2),
        },
    )
    assert handler > interpreter
