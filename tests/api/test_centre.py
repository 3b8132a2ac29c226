"""The distribution centre's lists (SPEC §9): fans by level, a member's withdrawals, 收益明细; and the
分销赚/自购返 preview's input and switches. Pages, cursors and bad input included."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fenxiao import clock
from fenxiao.service.members import relink_level2_fans
from tests.support import wechatpay as wx
from tests.support.app import ShopCaller
from tests.support.leaderboard import drain_bindings
from tests.support.orders import order_body, pay, refund, run

pytestmark = pytest.mark.api

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"


def bind(shop: ShopCaller, member: str, inviter: str, at: datetime) -> None:
    clock.set_now(at)
    answer = shop.post(shop.path(f"/members/{member}/inviter"), {"inviter_id": inviter})
    assert answer.status == 201, answer.body
    assert drain_bindings() == 1  # the binding queue is not consumed under chalice.test


def pages(shop: ShopCaller, rest: str, limit: int) -> list[list[dict[str, Any]]]:
    """Every page of a list, following next_cursor."""
    out, cursor = [], None
    sep = "&" if "?" in rest else "?"
    while True:
        query = f"{sep}limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        answer = shop.get(shop.path(rest + query))
        assert answer.status == 200, answer.body
        assert set(answer.body) == {"entries", "next_cursor"}
        out.append(answer.body["entries"])
        cursor = answer.body["next_cursor"]
        if cursor is None:
            return out


def fans(shop: ShopCaller, member: str, level: int) -> list[str]:
    return [
        f["member_id"] for page in pages(shop, f"/members/{member}/fans?level={level}", 100) for f in page
    ]


def error_field(answer: Any) -> tuple[int, str | None]:
    return answer.status, answer.body["error"].get("field")


# ---------------------------------------------------------------- fans


def test_fans_by_level_newest_first_in_pages_and_after_rebinding(shop: ShopCaller) -> None:
    clock.set_now(T0 - timedelta(days=1))
    assert shop.put(shop.path("/settings/distribution"), {"binding": {"mode": "last_touch"}}).status == 200
    bind(shop, "c", "b", T0)
    bind(shop, "d", "b", T0 + timedelta(minutes=1))
    assert fans(shop, "b", 1) == ["d", "c"]
    assert fans(shop, "a", 2) == []
    # b's first binding, with fans already: they become a's level-2 fans.
    bind(shop, "b", "a", T0 + timedelta(minutes=2))
    assert fans(shop, "a", 1) == ["b"]
    assert fans(shop, "a", 2) == ["d", "c"]
    paged = pages(shop, "/members/a/fans?level=2", 1)
    assert [f["member_id"] for page in paged for f in page] == ["d", "c"]
    assert all(len(page) <= 1 for page in paged)
    assert paged[0][0]["member_id"] == "d"
    assert paged[0][0]["bound_at"].startswith("2026-11-20T10:01:00")  # the clock runs on from T0
    assert shop.get(shop.path("/members/a")).body["fans"] == {"level1": 1, "level2": 2}

    # b moves to x (last_touch): b's fans follow it to x's level 2, a keeps nothing.
    bind(shop, "b", "x", T0 + timedelta(minutes=3))
    assert (fans(shop, "a", 1), fans(shop, "a", 2)) == ([], [])
    assert (fans(shop, "x", 1), fans(shop, "x", 2)) == (["b"], ["d", "c"])
    assert shop.get(shop.path("/members/x")).body["fans"] == {"level1": 1, "level2": 2}
    assert relink_level2_fans("shop1", "b") == 0  # a repeated message writes nothing

    # c moves to a: it leaves b's level 1 and x's level 2, and is a's level 1 (a has no inviter).
    bind(shop, "c", "a", T0 + timedelta(minutes=4))
    assert (fans(shop, "b", 1), fans(shop, "x", 2)) == (["d"], ["d"])
    assert (fans(shop, "a", 1), fans(shop, "a", 2)) == (["c"], [])
    # Unknown member: no fans, like the other member lists.
    assert fans(shop, "nobody", 1) == []


def test_fans_bad_input_is_400_naming_the_field(shop: ShopCaller) -> None:
    bind(shop, "c", "b", T0)
    bind(shop, "d", "b", T0 + timedelta(minutes=1))
    for query, field in [
        ("?level=3", "level"),
        ("?level=", "level"),
        ("?limit=0", "limit"),
        ("?limit=101", "limit"),
        ("?cursor=notacursor", "cursor"),
    ]:
        assert error_field(shop.get(shop.path(f"/members/b/fans{query}"))) == (400, field), query
    first = shop.get(shop.path("/members/b/fans?limit=1")).body
    assert [(f["member_id"], f["bound_at"][:19]) for f in first["entries"]] == [("d", "2026-11-20T10:01:00")]
    cursor = first["next_cursor"]
    # A cursor of b's level-1 list is refused for another member and for b's level 2.
    assert error_field(shop.get(shop.path(f"/members/c/fans?cursor={cursor}"))) == (400, "cursor")
    assert error_field(shop.get(shop.path(f"/members/b/fans?level=2&cursor={cursor}"))) == (400, "cursor")
    second = shop.get(shop.path(f"/members/b/fans?level=1&limit=1&cursor={cursor}")).body["entries"]
    assert [(f["member_id"], f["bound_at"][:19]) for f in second] == [("c", "2026-11-20T10:00:00")]


# ---------------------------------------------------------------- 收益明细 and withdrawals


def settle(now: datetime) -> None:
    from fenxiao.service import settlement

    cursor = None
    while True:
        cursor = settlement.run_page(now, cursor).cursor
        if cursor is None:
            return


def test_ledger_adds_up_to_the_balance_and_withdrawals_list(shop: ShopCaller) -> None:
    clock.set_now(T0 - timedelta(days=1))
    assert shop.put(shop.path("/settings/wechatpay"), wx.wechatpay_settings()).status == 200
    body = {
        "rates": {"level1_bp": 1000, "level2_bp": 500, "self_bp": 200},
        "settlement": {"basis": "payment", "freeze_days": 1, "withdraw_min_fen": 100},
    }
    assert shop.put(shop.path("/settings/distribution"), body).status == 200
    bind(shop, "b", "a", T0 - timedelta(days=1))
    for n, fen in enumerate([10_000, 20_000, 7_777]):
        order = f"o{n}"
        assert shop.put(shop.path(f"/orders/{order}"), order_body("b", [("l1", "p1", fen)])).status == 201
        pay("shop1", order, fen, T0 + timedelta(minutes=n))
        assert run("shop1", order, T0 + timedelta(minutes=n))
    refund("shop1", "o1", "r1", 5_000, T0 + timedelta(hours=1))  # during the freeze: a clawback
    assert run("shop1", "o1", T0 + timedelta(hours=1))
    clock.set_now(T0 + timedelta(days=2))
    settle(T0 + timedelta(days=2))
    for wid, fen in [("w1", 1_000), ("w2", 500)]:
        request = {"withdrawal_id": wid, "amount_fen": fen, "openid": OPENID}
        assert shop.post(shop.path("/members/a/withdrawals"), request).status == 202

    for member in ("a", "b"):
        balance = shop.get(shop.path(f"/members/{member}")).body["balance"]
        listed = [e for page in pages(shop, f"/members/{member}/ledger", 2) for e in page]
        sums: Counter[str] = Counter()
        for entry in listed:
            sums[entry["bucket"]] += entry["amount_fen"]
        assert {b: sums[b] for b in balance} == balance, member
        times = [datetime.fromisoformat(e["at"]) for e in listed]
        assert times == sorted(times, reverse=True)
    listed = [e for page in pages(shop, "/members/a/ledger", 100) for e in page]
    kinds = Counter(e["kind"] for e in listed)
    # 3 frozen; 1 clawback; 3 releases (two buckets each); 2 reserves (two buckets each).
    assert kinds == Counter(
        commission_frozen=3, commission_clawback=1, commission_available=6, withdrawal_reserve=4
    )
    assert listed[0] == {
        "at": listed[0]["at"],
        "kind": "withdrawal_reserve",
        "amount_fen": listed[0]["amount_fen"],
        "bucket": listed[0]["bucket"],
        "withdrawal_id": "w2",
    }
    assert {(e["bucket"], e["amount_fen"]) for e in listed[:2]} == {
        ("available_fen", -500),
        ("withdrawing_fen", 500),
    }
    clawback = next(e for e in listed if e["kind"] == "commission_clawback")
    assert (clawback["order_id"], clawback["bucket"], clawback["amount_fen"]) == ("o1", "frozen_fen", -500)
    assert all(("order_id" in e) != ("withdrawal_id" in e) for e in listed)

    # The member's withdrawals, newest first, as the single GET shows them.
    listed_w = [w for page in pages(shop, "/members/a/withdrawals", 1) for w in page]
    assert [w["withdrawal_id"] for w in listed_w] == ["w2", "w1"]
    for w in listed_w:
        assert w == shop.get(shop.path(f"/members/a/withdrawals/{w['withdrawal_id']}")).body
    assert pages(shop, "/members/b/withdrawals", 10) == [[]]
    assert pages(shop, "/members/nobody/ledger", 10) == [[]]


def test_ledger_and_withdrawals_cursors_belong_to_their_member(shop: ShopCaller) -> None:
    from tests.support.money import give_available

    clock.set_now(T0)
    assert shop.put(shop.path("/settings/wechatpay"), wx.wechatpay_settings()).status == 200
    give_available("shop1", "m1", 5_000)
    give_available("shop1", "m2", 5_000)
    for member in ("m1", "m2"):
        for wid in ("w1", "w2"):
            request = {"withdrawal_id": f"{member}{wid}", "amount_fen": 100, "openid": OPENID}
            assert shop.post(shop.path(f"/members/{member}/withdrawals"), request).status == 202
    for rest in ("withdrawals", "ledger"):
        first = shop.get(shop.path(f"/members/m1/{rest}?limit=1")).body
        assert first["next_cursor"]
        other = shop.get(shop.path(f"/members/m2/{rest}?cursor={first['next_cursor']}"))
        assert error_field(other) == (400, "cursor"), rest
        for query in ("?limit=0", "?limit=101", "?limit=x"):
            assert error_field(shop.get(shop.path(f"/members/m1/{rest}{query}"))) == (400, "limit")


# ---------------------------------------------------------------- 分销赚 / 自购返


def earnings(shop: ShopCaller, member: str, items: list[tuple[str, int]]) -> Any:
    body = {"member_id": member, "items": [{"product_id": p, "price_fen": f} for p, f in items]}
    return shop.post(shop.path("/earnings"), body)


def test_earnings_preview_rates_overrides_distributor_and_switch(shop: ShopCaller) -> None:
    clock.set_now(T0)
    rates = {"rates": {"level1_bp": 1000, "level2_bp": 500, "self_bp": 200}}
    assert shop.put(shop.path("/settings/distribution"), rates).status == 200
    own = {"level1_bp": 3333, "level2_bp": 0, "self_bp": 1}
    assert shop.put(shop.path("/products/p2/rates"), own).status == 200
    answer = earnings(shop, "m1", [("p1", 999), ("p2", 999), ("p1", 0)])
    assert answer.status == 200, answer.body
    assert answer.body == {
        "items": [
            {"product_id": "p1", "price_fen": 999, "share_earn_fen": 99, "self_earn_fen": 19},
            {"product_id": "p2", "price_fen": 999, "share_earn_fen": 332, "self_earn_fen": 0},
            {"product_id": "p1", "price_fen": 0, "share_earn_fen": 0, "self_earn_fen": 0},
        ],
        "show_earn_label": True,
        "show_self_purchase_label": True,
    }
    # A member who is not a distributor earns nothing, at level 1 or on its own purchase.
    assert shop.put(shop.path("/members/m1/distributor"), {"active": False}).status == 200
    items = earnings(shop, "m1", [("p1", 999)]).body["items"]
    assert (items[0]["share_earn_fen"], items[0]["self_earn_fen"]) == (0, 0)
    # Distribution off: both 0; the labels follow ui.
    off = {"enabled": False, "ui": {"show_earn_label": False, "show_self_purchase_label": True}}
    assert shop.put(shop.path("/settings/distribution"), off).status == 200
    answer = earnings(shop, "m2", [("p1", 999)])
    assert answer.body["items"][0] == {
        "product_id": "p1",
        "price_fen": 999,
        "share_earn_fen": 0,
        "self_earn_fen": 0,
    }
    assert (answer.body["show_earn_label"], answer.body["show_self_purchase_label"]) == (False, True)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"member_id": "m1", "items": [{"product_id": "p", "price_fen": 1}] * 51}, "items"),
        ({"member_id": "m1", "items": []}, "items"),
        ({"items": [{"product_id": "p", "price_fen": 1}]}, "member_id"),
        ({"member_id": "m 1", "items": [{"product_id": "p", "price_fen": 1}]}, "member_id"),
        ({"member_id": "m1", "items": [{"product_id": "p", "price_fen": -1}]}, "items[0].price_fen"),
        ({"member_id": "m1", "items": [{"product_id": "p", "price_fen": "1"}]}, "items[0].price_fen"),
        ({"member_id": "m1", "items": [{"price_fen": 1}]}, "items[0].product_id"),
    ],
)
def test_earnings_bad_input_is_400_naming_the_field(shop: ShopCaller, body: Any, field: str) -> None:
    clock.set_now(T0)
    assert error_field(shop.post(shop.path("/earnings"), body)) == (400, field)
