"""SPEC §4 on the local stack: 50 concurrent withdrawals of one balance, from threads, over HTTP.

The reservation (available -> withdrawing) is one conditional DynamoDB transaction with the withdrawal, so
however the requests interleave: the number that succeed x amount <= what was available, no bucket is ever
negative (watched while the requests run), the buckets still add up to what was earned, every 202 is paid
once by the WeChat Pay stand-in, and the audit finds no difference between ledger and balances."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fenxiao_local.client import OperatorClient, ShopClient, StandinClient
from tests.support.e2e import TOKEN, Running, ok, transaction_success, wait_until

pytestmark = pytest.mark.e2e

EARNED = 10_000  # fen made available to the member
AMOUNT = 300  # each withdrawal: 50 x 300 = 15 000 > 10 000, so at most 33 can succeed
THREADS = 50
BUCKETS = ("frozen_fen", "available_fen", "withdrawing_fen", "withdrawn_fen")


def _funded_shop(stack: Running) -> tuple[OperatorClient, ShopClient]:
    """A shop whose member ``earner`` has EARNED available: order paid, then settled at paid + freeze."""
    operator = OperatorClient(stack.api, TOKEN)
    port = int(stack.api.rsplit(":", 1)[1])
    standin = StandinClient(f"http://127.0.0.1:{port + 1}")
    offset = {"seconds": 0.0}
    secret = ok(operator.create_shop("race", "Race shop"), 201)["api_secret"]
    shop = ShopClient(stack.api, "race", secret, clock=lambda: time.time() + offset["seconds"])
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
        "lines": [{"line_id": "l1", "product_id": "p", "quantity": 1, "paid_fen": EARNED * 5}],
        "shipping_fen": 0,
        "total_fen": EARNED * 5,
    }
    ok(shop.request("PUT", shop.path("/orders/o1"), order), 201)
    paid_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    resource = transaction_success(keys, "o1", "4200000000000000000000009101", EARNED * 5, paid_at)
    ok(standin.notify("race", "TRANSACTION.SUCCESS", resource))
    wait_until(lambda: _balance(shop)["frozen_fen"] == EARNED, "commission frozen")
    due = paid_at + timedelta(days=7, seconds=1)
    offset["seconds"] = due.timestamp() - time.time()

    def settled() -> bool:
        # A run may skip a commission that changed just before (its order still converging); the next
        # run releases it, exactly as the 5-minute schedule would.
        ok(operator.run_job("settlement", due.isoformat()))
        return _balance(shop)["available_fen"] == EARNED

    wait_until(settled, "commission settled")
    assert _balance(shop) == {
        "frozen_fen": 0,
        "available_fen": EARNED,
        "withdrawing_fen": 0,
        "withdrawn_fen": 0,
    }
    return operator, shop


def _balance(shop: ShopClient) -> dict[str, int]:
    return {k: int(v) for k, v in ok(shop.request("GET", shop.path("/members/earner")))["balance"].items()}


def test_fifty_concurrent_withdrawals_of_one_balance_never_overdraw(stack: Running) -> None:
    started = time.monotonic()
    operator, shop = _funded_shop(stack)

    seen: list[dict[str, int]] = []
    stop = threading.Event()

    def watch() -> None:  # balances as other readers see them while the requests race
        while not stop.is_set():
            seen.append(_balance(shop))
            time.sleep(0.05)

    barrier = threading.Barrier(THREADS)

    def withdraw(i: int) -> tuple[int, Any]:
        body = {"withdrawal_id": f"race{i:02d}", "amount_fen": AMOUNT, "openid": "oEarner"}
        barrier.wait(timeout=30)
        for attempt in range(6):
            try:
                return shop.request("POST", shop.path("/members/earner/withdrawals"), body)
            except OSError:  # the local server's listen backlog is small: 50 connects at once overflow it
                # Safe to send again: same id and body answer the same (or, if nothing was stored, afresh).
                time.sleep(0.1 * (attempt + 1))
        return shop.request("POST", shop.path("/members/earner/withdrawals"), body)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        with ThreadPoolExecutor(max_workers=THREADS) as pool:
            answers = list(pool.map(withdraw, range(THREADS)))
    finally:
        stop.set()
        watcher.join(timeout=10)

    statuses = [status for status, _ in answers]
    assert set(statuses) <= {202, 409}, answers  # accepted, or refused for the balance: nothing else
    refused = [body for status, body in answers if status == 409]
    assert all(b["error"]["code"] == "insufficient_balance" for b in refused), refused
    accepted = [f"race{i:02d}" for i, (status, _) in enumerate(answers) if status == 202]
    assert 1 <= len(accepted) <= EARNED // AMOUNT
    assert len(accepted) * AMOUNT <= EARNED

    for snapshot in seen:
        assert all(snapshot[b] >= 0 for b in BUCKETS), snapshot
        assert sum(snapshot[b] for b in BUCKETS) == EARNED, snapshot

    def all_paid() -> bool:
        return all(
            ok(shop.request("GET", shop.path(f"/members/earner/withdrawals/{w}")))["status"] == "succeeded"
            for w in accepted
        )

    try:
        wait_until(all_paid, "every accepted withdrawal paid by the stand-in", timeout=40)
    except BaseException:
        print(stack.output()[-8000:])  # shown by pytest with the failure
        raise
    final = _balance(shop)
    assert final == {
        "frozen_fen": 0,
        "available_fen": EARNED - len(accepted) * AMOUNT,
        "withdrawing_fen": 0,
        "withdrawn_fen": len(accepted) * AMOUNT,
    }
    # A refused id stored nothing: asking for it is 404, and the same id again is still judged afresh.
    if refused:
        missing = next(f"race{i:02d}" for i, (status, _) in enumerate(answers) if status == 409)
        assert shop.request("GET", shop.path(f"/members/earner/withdrawals/{missing}"))[0] == 404
    assert ok(operator.run_job("audit"))["differences"] == []
    print(
        f"\n[e2e] {len(accepted)} of {THREADS} accepted; {len(seen)} balance reads; "
        f"{time.monotonic() - started:.1f} s"
    )
