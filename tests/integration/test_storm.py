"""Reorder and duplicate storm: every fact delivered 1-5 times in shuffled order gives exactly the
commissions, balances and ledger totals of the same facts delivered once, in order."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fenxiao import clock
from fenxiao.adapters.ledger import LedgerEntryModel
from fenxiao.service import orders
from fenxiao.service.audit import BUCKETS
from tests.support.app import Api, ShopCaller
from tests.support.money import assert_audit_clean
from tests.support.orders import order_body, pay, refund, run

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
MEMBERS = ["a", "b", "c", "d", "e", "f"]


def _scenario(rng: random.Random) -> list[tuple[str, Any]]:
    """Facts for 12 orders: registration, payment (1 of 12 with a mismatched amount), refunds
    (some with a line split registered by the mall), each at its own time within the freeze."""
    facts: list[tuple[str, Any]] = []
    for i in range(12):
        oid = f"o{i}"
        buyer = rng.choice(["c", "d", "e", "f"])
        lines = [
            (f"l{j}", f"p{rng.randint(1, 3)}", rng.randint(1, 50) * 100 + rng.randint(0, 99))
            for j in range(rng.randint(1, 3))
        ]
        body = order_body(buyer, lines, shipping=rng.choice([0, 500]))
        paid_at = T0 + timedelta(minutes=10 * i)
        total = body["total_fen"] if i != 7 else body["total_fen"] - 1
        facts.append(("order", (oid, body)))
        facts.append(("pay", (oid, total, paid_at)))
        left = body["total_fen"]
        for r in range(rng.randint(0, 3)):
            amount = rng.randint(1, max(1, left // 2))
            left -= amount
            no = f"{oid}-r{r}"
            if r == 0 and len(lines) > 1:
                split_amount = min(amount, lines[0][2])
                facts.append(("split", (oid, no, [{"line_id": lines[0][0], "refund_fen": split_amount}])))
            facts.append(("refund", (oid, no, amount, paid_at + timedelta(hours=r + 1))))
    return facts


def _deliver(shop: ShopCaller, facts: list[tuple[str, Any]], now: datetime) -> None:
    for kind, args in facts:
        if kind == "order":
            oid, body = args
            assert shop.put(shop.path(f"/orders/{oid}"), body).status in (200, 201)
            run(shop.shop_id, oid, now)
        elif kind == "pay":
            oid, total, at = args
            pay(shop.shop_id, oid, total, at)
            run(shop.shop_id, oid, now)
        elif kind == "split":
            oid, no, lines = args
            # the mall registers a split before WeChat Pay reports the refund; once reported it is refused
            answer = shop.put(shop.path(f"/orders/{oid}/refunds/{no}"), {"lines": lines})
            assert answer.status in (200, 201, 404, 409), answer
        elif kind == "refund":
            oid, no, amount, at = args
            refund(shop.shop_id, oid, no, amount, at)
            run(shop.shop_id, oid, now)


def _snapshot(shop_id: str, order_ids: list[str]) -> dict[str, Any]:
    commissions = {}
    for oid in order_ids:
        view = orders.get_order(shop_id, oid)
        commissions[oid] = (
            view["status"],
            view["flags"],
            sorted((c["tier"], c["member_id"], c["amount_fen"], c["status"]) for c in view["commissions"]),
        )
    balances = {}
    ledger_totals: dict[str, dict[str, int]] = {}
    for m in MEMBERS:
        try:
            from fenxiao.service.members import member_view

            balances[m] = member_view(shop_id, m, clock.now())["balance"] | {
                "growth": member_view(shop_id, m, clock.now())["growth"]
            }
        except Exception:
            balances[m] = None
        totals: dict[str, int] = defaultdict(int)
        for entry in LedgerEntryModel.query(f"{shop_id}#{m}"):
            for bucket in BUCKETS:
                totals[bucket] += int(getattr(entry, bucket) or 0)
        ledger_totals[m] = dict(totals)
    return {"commissions": commissions, "balances": balances, "ledger": ledger_totals}


def _setup(api: Api, shop_id: str) -> ShopCaller:
    shop = api.create_shop(shop_id)
    settings = {
        "rates": {"level1_bp": 1000, "level2_bp": 500, "self_bp": 300},
        "settlement": {"basis": "payment", "freeze_days": 7},
    }
    assert shop.put(shop.path("/settings/distribution"), settings).status == 200
    assert (
        shop.put(shop.path("/products/p2/rates"), {"level1_bp": 2000, "level2_bp": 100, "self_bp": 0}).status
        == 200
    )
    assert shop.put(shop.path("/settings/membership"), {"growth_coefficient": "1.5"}).status == 200
    for member, inviter in [("b", "a"), ("c", "b"), ("d", "b"), ("e", "c"), ("f", "a")]:
        assert shop.post(shop.path(f"/members/{member}/inviter"), {"inviter_id": inviter}).status == 201
    return shop


@pytest.mark.parametrize("seed", [1])
def test_shuffled_duplicated_delivery_equals_in_order(api: Api, seed: int) -> None:
    rng = random.Random(seed)
    clock.set_now(T0 - timedelta(days=1))
    ordered = _setup(api, "ordered")
    storm = _setup(api, "storm")
    facts = _scenario(rng)
    order_ids = sorted({args[0] for _, args in facts})
    now = T0 + timedelta(days=1)
    clock.set_now(now)

    _deliver(ordered, facts, now)
    # The mall registers a refund's line split before it asks WeChat Pay for the refund, so orders with a
    # split are registered and split first; every other fact (registrations included) is shuffled.
    split_orders = {args[0] for kind, args in facts if kind == "split"}
    mall_first = [f for f in facts if f[0] == "split" or (f[0] == "order" and f[1][0] in split_orders)]
    rest = [f for f in facts if f not in mall_first]
    noisy = [f for f in rest for _ in range(rng.randint(1, 5))]
    rng.shuffle(noisy)
    _deliver(storm, [f for f in mall_first for _ in range(rng.randint(1, 3))] + noisy, now)

    expected = _snapshot("ordered", order_ids)
    got = _snapshot("storm", order_ids)
    assert got["balances"] == expected["balances"]
    assert got["commissions"] == expected["commissions"]
    assert got["ledger"] == expected["ledger"]
    assert any(c[2] for c in expected["commissions"].values())
    assert expected["commissions"]["o7"][1] == ["amount_mismatch"]
    # the audit walks every member of both shops and finds each one's balances equal to its ledger
    assert assert_audit_clean(now) == 2 * len(MEMBERS)
