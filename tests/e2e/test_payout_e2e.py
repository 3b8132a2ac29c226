"""SPEC §3-§4 end to end on the local stack: order paid -> settlement at now + freeze -> withdrawal ->
the WeChat Pay stand-in pays (signed transfer API, signed+encrypted MCHTRANSFER.BILL.FINISHED) ->
withdrawn_fen; and a failed transfer returns the money exactly once."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fenxiao_local.client import OperatorClient, ShopClient, StandinClient, http_request
from tests.support.e2e import TOKEN, Running, ok, transaction_success, wait_until

pytestmark = pytest.mark.e2e


def test_paid_settled_withdrawn_through_the_standin(stack: Running) -> None:
    operator = OperatorClient(stack.api, TOKEN)
    port = int(stack.api.rsplit(":", 1)[1])
    standin_url = f"http://127.0.0.1:{port + 1}"
    standin = StandinClient(standin_url)
    # The mall's clock follows the stack's (which the test moves forward with a clock override).
    offset = {"seconds": 0.0}
    secret = ok(operator.create_shop("payout", "Payout shop"), 201)["api_secret"]
    shop = ShopClient(stack.api, "payout", secret, clock=lambda: time.time() + offset["seconds"])
    keys = ok(standin.keys())["wechatpay_settings"]
    ok(shop.request("PUT", shop.path("/settings/wechatpay"), keys))
    settings = {
        "rates": {"level1_bp": 2000, "level2_bp": 0, "self_bp": 0},
        "settlement": {"basis": "payment", "freeze_days": 7, "withdraw_min_fen": 100},
    }
    ok(shop.request("PUT", shop.path("/settings/distribution"), settings))
    ok(shop.request("POST", shop.path("/members/fan/inviter"), {"inviter_id": "earner"}), 201)
    order = {
        "buyer_id": "fan",
        "lines": [{"line_id": "l1", "product_id": "p", "quantity": 1, "paid_fen": 50000}],
        "shipping_fen": 0,
        "total_fen": 50000,
    }
    ok(shop.request("PUT", shop.path("/orders/o1"), order), 201)
    paid_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    resource = transaction_success(keys, "o1", "4200000000000000000000009001", 50000, paid_at)
    ok(standin.notify("payout", "TRANSACTION.SUCCESS", resource))

    def balance() -> dict[str, int]:
        return ok(shop.request("GET", shop.path("/members/earner")))["balance"]

    wait_until(lambda: balance()["frozen_fen"] == 10000, "commission frozen")
    # not due yet: settlement now releases nothing
    ok(operator.run_job("settlement"))
    assert balance()["available_fen"] == 0
    # the stack's clock moves past paid + 7 days (local clock override); settlement releases it
    due = (paid_at + timedelta(days=7, seconds=1)).isoformat()
    report = ok(operator.run_job("settlement", due))
    offset["seconds"] = (paid_at + timedelta(days=7, seconds=1)).timestamp() - time.time()
    assert report["processed"] >= 1
    assert balance() == {"frozen_fen": 0, "available_fen": 10000, "withdrawing_fen": 0, "withdrawn_fen": 0}

    # below the minimum: 422; above the balance: 409; nothing reserved
    assert (
        shop.request(
            "POST",
            shop.path("/members/earner/withdrawals"),
            {"withdrawal_id": "w0", "amount_fen": 99, "openid": "oEarner"},
        )[0]
        == 422
    )
    assert (
        shop.request(
            "POST",
            shop.path("/members/earner/withdrawals"),
            {"withdrawal_id": "w0", "amount_fen": 10001, "openid": "oEarner"},
        )[0]
        == 409
    )
    assert balance()["available_fen"] == 10000

    accepted = ok(
        shop.request(
            "POST",
            shop.path("/members/earner/withdrawals"),
            {"withdrawal_id": "w1", "amount_fen": 6000, "openid": "oEarner"},
        ),
        202,
    )
    assert accepted["status"] in ("pending", "succeeded")

    def succeeded() -> Any:
        got = ok(shop.request("GET", shop.path("/members/earner/withdrawals/w1")))
        return got if got["status"] == "succeeded" else None

    wait_until(succeeded, "withdrawal w1 paid by the stand-in")
    assert balance() == {"frozen_fen": 0, "available_fen": 4000, "withdrawing_fen": 0, "withdrawn_fen": 6000}

    # the stand-in now fails the next transfer: the money returns once
    assert (
        http_request(
            "POST",
            standin_url + "/standin/payouts/behaviour",
            b'{"outcome": "FAIL"}',
            {"Content-Type": "application/json"},
        )[0]
        == 200
    )
    ok(
        shop.request(
            "POST",
            shop.path("/members/earner/withdrawals"),
            {"withdrawal_id": "w2", "amount_fen": 3000, "openid": "oEarner"},
        ),
        202,
    )

    def failed() -> Any:
        got = ok(shop.request("GET", shop.path("/members/earner/withdrawals/w2")))
        return got if got["status"] == "failed" else None

    assert wait_until(failed, "withdrawal w2 failed")["reason"]
    assert balance() == {"frozen_fen": 0, "available_fen": 4000, "withdrawing_fen": 0, "withdrawn_fen": 6000}
    assert ok(operator.run_job("audit"))["differences"] == []
