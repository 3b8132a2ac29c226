"""Secrets never reach the logs or the answers: the local stack at DEBUG, a shop configured with WeChat Pay,
signed calls (some refused), a payment notification through the stand-in, a secret rotation; then every
line the stack printed and every answer is searched for the api_secret, the APIv3 key, the private keys and
the operator token (SPEC §7: secrets are write-only, stored encrypted, never returned or logged)."""

from __future__ import annotations

import base64
import json
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from fenxiao_local.client import OperatorClient, ShopClient, StandinClient, http_request
from fenxiao_local.wechatpay_keys import StandinKeys
from tests.support.e2e import TOKEN, Running, start_stack, stop, transaction_success

pytestmark = pytest.mark.e2e


@pytest.fixture
def debug_stack(tmp_path: Path) -> Iterator[tuple[Running, Path]]:
    keys_file = tmp_path / "standin-keys.json"
    running = start_stack(
        "--allow-clock-override",
        "--operator-token",
        TOKEN,
        "--log-level",
        "DEBUG",
        "--standin-keys",
        str(keys_file),
    )
    try:
        yield running, keys_file
    finally:
        if running.process.poll() is None:
            stop(running, signal.SIGKILL)


def _pem_body_lines(pem: str) -> list[str]:
    """The base64 lines of a PEM body that are long enough to be unmistakable (64 characters each)."""
    return [line.strip() for line in pem.splitlines() if len(line.strip()) >= 40 and "-----" not in line]


def _forms(secret: str) -> list[str]:
    """A secret as it could appear in a log: as is, base64 (a KMS plaintext in a request dump), JSON-escaped."""
    raw = secret.encode()
    return [secret, base64.b64encode(raw).decode(), json.dumps(secret)[1:-1]]


def _drain(running: Running) -> tuple[str, str]:
    """All of stdout and stderr once the process has exited and its readers reached EOF."""
    sizes: tuple[int, int] = (-1, -1)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        now = (len(running.stdout), len(running.stderr))
        if now == sizes:
            break
        sizes = now
        time.sleep(0.3)
    return "".join(running.stdout), "".join(running.stderr)


