"""Starting and stopping `fenxiao local up` as a subprocess, for the e2e tests."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support.stack import ROOT

TOKEN = "e2e-operator-token-0123456789abcdefghij"
STARTUP_TIMEOUT = 60
STOP_TIMEOUT = 10


def fenxiao_command() -> list[str]:
    script = Path(sys.executable).parent / "fenxiao"
    return [str(script)] if script.exists() else [sys.executable, "-m", "fenxiao_local.cli"]


def free_port_pair() -> int:
    """A port P with P and P + 1 free (the API and, by default, the WeChat Pay stand-in)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port >= 65535:
            continue
        with socket.socket() as neighbour:
            try:
                neighbour.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return int(port)
    raise RuntimeError("no two adjacent free ports")


@dataclass
class Running:
    process: subprocess.Popen[str]
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    api: str = ""
    token: str = ""

    def output(self) -> str:
        return "".join(self.stdout) + "\n--- stderr ---\n" + "".join(self.stderr[-60:])


def start_stack(*extra: str) -> Running:
    port = free_port_pair()
    command = [*fenxiao_command(), "local", "up", "--port", str(port), *extra]
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8"
    )
    running = Running(process)
    assert process.stdout is not None and process.stderr is not None
    for stream, sink in ((process.stdout, running.stdout), (process.stderr, running.stderr)):
        threading.Thread(target=lambda s=stream, k=sink: k.extend(iter(s.readline, "")), daemon=True).start()
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not (running.api and running.token):
        for line in list(running.stdout):
            if line.startswith("API: "):
                running.api = line.removeprefix("API: ").strip()
            if line.startswith("Operator token: "):
                running.token = line.removeprefix("Operator token: ").strip()
        if process.poll() is not None or time.monotonic() > deadline:
            stop(running, signal.SIGKILL)
            pytest.fail(
                f"no API line within {STARTUP_TIMEOUT} s (exit {process.returncode}):\n{running.output()}"
            )
        time.sleep(0.05)
    assert running.api == f"http://127.0.0.1:{port}"
    return running


def stop(running: Running, sig: signal.Signals = signal.SIGINT) -> float:
    """Send ``sig``; returns the seconds until the process exited."""
    started = time.monotonic()
    if running.process.poll() is None:
        running.process.send_signal(sig)
    try:
        running.process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        running.process.kill()
        running.process.wait()
        pytest.fail(f"still running {STOP_TIMEOUT} s after {sig.name}:\n{running.output()}")
    return time.monotonic() - started


def run_demo(api: str, token: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*fenxiao_command(), "local", "demo", "--api", api, "--operator-token", token],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def ok(answer: tuple[int, Any], status: int = 200) -> Any:
    """The body of an answer that must have ``status``."""
    assert answer[0] == status, answer
    return answer[1]


def wait_until(predicate: Any, what: str, timeout: float = 30.0) -> Any:
    """Poll ``predicate`` until it returns something truthy (asynchronous consumers on the stack)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout} s")
        time.sleep(0.2)


def transaction_success(
    wechatpay_settings: dict[str, Any], order_id: str, transaction_id: str, total_fen: int, paid_at: Any
) -> dict[str, Any]:
    """The decrypted resource of a TRANSACTION.SUCCESS for ``order_id``, paid in full at ``paid_at``, as the
    WeChat Pay stand-in signs and encrypts it (``StandinClient.notify``)."""
    return {
        "mchid": wechatpay_settings["mchid"],
        "appid": wechatpay_settings["appid"],
        "out_trade_no": order_id,
        "transaction_id": transaction_id,
        "trade_state": "SUCCESS",
        "success_time": paid_at.isoformat(),
        "amount": {"total": total_fen, "payer_total": total_fen, "currency": "CNY", "payer_currency": "CNY"},
    }
