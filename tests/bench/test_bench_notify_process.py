"""The notify accept path's CPU with moto in a process of its own.

With moto in-process (test_bench_payments.py) both figures carry moto's own request handling, several
milliseconds a call, which hides what Chalice, pydantic, PynamoDB and Powertools add on our side. Here moto
serves over loopback from another process, so ``time.process_time()`` counts only this process: our handler
against the floor of RSA verify + AES-GCM decrypt + the same conditional put and send from bare boto3
clients: the CPU a Lambda would be billed for, bar the network wait.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from fenxiao import bootstrap, clock
from tests.bench.test_bench_payments import notify_figures
from tests.support.app import Api, app_module
from tests.support.stack import MOTO_CREDENTIALS, create_stack

pytestmark = pytest.mark.bench


@pytest.fixture
def moto_process_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise RuntimeError("the moto server did not start") from None
            time.sleep(0.2)
    for name, value in {"AWS_ENDPOINT_URL": endpoint, **MOTO_CREDENTIALS}.items():
        monkeypatch.setenv(name, value)
    try:
        env = create_stack()
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        bootstrap.reset()
        clock.reset()
        yield {**os.environ}
    finally:
        bootstrap.reset()
        clock.reset()
        server.terminate()
        server.wait(timeout=10)


def test_notify_accept_path_with_moto_in_its_own_process(
    moto_process_env: dict[str, str], report: Any
) -> None:
    from chalice.test import Client

    api = Api(Client(app_module().app))
    shop = api.create_shop("shop1")
    figures = notify_figures(api, shop, moto_process_env)
    figures["note"] = (
        "moto serves from another process over loopback: the CPU figures are this process's only"
    )
    report("notify accept path (moto in its own process)", figures)
