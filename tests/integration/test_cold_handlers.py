"""Every deployed entry point, invoked in a FRESH process from a sample event, as a cold Lambda would be:
settings validated and tables bound before the handler runs (the local stack shares one process, so it
cannot show a handler that forgot to bind them)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.stack import ROOT, create_stack

pytestmark = pytest.mark.integration

EVENTS = Path(__file__).resolve().parent.parent / "events"

INVOKE = """
import json, sys
sys.path.insert(0, {functions!r})
import app

class Context:
    aws_request_id = "cold-start-test"
    function_name = "fenxiao-test"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:fenxiao-test"
    def get_remaining_time_in_millis(self):
        return 30000

event = json.load(open({event!r}))
print(json.dumps(getattr(app, {handler!r})(event, Context())))
"""


@pytest.fixture(scope="module")
def moto_server_env() -> Iterator[dict[str, str]]:
    from moto.server import ThreadedMotoServer

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    saved = dict(os.environ)
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
        }
    )
    try:
        env = create_stack()
        yield {**os.environ, **env, "POWERTOOLS_LOG_LEVEL": "WARNING"}
    finally:
        os.environ.clear()
        os.environ.update(saved)
        server.stop()


def invoke(env: dict[str, str], handler: str, event_file: str) -> object:
    code = INVOKE.format(functions=str(ROOT / "functions"), event=str(EVENTS / event_file), handler=handler)
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "event_file", ["schedule_audit.json", "schedule_settlement.json", "schedule_rollover.json"]
)
def test_scheduler_runs_each_job_cold(moto_server_env: dict[str, str], event_file: str) -> None:
    answer = invoke(moto_server_env, "on_schedule", event_file)
    assert answer["job"] == json.loads((EVENTS / event_file).read_text())["job"]
    assert answer["more"] is False


def test_order_consumer_cold_reports_only_the_poison_record(moto_server_env: dict[str, str]) -> None:
    answer = invoke(moto_server_env, "on_order_event", "sqs_order_event.json")
    assert answer == json.loads((EVENTS / "sqs_order_event_response.json").read_text())


def test_http_handler_cold_answers_an_unsigned_request_401(moto_server_env: dict[str, str]) -> None:
    answer = invoke(moto_server_env, "app", "api_get_distribution_unsigned.json")
    assert answer["statusCode"] == 401
    assert json.loads(answer["body"])["error"]["code"] == "missing_signature"
