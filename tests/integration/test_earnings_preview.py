"""分销赚/自购返 (SPEC §9): for random rates, product overrides, prices and distributor status, the preview
equals what the engine then pays for a one-line order at that price (by a fan of the member: level 1; by the
member: self)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fenxiao import clock
from tests.support.app import ShopCaller
from tests.support.orders import order_body, pay, run

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


@st.composite
def rate_sets(draw: st.DrawFn) -> dict[str, int]:
    """Three rates in basis points that together stay within 100 % (the settings' own rule)."""
    level1 = draw(st.integers(min_value=0, max_value=10_000))
    level2 = draw(st.integers(min_value=0, max_value=10_000 - level1))
    own = draw(st.integers(min_value=0, max_value=10_000 - level1 - level2))
    return {"level1_bp": level1, "level2_bp": level2, "self_bp": own}


rates = rate_sets()


def paid_commission(shop: ShopCaller, order_id: str, tier: str) -> int:
    view = shop.get(shop.path(f"/orders/{order_id}")).body
    return sum(c["amount_fen"] for c in view["commissions"] if c["tier"] == tier and c["member_id"] == "m")


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    defaults=rates,
    override=st.none() | rates,
    price=st.integers(min_value=0, max_value=10**7),
    distributor=st.booleans(),
)
def test_preview_equals_what_the_engine_pays(
    shop: ShopCaller, defaults: dict[str, int], override: dict[str, int] | None, price: int, distributor: bool
) -> None:
    n = next(EXAMPLE)  # every example its own product, fan, orders and hour on the shop's clock
    at = T0 + timedelta(hours=n)
    clock.set_now(at)
    assert shop.put(shop.path("/settings/distribution"), {"rates": defaults}).status == 200
    product, fan = f"p{n}", f"f{n}"
    if override is not None:
        assert shop.put(shop.path(f"/products/{product}/rates"), override).status == 200
    assert shop.put(shop.path("/members/m/distributor"), {"active": True}).status == 200
    assert shop.post(shop.path(f"/members/{fan}/inviter"), {"inviter_id": "m"}).status == 201
    assert shop.put(shop.path("/members/m/distributor"), {"active": distributor}).status == 200

    body = {"member_id": "m", "items": [{"product_id": product, "price_fen": price}]}
    preview = shop.post(shop.path("/earnings"), body)
    assert preview.status == 200, preview.body
    item = preview.body["items"][0]

    paid_at = clock.now() + timedelta(minutes=1)
    for order_id, buyer in ((f"o{n}fan", fan), (f"o{n}self", "m")):
        assert (
            shop.put(shop.path(f"/orders/{order_id}"), order_body(buyer, [("l1", product, price)])).status
            == 201
        )
        pay(shop.shop_id, order_id, price, paid_at)
        run(shop.shop_id, order_id, paid_at)
    assert item["share_earn_fen"] == paid_commission(shop, f"o{n}fan", "level1")
    assert item["self_earn_fen"] == paid_commission(shop, f"o{n}self", "self")
    if distributor:  # the preview is not trivially 0: it is the rule's amount
        rate = (override or defaults)["level1_bp"]
        assert item["share_earn_fen"] == price * rate // 10_000


EXAMPLE = itertools.count()
