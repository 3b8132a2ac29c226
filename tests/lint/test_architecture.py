"""The layer order and "no circles" hold themselves: import-linter's contracts (pyproject.toml
``[tool.importlinter]``) run here, and are shown to fail on a deliberately wrong import."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.stack import ROOT

pytestmark = pytest.mark.lint

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(package_parent: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(package_parent)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=False,
    )


def test_the_package_keeps_its_contracts() -> None:
    result = lint_imports(ROOT / "shared")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 2 kept, 0 broken." in result.stdout


def _copy(tmp_path: Path) -> Path:
    shutil.copytree(
        ROOT / "shared" / "fenxiao", tmp_path / "fenxiao", ignore=shutil.ignore_patterns("__pycache__")
    )
    return tmp_path / "fenxiao"


def _add_import(module: Path, line: str) -> None:
    text = module.read_text()
    module.write_text(
        text.replace(
            "from __future__ import annotations\n", f"from __future__ import annotations\n\n{line}\n", 1
        )
    )


def test_an_upward_import_breaks_the_layers_contract(tmp_path: Path) -> None:
    package = _copy(tmp_path)
    _add_import(package / "domain" / "money.py", "import fenxiao.api.http  # noqa")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert "fenxiao.domain is not allowed to import fenxiao.api" in result.stdout


def test_a_circle_breaks_the_acyclic_contract(tmp_path: Path) -> None:
    package = _copy(tmp_path)
    _add_import(package / "service" / "settlement.py", "import fenxiao.service.audit  # noqa")
    _add_import(package / "service" / "audit.py", "import fenxiao.service.settlement  # noqa")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert "No cycles are allowed in fenxiao.service" in result.stdout