def test_no_secret_in_logs_or_answers_at_debug(debug_stack: tuple[Running, Path]) -> None:
    running, keys_file = debug_stack
    api = running.api
    standin = StandinClient(api.rsplit(":", 1)[0] + ":" + str(int(api.rsplit(":", 1)[1]) + 1))
    operator = OperatorClient(api, TOKEN)
    answers: list[tuple[str, Any]] = []

    def keep(what: str, answer: tuple[int, Any], *statuses: int) -> Any:
        answers.append((what, answer[1]))
        assert answer[0] in (statuses or (200,)), (what, answer)
        return answer[1]

    created = keep("create shop", operator.create_shop("secrets", "Secrets shop"), 201)
    api_secret = created["api_secret"]
    shop = ShopClient(api, "secrets", api_secret)
    keys_doc = keep("stand-in keys", standin.keys())  # the stand-in's own answer: it holds the keys by design
    answers.pop()
    wechatpay = keys_doc["wechatpay_settings"]

    keep("put wechatpay", shop.request("PUT", shop.path("/settings/wechatpay"), wechatpay))
    shown = keep("get wechatpay", shop.request("GET", shop.path("/settings/wechatpay")))
    assert shown["apiv3_key_set"] is True and shown["merchant_private_key_set"] is True, shown
    assert "apiv3_key" not in shown and "merchant_private_key_pem" not in shown, shown
    # refused with the secrets in the body: the error must not echo them
    bad_pem = wechatpay["merchant_private_key_pem"].replace("PRIVATE KEY", "PRIVATE  KEY")
    keep(
        "put wechatpay, bad key",
        shop.request(
            "PUT", shop.path("/settings/wechatpay"), {**wechatpay, "merchant_private_key_pem": bad_pem}
        ),
        400,
    )
    keep(
        "put wechatpay, unknown field",
        shop.request("PUT", shop.path("/settings/wechatpay"), {**wechatpay, "apiv3": wechatpay["apiv3_key"]}),
        400,
    )
    keep(
        "put wechatpay, bad mchid",
        shop.request("PUT", shop.path("/settings/wechatpay"), {**wechatpay, "mchid": wechatpay["apiv3_key"]}),
        400,
    )

    appsecret = "e2e" + "5f0c3a9d" * 4
    miniprogram = {"appid": "wxe2e0000000000001", "appsecret": appsecret, "env_version": "develop"}
    keep("put miniprogram", shop.request("PUT", shop.path("/settings/miniprogram"), miniprogram))
    shown_mp = keep("get miniprogram", shop.request("GET", shop.path("/settings/miniprogram")))
    assert shown_mp["appsecret_set"] is True and "appsecret" not in shown_mp, shown_mp
    keep(
        "put miniprogram, bad appid",
        shop.request("PUT", shop.path("/settings/miniprogram"), {**miniprogram, "appid": appsecret + "!"}),
        400,
    )
    # a promotion code: the appsecret is decrypted and an access token fetched and used
    keep("grant a", shop.request("PUT", shop.path("/members/a/distributor"), {"active": True}))
    keep("code", shop.request("POST", shop.path("/members/a/promotion-codes"), {"purpose": "promote"}))
    # the stand-in answers the same token to the same appid while it is valid (as WeChat's stable_token)
    token_answer = http_request(
        "POST",
        standin.base_url + "/cgi-bin/stable_token",
        json.dumps(
            {"grant_type": "client_credential", "appid": miniprogram["appid"], "secret": appsecret}
        ).encode(),
        {"Content-Type": "application/json"},
    )
    access_token = token_answer[1]["access_token"]

    settings = {
        "rates": {"level1_bp": 1000, "level2_bp": 500, "self_bp": 200},
        "settlement": {"basis": "payment", "freeze_days": 0},
    }
    keep("put distribution", shop.request("PUT", shop.path("/settings/distribution"), settings))
    keep("bind b", shop.request("POST", shop.path("/members/b/inviter"), {"inviter_id": "a"}), 201)
    order = {
        "buyer_id": "b",
        "lines": [{"line_id": "l1", "product_id": "tea", "quantity": 1, "paid_fen": 10000}],
        "shipping_fen": 0,
        "total_fen": 10000,
    }
    keep("put order", shop.request("PUT", shop.path("/orders/o1"), order), 201)
    # refused calls: a forged signature, a stale one, another shop's path, a bad token
    keep("forged", ShopClient(api, "secrets", "x" * 43).request("GET", shop.path("/members/b")), 401)
    keep("stale", shop.request("GET", shop.path("/members/b"), timestamp=int(time.time()) - 3600), 401)
    keep("other shop", shop.request("GET", "/shops/other/settings/distribution"), 403)
    keep("bad token", OperatorClient(api, TOKEN[:-1] + "x").create_shop("s2", "x"), 401)

    paid_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    payment = transaction_success(wechatpay, "o1", "4200000000000000000000000009", 10000, paid_at)
    sent = keep("notify", standin.notify("secrets", "TRANSACTION.SUCCESS", payment))
    assert sent["status"] in (204, [204]), sent
    deadline = time.monotonic() + 20
    while keep("get order", shop.request("GET", shop.path("/orders/o1")))["status"] != "paid":
        assert time.monotonic() < deadline, "order o1 not paid within 20 s"
        time.sleep(0.2)
    keep("get member", shop.request("GET", shop.path("/members/a")))
    keep("audit", operator.run_job("audit"))
    rotated = keep("rotate secret", operator.request("POST", "/admin/shops/secrets/secret", {}), 201)
    new_secret = rotated["api_secret"]
    keep(
        "with the new secret", ShopClient(api, "secrets", new_secret).request("GET", shop.path("/members/a"))
    )

    stop(running)
    stdout, stderr = _drain(running)
    assert "DEBUG" in stdout + stderr, "the stack did not log at DEBUG: the test would prove nothing"
    keys = StandinKeys.from_json(keys_file.read_text(encoding="utf-8"))
    stored = json.loads(keys_file.read_text(encoding="utf-8"))

    # The operator token is printed once, by design, on its own line.
    token_line = f"Operator token: {TOKEN}\n"
    assert stdout.count(token_line) == 1
    logs = stdout.replace(token_line, "", 1) + "\n" + stderr

    secrets: dict[str, list[str]] = {
        "api_secret": _forms(api_secret),
        "rotated api_secret": _forms(new_secret),
        "APIv3 key": _forms(keys.apiv3_key),
        "operator token": _forms(TOKEN),
        "mini-program appsecret": _forms(appsecret),
        "access token": _forms(access_token),
        "merchant private key": _pem_body_lines(wechatpay["merchant_private_key_pem"]),
        "platform private key": _pem_body_lines(stored["platform_private_key_pem"]),
        "certificate private key": _pem_body_lines(stored["certificate_private_key_pem"]),
    }
    assert all(secrets.values()), secrets
    leaks = [(name, form[:12] + "…") for name, forms in secrets.items() for form in forms if form in logs]
    assert not leaks, f"secrets in the stack's output: {leaks}"

    for what, body in answers:
        text = json.dumps(body, ensure_ascii=False)
        for name, forms in secrets.items():
            if name == "api_secret" and what == "create shop":
                continue  # shown once, at creation (SPEC §7)
            if name == "rotated api_secret" and what == "rotate secret":
                continue
            assert not any(form in text for form in forms), f"{name} in the answer to {what!r}: {text[:200]}"
