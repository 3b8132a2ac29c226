#!/usr/bin/env python3
"""fenxiao's developer entry point. Needs only Python 3.11 and pip; installs everything else itself.

    python3 dev.py up [fenxiao local up options]   install, then start the whole stack locally
    python3 dev.py test [pytest args]              install, then run every check and every test
    python3 dev.py bench                           install, then run the benchmarks (figures, not pass/fail)

The project venv is .venv (the package, editable, with its dev extras). The SAM CLI and cfn-lint (with its
serverless rules) live in their own venv, .tools/sam, because they pin boto3 versions of their own.
pip installs one thing, uv (into .tools/uv); uv creates and fills both venvs, from the same requirements.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
TOOLS = ROOT / ".tools" / "sam"
UV_HOME = ROOT / ".tools" / "uv"
BIN = "Scripts" if os.name == "nt" else "bin"
PIP = "pip>=23,<26.3"  # chalice 1.34 requires pip<26.3: a newer pip makes pip report a conflict
# The installer: ~3x faster than pip on a warm cache (pip caches nothing here). Same range as the dev extras.
UV = "uv>=0.13,<0.14"
# cfn-lint-serverless: AWS's serverless rules as a cfn-lint plugin (tests/lint/test_template.py runs them).
SAM_TOOLS = ["aws-sam-cli>=1.120,<2", "cfn-lint>=1.57,<2", "cfn-lint-serverless>=0.3.6,<0.4"]


def log(message: str) -> None:
    print(f"[dev] {message}", flush=True)


def run(cmd: list[Any], **kw: object) -> int:
    log("$ " + " ".join(str(c) for c in cmd))
    return subprocess.call([str(c) for c in cmd], cwd=ROOT, **kw)  # type: ignore[arg-type]


def start(cmd: list[Any]) -> subprocess.Popen[bytes]:
    log("$ " + " ".join(str(c) for c in cmd) + " &")
    return subprocess.Popen([str(c) for c in cmd], cwd=ROOT)


def must(cmd: list[Any]) -> None:
    code = run(cmd)
    if code != 0:
        log(f"failed with exit code {code}: {' '.join(str(c) for c in cmd)}")
        sys.exit(code)


def current(stamp: Path, stamp_source: str) -> bool:
    return stamp.exists() and stamp.read_text() == hashlib.sha256(stamp_source.encode()).hexdigest()


def uv_binary() -> Path:
    """uv, installed with the running Python's pip into .tools/uv unless the stamp says it is current."""
    binary = UV_HOME / BIN / ("uv.exe" if os.name == "nt" else "uv")
    stamp = UV_HOME / ".fenxiao-stamp"
    if binary.exists() and current(stamp, UV):
        return binary
    log(f"installing {UV} into {UV_HOME.relative_to(ROOT)}")
    pip = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "-q", "--upgrade"]
    must([*pip, "--target", UV_HOME, UV])
    stamp.write_text(hashlib.sha256(UV.encode()).hexdigest())
    return binary


def venv_install(venv: Path, packages: list[str], stamp_source: str) -> list[Any] | None:
    """The uv command that brings ``venv`` up to ``packages``, or None if its stamp says it is current;
    creates the venv first if there is none."""
    python = venv / BIN / "python"
    if python.exists() and current(venv / ".fenxiao-stamp", stamp_source):
        return None
    uv = uv_binary()
    if not python.exists():
        log(f"creating {venv.relative_to(ROOT)}")
        must([uv, "venv", "-q", "--python", sys.executable, venv])
    # --compile-bytecode: as pip does; else every fresh process compiles what it imports from source.
    return [uv, "pip", "install", "-q", "--compile-bytecode", "--python", python, PIP, *packages]


def stamped(venv: Path, stamp_source: str) -> Path:
    (venv / ".fenxiao-stamp").write_text(hashlib.sha256(stamp_source.encode()).hexdigest())
    return venv / BIN / "python"


def ensure_venv(venv: Path, packages: list[str], stamp_source: str) -> Path:
    """Create ``venv`` and install ``packages`` unless the stamp says it is current."""
    command = venv_install(venv, packages, stamp_source)
    if command is not None:
        started = time.monotonic()
        must(command)
        log(f"{venv.relative_to(ROOT)} ready in {time.monotonic() - started:.0f} s")
    return stamped(venv, stamp_source)


def project_python() -> Path:
    return ensure_venv(VENV, ["-e", ".[dev]"], (ROOT / "pyproject.toml").read_text())


def tools_stamp() -> str:
    return "\n".join(SAM_TOOLS)


def cmd_up(args: list[str]) -> int:
    python = project_python()
    command = [str(python.parent / "fenxiao"), "local", "up", *args]
    if os.name == "posix":
        # The stack replaces this process, so SIGTERM from a supervisor reaches it and it shuts down cleanly.
        os.chdir(ROOT)
        sys.stdout.flush()
        os.execv(command[0], command)  # noqa: S606 -- our own venv entry point, no shell
    return run(command)


def cmd_test(args: list[str]) -> int:
    started = time.monotonic()
    python = project_python()
    # .tools/sam installs (disk and network) while ruff and mypy use the CPU.
    tools = venv_install(TOOLS, SAM_TOOLS, tools_stamp())
    installing = start(tools) if tools is not None else None
    env_bin = python.parent
    checks: list[list[Any]] = [
        [env_bin / "ruff", "check", "."],
        [env_bin / "ruff", "format", "--check", "."],
        [env_bin / "mypy"],
    ]
    failed = next((cmd for cmd in checks if run(cmd) != 0), None)
    if installing is not None and installing.wait() != 0:
        log(f"failed with exit code {installing.returncode}: {' '.join(str(c) for c in tools or [])}")
        return installing.returncode
    stamped(TOOLS, tools_stamp())
    if failed is not None:
        log(f"failed: {' '.join(str(c) for c in failed)}")
        return 1
    log(f"installs and static checks took {time.monotonic() - started:.0f} s")
    # Three workers on CI's two cores: the e2e, poller and stand-in tests wait on sockets, subprocesses and
    # visibility timeouts (~50 s of a worker's time), which the third fills (pytest 262 s -> 244 s, one clone).
    # Work stealing: at the end an idle worker takes queued tests from a busy one (the load scheduler's large
    # chunks left a core idle ~20 s at the end).
    pytest_args = args or ["-n", "3", "--dist", "worksteal", "-m", "not bench", "tests"]
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
