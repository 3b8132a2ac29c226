"""Benchmarks print figures; they assert only that the measured code did its job, never a timing."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

RESULTS = Path(
    os.environ.get("FENXIAO_BENCH_OUT", Path(__file__).resolve().parents[2] / "bench" / "results.json")
)


@pytest.fixture
def report(capsys: pytest.CaptureFixture[str]) -> Any:
    """report(name, figures: dict) prints the figures and appends them to bench/results.json."""

    def emit(name: str, figures: dict[str, Any]) -> None:
        with capsys.disabled():
            print(f"\n[bench] {name}")
            for key, value in figures.items():
                print(f"    {key}: {value}")
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        existing = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        existing[name] = figures
        RESULTS.write_text(json.dumps(existing, indent=2, ensure_ascii=False))

    return emit
