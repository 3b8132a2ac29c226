#!/usr/bin/env python3
"""fenxiao's developer entry point. Needs only Python 3.11 and pip; installs everything else itself.

    python3 dev.py up [fenxiao local up options]   install, then start the whole stack locally
    python3 dev.py test [pytest args]              install, then run every check and every test
    python3 dev.py bench                           install, then run the benchmarks (figures, not pass/fail)

The project venv is .venv (the package, editable, with its dev extras). The SAM CLI and cfn-lint (with its
serverless rules) live in their own venv, .tools/sam, because they pin boto3 versions of their own.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
TOOLS = ROOT / ".tools" / "sam"
BIN = "Scripts" if os.name == "nt" else "bin"
PIP = "pip>=23,<26.3"  # chalice 1.34 requires pip<26.3: a newer pip makes pip report a conflict
# cfn-lint-serverless: AWS's serverless rules as a cfn-lint plugin (tests/lint/test_template.py runs them).
SAM_TOOLS = ["aws-sam-cli>=1.120,<2", "cfn-lint>=1.57,<2", "cfn-lint-serverless>=0.3.6,<0.4"]


def log(message: str) -> None:
    print(f"[dev] {message}", flush=True)


def run(cmd: list[str], **kw: object) -> int:
    log("$ " + " ".join(str(c) for c in cmd))
    return subprocess.call([str(c) for c in cmd], cwd=ROOT, **kw)  # type: ignore[arg-type]


def must(cmd: list[str]) -> None:
    code = run(cmd)
    if code != 0:
        log(f"failed with exit code {code}: {' '.join(str(c) for c in cmd)}")
        sys.exit(code)


def ensure_venv(venv: Path, packages: list[str], stamp_source: str) -> Path:
    """Create ``venv`` and install ``packages`` unless the stamp says it is current."""
    python = venv / BIN / "python"
    stamp = venv / ".fenxiao-stamp"
    digest = hashlib.sha256(stamp_source.encode()).hexdigest()
    if python.exists() and stamp.exists() and stamp.read_text() == digest:
        return python
    if not python.exists():
        log(f"creating {venv.relative_to(ROOT)}")
        must([sys.executable, "-m", "venv", str(venv)])
    started = time.monotonic()
    must([str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q", "--upgrade", PIP])
    must([str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q", *packages])
    stamp.write_text(digest)
    log(f"{venv.relative_to(ROOT)} ready in {time.monotonic() - started:.0f} s")
    return python


def project_python() -> Path:
    return ensure_venv(VENV, ["-e", ".[dev]"], (ROOT / "pyproject.toml").read_text())


def tools_python() -> Path:
    return ensure_venv(TOOLS, SAM_TOOLS, "\n".join(SAM_TOOLS))


def cmd_up(args: list[str]) -> int:
    python = project_python()
    return run([python.parent / "fenxiao", "local", "up", *args])


def cmd_test(args: list[str]) -> int:
    python = project_python()
    tools_python()
    env_bin = python.parent
    must([env_bin / "ruff", "check", "."])
    must([env_bin / "ruff", "format", "--check", "."])
    must([env_bin / "mypy"])
    pytest_args = args or ["-n", "2", "-m", "not bench", "tests"]
    code = run([python, "-m", "pytest", *pytest_args])
    if code == 5:
        log("pytest collected no tests: that is a failure")
        return 1
    return code


def cmd_bench(args: list[str]) -> int:
    python = project_python()
    return run([python.parent / "fenxiao", "bench", *args])


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in {"up", "test", "bench"}:
        print(__doc__)
        return 2
    command, args = sys.argv[1], sys.argv[2:]
    return {"up": cmd_up, "test": cmd_test, "bench": cmd_bench}[command](args)


if __name__ == "__main__":
    sys.exit(main())
