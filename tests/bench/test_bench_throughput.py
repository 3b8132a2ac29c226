"""End-to-end throughput of the local stack: orders per second from a signed WeChat Pay notification to
stored commissions, through the real HTTP API, queue poller and consumer on moto server."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from fenxiao_local.client import OperatorClient, ShopClient, StandinClient
from tests.support.e2e import TOKEN, start_stack

pytestmark = pytest.mark.bench

ORDERS = int(os.environ.get("FENXIAO_BENCH_ORDERS", "200"))


def test_local_stack_throughput(report) -> None:
    running = start_stack("--operator-token", TOKEN, "--log-level", "WARNING")
    try:
        api = running.api
        port = int(api.rsplit(":", 1)[1])
        standin = StandinClient(f"http://127.0.0.1:{port + 1}")
        created = OperatorClient(api, TOKEN).create_shop("bench", "Bench shop")[1]
        shop = ShopClient(api, "bench", created["api_secret"])
        settings = standin.keys()[1]["wechatpay_settings"]
        assert shop.request("PUT", shop.path("/settings/wechatpay"), settings)[0] == 200
        rates = {
            "rates": {"level1_bp": 1000, "level2_bp": 500, "self_bp": 200},
            "settlement": {"basis": "payment"},
        }
        assert shop.request("PUT", shop.path("/settings/distribution"), rates)[0] == 200
        for member, inviter in (("b", "a"), ("c", "b")):
            assert (
                shop.request("POST", shop.path(f"/members/{member}/inviter"), {"inviter_id": inviter})[0]
                == 201
            )
        paid_at = (datetime.now(UTC) + timedelta(seconds=1)).isoformat(timespec="seconds")

        def register(i: int) -> None:
            body = {
                "buyer_id": "c",
                "lines": [{"line_id": "l1", "product_id": "p", "quantity": 1, "paid_fen": 1000}],
                "shipping_fen": 0,
                "total_fen": 1000,
            }
            assert shop.request("PUT", shop.path(f"/orders/t{i}"), body)[0] == 201

        def pay(i: int) -> None:
            resource = {
                "mchid": settings["mchid"],
                "appid": settings["appid"],
                "out_trade_no": f"t{i}",
                "transaction_id": f"42{i:026d}",
                "trade_state": "SUCCESS",
                "success_time": paid_at,
                "amount": {"total": 1000, "payer_total": 1000, "currency": "CNY", "payer_currency": "CNY"},
            }
            assert standin.notify("bench", "TRANSACTION.SUCCESS", resource)[0] == 200

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(register, range(ORDERS)))
        time.sleep(1.2)
        started = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(pay, range(ORDERS)))
        accepted = time.monotonic() - started
        target = ORDERS * 100  # b earns 100 fen per order
        last = -1
        while True:
            frozen = shop.request("GET", shop.path("/members/b"))[1]["balance"]["frozen_fen"]
            done = frozen // 100
            if done * 10 // ORDERS != last:
                last = done * 10 // ORDERS
                print(f"[bench] throughput: {done}/{ORDERS} orders with commissions", flush=True)
            if frozen >= target or time.monotonic() - started > 600:
                break
            time.sleep(0.25)
        elapsed = time.monotonic() - started
        assert frozen == target
        report(
            "local stack throughput",
            {
                "orders": ORDERS,
                "notifications accepted per second (8 senders)": round(ORDERS / accepted, 1),
                "orders per second, notify -> commissions stored": round(ORDERS / elapsed, 1),
                "note": "one process: HTTP API, pollers and moto server share 2 cores; moto's TransactWriteItems"
                " copies the tables it touches, so it slows as they grow; AWS scales consumers out",
            },
        )
    finally:
        running.process.send_signal(signal.SIGINT)
        running.process.wait(timeout=120)
