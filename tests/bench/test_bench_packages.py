"""Deployment package sizes: the layer as `sam build` builds it (shared/Makefile) and the functions' code."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.support.stack import ROOT

pytestmark = pytest.mark.bench


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _mb(n: int) -> float:
    return round(n / 1024 / 1024, 2)


def test_package_sizes(report) -> None:
    with tempfile.TemporaryDirectory() as out:
        env = {**os.environ, "ARTIFACTS_DIR": out, "PYTHON": sys.executable}
        subprocess.run(["make", "-s", "-C", str(ROOT / "shared"), "build-FenxiaoLayer"], check=True, env=env)
        layer = Path(out)
        biggest = sorted(
            ((p.name, _size(p)) for p in (layer / "python").iterdir() if p.is_dir()), key=lambda x: -x[1]
        )[:6]
        functions = sum(f.stat().st_size for f in (ROOT / "functions").rglob("*.py"))
        report(
            "deployment packages",
            {
                "layer unzipped (MB, limit 250 with functions)": _mb(_size(layer)),
                "fenxiao package in the layer (MB)": _mb(_size(layer / "python" / "fenxiao")),
                "largest layer packages (MB)": ", ".join(f"{n} {_mb(s)}" for n, s in biggest),
                "functions code (KB)": round(functions / 1024, 1),
            },
        )
        assert (layer / "python" / "fenxiao" / "__init__.py").exists()
        assert (layer / "python" / "chalice" / "app.py").exists()
