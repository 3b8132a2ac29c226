"""End-to-end throughput of the local stack: orders per second from a signed WeChat Pay notification to
stored commissions, through the real HTTP API, queue poller and consumer of ``fenxiao local up``, every
notification delivered 1–3 times. Two rounds in one run, side by side: ORDERS orders on a fresh stack,
then ORDERS more once STORED orders are stored (the first round's orders cloned, item for item, straight
into the stack's moto: the same items, indexes and partitions the HTTP path writes, in seconds).

    .venv/bin/python -m pytest -p no:xdist -q -s -m bench tests/bench/test_bench_throughput.py
(FENXIAO_BENCH_ORDERS, default 200; FENXIAO_BENCH_STORED, default 5000.)
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fenxiao_local.client import OperatorClient, ShopClient, StandinClient
from tests.support.e2e import TOKEN, start_stack

pytestmark = pytest.mark.bench

ORDERS = int(os.environ.get("FENXIAO_BENCH_ORDERS", "200"))
STORED = int(os.environ.get("FENXIAO_BENCH_STORED", "5000"))
COMMISSION = 100  # b earns 100 fen (level 1, 10 %) per 1000-fen order
ROUND_LIMIT_SECONDS = 1800
RESENDS = 5


def _order_id(i: int) -> str:
    return f"bo{i:06d}x"  # a token no other value of the stack contains


def _transaction_id(i: int) -> str:
    return f"42{i:026d}"


class Round:
    def __init__(self, shop: ShopClient, standin: StandinClient, settings: dict[str, Any]) -> None:
        self.shop, self.standin, self.settings = shop, standin, settings
        self.deliveries = 0
        self.resent = 0

    def frozen(self) -> int:
        return int(self.shop.request("GET", self.shop.path("/members/b"))[1]["balance"]["frozen_fen"])

    def run(self, first: int, count: int, label: str) -> dict[str, Any]:
        """Register orders first..first+count, notify each 1–3 times; seconds until all are stored."""
        body = {
            "buyer_id": "c",
            "lines": [{"line_id": "l1", "product_id": "p", "quantity": 1, "paid_fen": 1000}],
            "shipping_fen": 0,
            "total_fen": 1000,
        }
        ids = range(first, first + count)
        with ThreadPoolExecutor(8) as pool:
            statuses = list(
                pool.map(
                    lambda i: self.shop.request("PUT", self.shop.path(f"/orders/{_order_id(i)}"), body)[0],
                    ids,
                )
            )
        assert set(statuses) == {201}
        baseline = self.frozen()
        paid_at = (datetime.now(UTC) + timedelta(seconds=1)).isoformat(timespec="seconds")
        time.sleep(1.2)
        rng = random.Random(first)
        deliveries = {i: rng.randint(1, 3) for i in ids}

        def pay(i: int) -> None:
            resource = {
                "mchid": self.settings["mchid"],
                "appid": self.settings["appid"],
                "out_trade_no": _order_id(i),
                "transaction_id": _transaction_id(i),
                "trade_state": "SUCCESS",
                "success_time": paid_at,
                "amount": {"total": 1000, "payer_total": 1000, "currency": "CNY", "payer_currency": "CNY"},
            }
            for _ in range(RESENDS):  # WeChat Pay sends again what was not answered 200
                answer = self.standin.notify(
                    "bench", "TRANSACTION.SUCCESS", resource, deliveries=deliveries[i]
                )
                if answer[0] == 200:
                    return
                self.resent += 1
            raise AssertionError(answer)

        load_at_start = os.getloadavg()
        started = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(pay, ids))
        accepted = time.monotonic() - started
        target = baseline + count * COMMISSION
        last = -1
        while (frozen := self.frozen()) < target and time.monotonic() - started < ROUND_LIMIT_SECONDS:
            done = (frozen - baseline) // COMMISSION
            if done * 10 // count != last:
                last = done * 10 // count
                print(f"[bench] throughput ({label}): {done}/{count} orders with commissions", flush=True)
            time.sleep(0.1)
        elapsed = time.monotonic() - started
        assert frozen == target, (frozen, target)
        self.deliveries += sum(deliveries.values())
        load = os.getloadavg()  # the machine is shared: a rate means little without it
        print(
            f"[bench] throughput ({label}): {count} orders in {elapsed:.1f} s, load {load[0]:.1f}", flush=True
        )
        return {
            "load": f"{load_at_start[0]:.1f} at the start, {load[0]:.1f} at the end (1-minute load average)",
            "deliveries": sum(deliveries.values()),
            "notifications_per_second": sum(deliveries.values()) / accepted,
            "orders_per_second": count / elapsed,
            "ms_per_order": elapsed * 1000 / count,
        }


def _moto_endpoint(stdout: list[str]) -> str:
    for line in stdout:
        found = re.search(r"\) on (http://127\.0\.0\.1:\d+)", line)
        if found:
            return found.group(1)
    raise AssertionError("no moto line in the stack's output")


def _clone_orders(endpoint: str, templates: range, copies: int, first_copy: int) -> tuple[int, float]:
    """Every item of the template orders (any item a string of which names the order), copied ``copies``
    times under new order and transaction ids; an item whose key would not change is not copied."""
    import boto3

    started = time.monotonic()
    client = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    tokens = {_order_id(i): i for i in templates} | {_transaction_id(i): i for i in templates}
    pattern = re.compile("|".join(map(re.escape, tokens)))
    written = 0
    for table in client.list_tables()["TableNames"]:
        keys = [k["AttributeName"] for k in client.describe_table(TableName=table)["Table"]["KeySchema"]]
        items = []
        for page in client.get_paginator("scan").paginate(TableName=table):
            items += [item for item in page["Items"] if pattern.search(repr(item))]
        puts = []
        for n in range(copies):
            for item in items:
                template = tokens[pattern.search(repr(item)).group(0)]  # type: ignore[union-attr]
                new_index = first_copy + n * len(templates) + (template - templates.start)
                renames = {
                    _order_id(template): _order_id(new_index),
                    _transaction_id(template): _transaction_id(new_index),
                }
                copy = _renamed(item, renames)
                if all(copy[k] == item[k] for k in keys):
                    continue
                puts.append({"PutRequest": {"Item": copy}})
        for start in range(0, len(puts), 25):
            request = {table: puts[start : start + 25]}
            while request:
                request = client.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
        written += len(puts)
    return written, time.monotonic() - started


def _renamed(value: Any, renames: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: _renamed(v, renames) for k, v in value.items()}
    if isinstance(value, list):
        return [_renamed(v, renames) for v in value]
    if isinstance(value, str):
        for old, new in renames.items():
            value = value.replace(old, new)
    return value


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
        rounds = Round(shop, standin, settings)
        fresh = rounds.run(0, ORDERS, "fresh stack")
        copies = max(0, -(-(STORED - ORDERS) // ORDERS))
        cloned, clone_seconds = _clone_orders(_moto_endpoint(running.stdout), range(ORDERS), copies, ORDERS)
        stored = ORDERS * (1 + copies)
        grown = rounds.run(stored, ORDERS, f"{stored} stored")
        report(
            "local stack throughput",
            {
                "orders per round": ORDERS,
                "notifications delivered (1–3 per order)": rounds.deliveries,
                "orders per second, notify -> commissions stored (fresh stack)": round(
                    fresh["orders_per_second"], 1
                ),
                f"orders per second, notify -> commissions stored ({stored} orders stored)": round(
                    grown["orders_per_second"], 1
                ),
                "ms per order (fresh stack)": round(fresh["ms_per_order"], 1),
                f"ms per order ({stored} orders stored)": round(grown["ms_per_order"], 1),
                "per-order time ratio (stored / fresh)": round(
                    grown["ms_per_order"] / fresh["ms_per_order"], 2
                ),
                "load average during the fresh round": fresh["load"],
                f"load average during the round with {stored} stored": grown["load"],
                "notifications accepted per second (8 senders, fresh stack)": round(
                    fresh["notifications_per_second"], 1
                ),
                "notifications resent after a 5xx or a timeout": rounds.resent,
                "cloned items (seeding)": f"{cloned} in {clone_seconds:.1f} s",
                "note": "one process: HTTP API, pollers, stand-in and moto share 2 cores (and one GIL); the"
                " 8 senders run in the benchmark's own process",
            },
        )
    finally:
        running.process.send_signal(signal.SIGINT)
        try:
            running.process.wait(timeout=120)
        except subprocess.TimeoutExpired:  # a stack stuck in moto must not outlive the benchmark
            running.process.kill()
            running.process.wait(timeout=30)
