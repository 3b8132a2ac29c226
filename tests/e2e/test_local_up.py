"""`fenxiao local up` as a developer runs it: a subprocess, then the API over HTTP, the demo, Ctrl-C."""

from __future__ import annotations

import json
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from fenxiao_local.client import OperatorClient, ShopClient, http_request
from tests.support.e2e import STOP_TIMEOUT, TOKEN, Running, run_demo, start_stack, stop

pytestmark = pytest.mark.e2e


def test_local_up_serves_the_api_plays_the_demo_and_stops_on_sigint(stack: Running) -> None:
    api, operator = stack.api, OperatorClient(stack.api, TOKEN)
    assert stack.token == TOKEN
    assert any(line.startswith("WeChat Pay stand-in: http://127.0.0.1:") for line in stack.stdout)

    # operator API
    status, body = operator.create_shop("e2e-a", "E2E shop A")
    assert status == 201, body
    assert body["shop_id"] == "e2e-a" and len(body["api_secret"]) >= 32
    shop_a = ShopClient(api, "e2e-a", body["api_secret"])
    status, body = operator.create_shop("e2e-b", "E2E shop B")
    assert status == 201, body
    assert OperatorClient(api, None).create_shop("e2e-c", "no token")[0] == 401
    assert OperatorClient(api, "not-the-token-" * 3).create_shop("e2e-c", "bad token")[0] == 401

    # signed Shop API: a PUT and a GET round-trip
    rates = {"level1_bp": 1200, "level2_bp": 300, "self_bp": 100}
    status, body = shop_a.request("PUT", shop_a.path("/settings/distribution"), {"rates": rates})
    assert status == 200, body
    status, body = shop_a.request("GET", shop_a.path("/settings/distribution"))
    assert status == 200 and body["rates"] == rates, body

    # the exact bytes are signed and reach the app untouched (odd spacing, \u escapes)
    raw = b'{ "promotion_rules_text" :  "\\u4f60\\u597d,  e2e" }'
    status, body = shop_a.request("PUT", shop_a.path("/settings/distribution"), raw=raw)
    assert status == 200, body
    assert (
        shop_a.request("GET", shop_a.path("/settings/distribution"))[1]["promotion_rules_text"]
        == "你好,  e2e"
    )

    # a signed query string
    status, body = shop_a.request("GET", shop_a.path("/members/m1/commissions?limit=5"))
    assert status == 200, body

    # rejections
    forged = ShopClient(api, "e2e-a", "not-the-secret")
    status, body = forged.request("GET", forged.path("/settings/distribution"))
    assert status == 401 and body["error"]["code"] == "bad_signature", body
    stale = int(time.time()) - 3600
    assert shop_a.request("GET", shop_a.path("/settings/distribution"), timestamp=stale)[0] == 401
    status, body = shop_a.request("GET", "/shops/e2e-b/settings/distribution")
    assert status == 403 and body["error"]["code"] == "not_your_shop", body
    status, body = http_request("GET", api + "/shops/e2e-a/settings/distribution")
    assert status == 401, body

    # routes not in template.yaml: API Gateway's 403 with the template's gateway response
    status, body = http_request("GET", api + "/no/such/route")
    assert status == 403 and body["error"]["code"] == "not_found", body
    status, body = http_request("DELETE", api + "/admin/shops")
    assert status == 403, body

    # concurrent requests
    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(
            pool.map(lambda _: shop_a.request("GET", shop_a.path("/settings/membership"))[0], range(24))
        )
    assert answers == [200] * 24

    # the demo, against the running stack (the stand-in found on the API port + 1)
    demo = run_demo(api, TOKEN)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "[demo] done" in demo.stdout
    assert "api_secret" not in demo.stdout
    failing = run_demo(api, "wrong-token-" * 3)
    assert failing.returncode == 1, failing.stdout
    assert "FAILED" in failing.stdout and "401" in failing.stdout

    # clock override (allowed by the flag): a minute ahead keeps the mall's signatures fresh
    ahead = (datetime.now(UTC) + timedelta(minutes=1)).replace(microsecond=0)
    now_text = ahead.isoformat().replace("+00:00", "Z")
    status, body = operator.request("POST", "/admin/jobs/audit", {"now": now_text})
    if status == 404:  # the job's implementation may not be there yet
        assert body["error"]["code"] == "job_not_found", body
    else:
        assert status == 200, body
        assert abs((datetime.fromisoformat(body["now"]) - ahead).total_seconds()) < 5, body
        assert shop_a.request("GET", shop_a.path("/settings/distribution"))[0] == 200

    # Ctrl-C
    seconds = stop(stack, signal.SIGINT)
    assert stack.process.returncode == 0, stack.output()
    assert seconds < STOP_TIMEOUT
    time.sleep(0.1)
    assert "[local] stopped" in "".join(stack.stdout), stack.output()


def wait_for_line(running: Running, text: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in list(running.stdout):
            if text in line:
                return line
        if running.process.poll() is not None:
            break
        time.sleep(0.1)
    pytest.fail(f"no line with {text!r} within {timeout} s:\n{running.output()}")


def test_up_with_demo_generates_a_token_keeps_running_and_stops_on_sigterm() -> None:
    running = start_stack("--demo")
    try:
        assert len(running.token) >= 32
        wait_for_line(running, "[demo] done", timeout=45)
        assert "FAILED" not in "".join(running.stdout)
        assert running.process.poll() is None  # the stack keeps running after the demo
        status, body = OperatorClient(running.api, running.token).create_shop("e2e-term", "SIGTERM shop")
        assert status == 201, body
        standin = wait_for_line(running, "WeChat Pay stand-in: ", timeout=1).split()[3]
        status, keys = http_request("GET", standin + "/standin/keys")
        assert status == 200 and keys["wechatpay_settings"]["platform_public_keys"], keys
        assert "-----BEGIN PUBLIC KEY-----" in json.dumps(keys)
        seconds = stop(running, signal.SIGTERM)
        assert running.process.returncode == 0, running.output()
        assert seconds < STOP_TIMEOUT
    finally:
        if running.process.poll() is None:
            stop(running, signal.SIGKILL)
