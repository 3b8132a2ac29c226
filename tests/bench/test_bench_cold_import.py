"""Cold start: importing each handler module in a fresh process vs the frameworks alone."""

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
            "ratio handler / frameworks (goal <= 1.3)": round(handler / baseline, 2),
            "ratio handler+first payment / frameworks": round(first_request / baseline, 2),
        },
    )
    assert handler > interpreter
