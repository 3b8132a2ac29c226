"""The storm's facts, drawn from a seed: the shop's programme, members and their bindings, the members the
shop revoked, and the orders with their payment and refunds.

Plain data, no product code: the oracle (``oracle.py``) computes what these facts must give, and the
driver (``driver.py``) tells them to the product as the mall and WeChat Pay would.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

SHOP_ID = "storm"
T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # the storm's payments start here (10:00 in Shanghai)
SETUP_AT = T0 - timedelta(days=10)  # programme configured and members bound before any payment
REVOKED_AT = T0 - timedelta(days=9)
EARLY_PAID_AT = T0 - timedelta(days=8)  # a few orders paid earlier: their freeze ends before the storm
STORM_NOW = T0 + timedelta(days=1, hours=1)  # the clock while the storm is told: after every fact
PAYMENT_WINDOW = timedelta(hours=6)


@dataclass(frozen=True)
class Rates:
    level1_bp: int
    level2_bp: int
    self_bp: int


@dataclass(frozen=True)
class Programme:
    rates: Rates
    product_rates: dict[str, Rates]
    freeze_days: int  # basis "payment"
    growth_coefficient: str  # a decimal string, SPEC §6


@dataclass(frozen=True)
class Line:
    line_id: str
    product_id: str
    quantity: int
    paid_fen: int


@dataclass(frozen=True)
class RefundFact:
    out_refund_no: str
    refund_id: str
    amount_fen: int
    success_time: datetime
    split: tuple[tuple[str, int], ...] | None  # registered by the mall before WeChat Pay reports it


@dataclass(frozen=True)
class OrderFact:
    order_id: str
    buyer_id: str
    lines: tuple[Line, ...]
    shipping_fen: int
    transaction_id: str
    paid_fen: int  # WeChat Pay's amount.total (differs from total_fen for an amount mismatch)
    paid_at: datetime
    refunds: tuple[RefundFact, ...]

    @property
    def total_fen(self) -> int:
        return sum(line.paid_fen for line in self.lines) + self.shipping_fen

    def body(self) -> dict[str, object]:
        """``PUT /shops/{s}/orders/{order_id}`` as the mall sends it."""
        return {
            "buyer_id": self.buyer_id,
            "lines": [
                {
                    "line_id": li.line_id,
                    "product_id": li.product_id,
                    "quantity": li.quantity,
                    "paid_fen": li.paid_fen,
                }
                for li in self.lines
            ],
            "shipping_fen": self.shipping_fen,
            "total_fen": self.total_fen,
        }


@dataclass(frozen=True)
class Scenario:
    programme: Programme
    members: tuple[str, ...]
    inviters: dict[str, str]  # member -> inviter, bound before the storm, in member order
    revoked: frozenset[str]  # distributor status revoked by the shop before the storm
    orders: tuple[OrderFact, ...]


PROGRAMME = Programme(
    rates=Rates(level1_bp=1234, level2_bp=567, self_bp=89),
    product_rates={
        "p1": Rates(level1_bp=2000, level2_bp=100, self_bp=0),
        "p2": Rates(level1_bp=1500, level2_bp=0, self_bp=501),
        "p3": Rates(level1_bp=333, level2_bp=77, self_bp=1),
    },
    freeze_days=7,
    growth_coefficient="1.5",
)
PRODUCTS = [f"p{i}" for i in range(8)]


def build(seed: int, n_orders: int) -> Scenario:
    rng = random.Random(seed)
    members, inviters = _members(rng, max(40, min(400, n_orders // 8)))
    revoked = frozenset(rng.sample(members, max(3, len(members) // 25)))
    orders = tuple(_order(rng, i, members) for i in range(n_orders))
    return Scenario(PROGRAMME, tuple(members), inviters, revoked, orders)


def _members(rng: random.Random, count: int) -> tuple[list[str], dict[str, str]]:
    """Roots first; each later member is bound (85 %) to an earlier one, so chains have any depth and no
    cycle can appear."""
    members = [f"m{i:04d}" for i in range(count)]
    roots = max(4, count // 12)
    inviters = {}
    for i in range(roots, count):
        if rng.random() < 0.85:
            inviters[members[i]] = members[rng.randrange(i)]
    return members, inviters


def _order(rng: random.Random, index: int, members: list[str]) -> OrderFact:
    order_id = f"o{index:05d}"
    lines = []
    for j in range(rng.choice([1, 1, 2, 2, 3, 4])):
        roll = rng.random()
        paid = (
            rng.randint(1, 99)
            if roll < 0.2
            else rng.randint(30000, 200000)
            if roll > 0.9
            else rng.randint(100, 30000)
        )
        lines.append(Line(f"l{j}", rng.choice(PRODUCTS), rng.randint(1, 3), paid))
    shipping = 0 if rng.random() < 0.5 else rng.randint(1, 1500)
    total = sum(li.paid_fen for li in lines) + shipping
    paid = total
    if rng.random() < 0.015:  # amount_mismatch: WeChat Pay reports another amount than the order's total
        paid = total + rng.choice([-1, 1]) * rng.randint(1, max(1, min(500, total - 1)))
    early = rng.random() < 0.04
    start = EARLY_PAID_AT if early else T0
    paid_at = start + timedelta(seconds=rng.randrange(int(PAYMENT_WINDOW.total_seconds())))
    refunds = _refunds(rng, order_id, tuple(lines), paid, paid_at, early)
    return OrderFact(
        order_id=order_id,
        buyer_id=rng.choice(members),
        lines=tuple(lines),
        shipping_fen=shipping,
        transaction_id=f"4200{index:012d}",
        paid_fen=paid,
        paid_at=paid_at,
        refunds=refunds,
    )


def _refunds(
    rng: random.Random, order_id: str, lines: tuple[Line, ...], paid: int, paid_at: datetime, early: bool
) -> tuple[RefundFact, ...]:
    roll = rng.random()
    if roll < 0.05:
        amounts = [paid] if rng.random() < 0.5 else _cut(rng, paid, 2)  # refunded in full
    elif roll < 0.5:
        budget = rng.randint(1, max(1, paid * 3 // 4))
        amounts = _cut(rng, budget, rng.randint(1, 3))
    else:
        return ()
    effective = paid_at + timedelta(days=PROGRAMME.freeze_days)
    capacity = {li.line_id: li.paid_fen for li in lines}  # what splits may still name on each line
    out = []
    for r, amount in enumerate(amounts):
        if early and rng.random() < 0.5:
            # at or after the effective time: must not change the commission (but still the growth)
            at = effective if rng.random() < 0.4 else effective + timedelta(seconds=rng.randint(1, 12 * 3600))
        elif early:
            at = paid_at + timedelta(seconds=rng.randint(60, 6 * 86400))
        else:
            at = paid_at + timedelta(seconds=rng.randint(60, 18 * 3600))
        split = _split(rng, lines, amount, capacity) if rng.random() < 0.35 else None
        no = f"{order_id}-r{r}"
        out.append(RefundFact(no, f"5030{order_id[1:]}{r:02d}", amount, at, split))
    return tuple(out)


def _cut(rng: random.Random, total: int, parts: int) -> list[int]:
    """``total`` in ``parts`` positive pieces (fewer when it is too small)."""
    parts = max(1, min(parts, total))
    cuts = sorted(rng.sample(range(1, total), parts - 1)) if parts > 1 else []
    bounds = [0, *cuts, total]
    return [b - a for a, b in itertools.pairwise(bounds)]


def _split(
    rng: random.Random, lines: tuple[Line, ...], amount: int, capacity: dict[str, int]
) -> tuple[tuple[str, int], ...] | None:
    """A line split for one refund: usually adding up to the refund, sometimes less (the rest is unsplit)
    or more (scaled down), never naming more than a line has left for splits."""
    named = [li for li in lines if capacity[li.line_id] > 0]
    if not named:
        return None
    named = rng.sample(named, min(len(named), rng.choice([1, 1, 2])))
    roll = rng.random()
    target = amount if roll < 0.7 else max(1, amount // 2) if roll < 0.85 else amount + rng.randint(1, 300)
    split = []
    for i, line in enumerate(named):
        share = target if i == len(named) - 1 else rng.randint(0, target)
        share = min(share, capacity[line.line_id])
        target -= share
        if share > 0:
            split.append((line.line_id, share))
            capacity[line.line_id] -= share
    return tuple(split) or None
