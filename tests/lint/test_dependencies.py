"""Dependency floors and the Lambda layer's hash-locked requirements (shared/*.lock, `make -C shared lock`).

pyproject.toml's ranges are the truth; the locks pin one release inside each range with the sha256 of every
file, and shared/Makefile installs exactly the locks with --require-hashes --no-deps.
"""

from __future__ import annotations

import re
import tomllib
from importlib import metadata

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.support.stack import ROOT

pytestmark = pytest.mark.lint

SHARED = ROOT / "shared"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
# Installed without its dependencies (only its runtime module is used): locked on its own.
NO_DEPS = "chalice"
# Lambda python3.11, x86_64 (what the locks are compiled for).
LAMBDA_ENV = {
    **default_environment(),
    "python_version": "3.11",
    "python_full_version": "3.11.0",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
}


Lock = dict[str, tuple[Version, list[str]]]  # distribution -> (version, sha256 hashes)


def _requirements(lines: list[str]) -> dict[str, Requirement]:
    reqs = [Requirement(line) for line in lines]
    return {canonicalize_name(r.name): r for r in reqs}


def _lock(name: str) -> Lock:
    """Locked distribution -> (version, its hashes); every requirement must be `name==version` + hashes."""
    text = (SHARED / name).read_text(encoding="utf-8")
    entries = [
        e for e in re.sub(r"\\\n", " ", text).splitlines() if e.strip() and not e.lstrip().startswith("#")
    ]
    out: Lock = {}
    for entry in entries:
        requirement = entry.split("#", 1)[0].strip()
        match = re.fullmatch(r"([A-Za-z0-9._-]+)==(\S+)((?:\s+--hash=sha256:[0-9a-f]{64})+)", requirement)
        assert match, f"{name}: not a pinned, hashed requirement: {entry!r}"
        hashes = re.findall(r"sha256:([0-9a-f]{64})", match.group(3))
        out[canonicalize_name(match.group(1))] = (Version(match.group(2)), hashes)
    return out


RUNTIME = _requirements(PYPROJECT["dependencies"])
LOCAL = _requirements(PYPROJECT["optional-dependencies"]["local"])


@pytest.fixture(scope="module")
def layer_lock() -> Lock:
    return _lock("requirements.lock")


@pytest.fixture(scope="module")
def no_deps_lock() -> Lock:
    return _lock(f"{NO_DEPS}.lock")


def test_floors_exclude_known_vulnerable_releases() -> None:
    """cryptography < 44.0.1 ships a vulnerable OpenSSL (CVE-2024-12797); werkzeug < 3.0.6 has CVE-2024-49766
    and CVE-2024-49767 (the local stack serves HTTP with it)."""
    for name, requirements, vulnerable, fixed in [
        ("cryptography", RUNTIME, ["42.0.0", "43.0.3", "44.0.0"], "44.0.1"),
        ("werkzeug", LOCAL, ["3.0.0", "3.0.5"], "3.0.6"),
    ]:
        specifier = requirements[name].specifier
        allowed = [v for v in vulnerable if specifier.contains(v, prereleases=True)]
        assert not allowed, f"pyproject allows vulnerable {name} {allowed}"
        assert specifier.contains(fixed), f"pyproject's {name} range excludes the fixed {fixed}"


def test_requirements_txt_mirrors_pyprojects_runtime_dependencies() -> None:
    """shared/requirements.txt is the lock's input: pyproject's runtime ranges, chalice apart."""
    lines = [
        line.split("#", 1)[0].strip()
        for line in (SHARED / "requirements.txt").read_text(encoding="utf-8").splitlines()
    ]
    listed = _requirements([line for line in lines if line])
    assert {n: str(r) for n, r in listed.items()} == {n: str(r) for n, r in RUNTIME.items() if n != NO_DEPS}


def test_every_runtime_dependency_is_locked_inside_its_pyproject_range(
    layer_lock: Lock, no_deps_lock: Lock
) -> None:
    assert set(no_deps_lock) == {NO_DEPS}, f"{NO_DEPS}.lock locks {NO_DEPS} alone"
    assert NO_DEPS not in layer_lock
    locked = {**layer_lock, **no_deps_lock}
    for name, requirement in RUNTIME.items():
        assert name in locked, f"{name} (pyproject) is not in shared/requirements.lock"
        version = locked[name][0]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{name}=={version} is locked, outside pyproject's {requirement.specifier}: run `make -C shared lock`"
        )


def test_the_layer_lock_is_closed_under_dependencies(layer_lock: Lock) -> None:
    """The layer installs with --no-deps, so a dependency missing from the lock would be missing at run time.
    Each locked distribution's requirements (from the dev venv's metadata of it) must be locked too."""
    missing, checked = [], set()
    for name in layer_lock:
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue  # not in the dev venv; the metadata of what needs it still names it
        checked.add(name)
        for line in requires:
            requirement = Requirement(line)
            if requirement.marker and not requirement.marker.evaluate({**LAMBDA_ENV, "extra": ""}):
                continue
            if canonicalize_name(requirement.name) not in layer_lock:
                missing.append(f"{name} needs {requirement}")
    assert not missing, f"not in shared/requirements.lock: {missing}"
    assert set(RUNTIME) - {NO_DEPS} <= checked, "the runtime dependencies are installed in the dev venv"


def test_the_layer_build_installs_exactly_the_locks_with_hashes() -> None:
    makefile = (SHARED / "Makefile").read_text(encoding="utf-8")
    recipe = makefile.split("build-FenxiaoLayer:", 1)[1].split("\n\n", 1)[0].replace("\\\n", " ")
    installs = [line for line in recipe.splitlines() if "pip install" in line]
    assert len(installs) == 1, f"the layer is installed by one pip command from the locks: {installs}"
    (install,) = installs
    assert "--require-hashes" in install and "--no-deps" in install, install
    assert re.findall(r"-r (\S+)", install) == ["requirements.lock", f"{NO_DEPS}.lock"], install
    # Lambda's python3.11 is Amazon Linux 2 (glibc 2.26): manylinux2014 wheels, locked for the same platform.
    assert "--platform manylinux2014_x86_64" in install and "--python-version 3.11" in install, install
    assert "--python-platform x86_64-manylinux_2_17" in makefile and "--python-version 3.11" in makefile
