"""The money core end to end at the service level: payment -> commissions -> refunds -> completion."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fenxiao import clock
from tests.support.app import ShopCaller
from tests.support.money import assert_audit_clean
from tests.support.orders import order_body, pay, refund, run

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


def setup_chain(shop: ShopCaller, **settings: object) -> None:
    body = {
        "rates": {"level1_bp": 1000, "level2_bp": 500, "self_bp": 200},
        "settlement": {"basis": "payment", "freeze_days": 7},
    }
    body.update(settings)
    clock.set_now(T0 - timedelta(days=1))
    assert shop.put(shop.path("/settings/distribution"), body).status == 200
    assert shop.post(shop.path("/members/b/inviter"), {"inviter_id": "a"}).status == 201
    assert shop.post(shop.path("/members/c/inviter"), {"inviter_id": "b"}).status == 201


def commissions(shop: ShopCaller, order_id: str) -> dict[str, tuple[str, int, str]]:
    view = shop.get(shop.path(f"/orders/{order_id}")).body
    return {c["tier"]: (c["member_id"], c["amount_fen"], c["status"]) for c in view["commissions"]}


def balance(shop: ShopCaller, member: str) -> dict[str, int]:
    return shop.get(shop.path(f"/members/{member}")).body["balance"]


def test_paid_order_pays_level1_level2_and_self(api, shop: ShopCaller) -> None:
    setup_chain(shop)
    # two lines: 10000 and 3333 fen, shipping 500 (never earns)
    assert (
        shop.put(
            shop.path("/orders/o1"), order_body("c", [("l1", "p1", 10000), ("l2", "p2", 3333)], 500)
        ).status
        == 201
    )
    pay("shop1", "o1", 13833, T0)
    assert run("shop1", "o1", T0)
    got = commissions(shop, "o1")
    # level1 (b): floor(10000*1000/10000)=1000 + floor(3333*1000/10000)=333 -> 1333
    # level2 (a): 500 + floor(3333*500/10000)=166 -> 666
    # self (c):   200 + floor(3333*200/10000)=66  -> 266
    assert got == {
        "level1": ("b", 1333, "frozen"),
        "level2": ("a", 666, "frozen"),
        "self": ("c", 266, "frozen"),
    }
    assert balance(shop, "b")["frozen_fen"] == 1333
    assert balance(shop, "a")["frozen_fen"] == 666
    assert balance(shop, "c")["frozen_fen"] == 266
    view = shop.get(shop.path("/orders/o1")).body
    assert view["status"] == "paid"
    assert view["paid_fen"] == 13833
    assert view["commissions"][0]["effective_at"] == "2026-11-27T10:00:00+08:00"  # paid + 7 days, Shanghai
    # a second run (duplicate nudge) changes nothing
    assert not run("shop1", "o1", T0)
    assert balance(shop, "b")["frozen_fen"] == 1333
    assert_audit_clean()


def test_payment_before_order_and_refund_before_payment(api, shop: ShopCaller) -> None:
    setup_chain(shop)
    refund("shop1", "o2", "r1", 5000, T0 + timedelta(hours=1))
    pay("shop1", "o2", 10000, T0)
    assert not run("shop1", "o2", T0 + timedelta(hours=2))  # no order yet: facts wait
    assert shop.put(shop.path("/orders/o2"), order_body("c", [("l1", "p1", 10000)])).status == 201
    assert run("shop1", "o2", T0 + timedelta(hours=2))
    got = commissions(shop, "o2")
    # the held refund of 5000 counts: floor(5000*1000/10000)=500 for b
    assert got["level1"] == ("b", 500, "frozen")
    assert balance(shop, "b")["frozen_fen"] == 500
    assert_audit_clean()


def test_partial_refunds_during_freeze_claw_back_and_full_refund_reverses(api, shop: ShopCaller) -> None:
    setup_chain(shop)
    shop.put(shop.path("/orders/o3"), order_body("c", [("l1", "p1", 10000), ("l2", "p2", 10000)]))
    pay("shop1", "o3", 20000, T0)
    run("shop1", "o3", T0)
    refund("shop1", "o3", "r1", 3000, T0 + timedelta(days=1))
    run("shop1", "o3", T0 + timedelta(days=1))
    # unsplit 3000 spread over 10000/10000 -> 1500 each; b: floor(8500*0.1)*2 = 1700
    assert commissions(shop, "o3")["level1"] == ("b", 1700, "frozen")
    refund("shop1", "o3", "r2", 17000, T0 + timedelta(days=2))
    run("shop1", "o3", T0 + timedelta(days=2))
    assert commissions(shop, "o3")["level1"] == ("b", 0, "reversed")
    assert balance(shop, "b")["frozen_fen"] == 0
    assert shop.get(shop.path("/orders/o3")).body["refunded_fen"] == 20000
    assert_audit_clean()


def test_refund_after_effective_time_changes_nothing(api, shop: ShopCaller) -> None:
    setup_chain(shop)
    shop.put(shop.path("/orders/o4"), order_body("c", [("l1", "p1", 10000)]))
    pay("shop1", "o4", 10000, T0)
    run("shop1", "o4", T0)
    refund("shop1", "o4", "r1", 10000, T0 + timedelta(days=7))  # exactly at the effective time
    run("shop1", "o4", T0 + timedelta(days=7, hours=1))
    assert commissions(shop, "o4")["level1"] == ("b", 1000, "frozen")


def test_completion_basis_sets_effective_time_on_completion(api, shop: ShopCaller) -> None:
    setup_chain(shop, settlement={"basis": "completion", "freeze_days": 3})
    shop.put(shop.path("/orders/o5"), order_body("c", [("l1", "p1", 10000)]))
    pay("shop1", "o5", 10000, T0)
    run("shop1", "o5", T0)
    view = shop.get(shop.path("/orders/o5")).body
    assert view["commissions"][0]["effective_at"] is None
    clock.set_now(T0 + timedelta(days=10))
    done = shop.post(shop.path("/orders/o5/completion"))
    assert done.status == 200
    run("shop1", "o5", clock.now())
    view = shop.get(shop.path("/orders/o5")).body
    assert view["status"] == "completed"
    assert view["commissions"][0]["effective_at"].startswith("2026-12-03T10:00:00")  # completion + 3 days
    # a refund before completion+3 days still claws back
    refund("shop1", "o5", "r1", 4000, T0 + timedelta(days=11))
    run("shop1", "o5", clock.now())
    assert commissions(shop, "o5")["level1"] == ("b", 600, "frozen")


def test_amount_mismatch_flags_and_pays_nothing(api, shop: ShopCaller) -> None:
    setup_chain(shop)
    shop.put(shop.path("/orders/o6"), order_body("c", [("l1", "p1", 10000)]))
    pay("shop1", "o6", 9999, T0)
    run("shop1", "o6", T0)
    view = shop.get(shop.path("/orders/o6")).body
    assert view["flags"] == ["amount_mismatch"]
    assert view["commissions"] == []
    assert view["status"] == "paid"
    assert shop.get(shop.path("/members/c")).status in (200, 404)


def test_switch_off_at_payment_pays_nothing(api, shop: ShopCaller) -> None:
    setup_chain(shop)
    clock.set_now(T0 - timedelta(hours=1))
    shop.put(shop.path("/settings/distribution"), {"enabled": False})
    shop.put(shop.path("/orders/o7"), order_body("c", [("l1", "p1", 10000)]))
    pay("shop1", "o7", 10000, T0)
    run("shop1", "o7", T0)
    assert commissions(shop, "o7") == {}


def test_rates_snapshot_at_payment_time(api, shop: ShopCaller) -> None:
    setup_chain(shop)
    # a product override written before the payment applies; a change after it does not
    clock.set_now(T0 - timedelta(minutes=5))
    assert (
        shop.put(shop.path("/products/p1/rates"), {"level1_bp": 2000, "level2_bp": 0, "self_bp": 0}).status
        == 200
    )
    clock.set_now(T0 + timedelta(minutes=5))
    assert (
        shop.put(shop.path("/products/p1/rates"), {"level1_bp": 3000, "level2_bp": 0, "self_bp": 0}).status
        == 200
    )
    shop.put(shop.path("/orders/o8"), order_body("c", [("l1", "p1", 10000)]))
    pay("shop1", "o8", 10000, T0)
    run("shop1", "o8", T0 + timedelta(minutes=10))
    assert commissions(shop, "o8") == {"level1": ("b", 2000, "frozen")}


def test_purchases_eligibility_qualifying_order_earns_no_self(api, shop: ShopCaller) -> None:
    clock.set_now(T0 - timedelta(days=1))
    body = {
        "rates": {"level1_bp": 1000, "level2_bp": 0, "self_bp": 500},
        "eligibility": {"mode": "purchases", "min_orders": 1, "min_amount_fen": 5000},
        "settlement": {"basis": "payment", "freeze_days": 1},
    }
    assert shop.put(shop.path("/settings/distribution"), body).status == 200
    shop.put(shop.path("/orders/q1"), order_body("buyer", [("l1", "p1", 6000)]))
    pay("shop1", "q1", 6000, T0)
    run("shop1", "q1", T0)
    assert commissions(shop, "q1") == {}  # not yet a distributor when paid
    clock.set_now(T0 + timedelta(minutes=1))
    assert shop.get(shop.path("/members/buyer")).body["is_distributor"] is True
    shop.put(shop.path("/orders/q2"), order_body("buyer", [("l1", "p1", 1000)]))
    pay("shop1", "q2", 1000, T0 + timedelta(hours=1))
    run("shop1", "q2", T0 + timedelta(hours=1))
    assert commissions(shop, "q2") == {"self": ("buyer", 50, "frozen")}


def test_member_commissions_newest_first_with_cursor(api, shop: ShopCaller) -> None:
    setup_chain(shop)
    for i in range(5):
        shop.put(shop.path(f"/orders/n{i}"), order_body("c", [("l1", "p1", 1000 * (i + 1))]))
        pay("shop1", f"n{i}", 1000 * (i + 1), T0 + timedelta(minutes=i))
        run("shop1", f"n{i}", T0 + timedelta(minutes=i))
    first = shop.get(shop.path("/members/b/commissions?limit=2"))
    assert first.status == 200
    assert [e["order_id"] for e in first.body["entries"]] == ["n4", "n3"]
    assert first.body["entries"][0] == {
        "order_id": "n4",
        "member_id": "b",
        "tier": "level1",
        "amount_fen": 500,
        "status": "frozen",
        "effective_at": "2026-11-27T10:04:00+08:00",
    }
    cursor = first.body["next_cursor"]
    second = shop.get(shop.path(f"/members/b/commissions?limit=2&cursor={cursor}"))
    assert [e["order_id"] for e in second.body["entries"]] == ["n2", "n1"]
    third = shop.get(shop.path(f"/members/b/commissions?limit=2&cursor={second.body['next_cursor']}"))
    assert [e["order_id"] for e in third.body["entries"]] == ["n0"]
    assert third.body["next_cursor"] is None
    # a cursor issued for b does not page a's list
    other = shop.get(shop.path(f"/members/a/commissions?cursor={cursor}"))
    assert other.status == 400
    assert other.error["field"] == "cursor"
    assert shop.get(shop.path("/members/b/commissions?limit=0")).status == 400
    assert shop.get(shop.path("/members/b/commissions?limit=101")).status == 400


def _zero_rate_lines(shop: ShopCaller) -> None:
    """level1 10 % on p1 only; p2 earns nothing (its own rates are all 0)."""
    setup_chain(shop, rates={"level1_bp": 1000, "level2_bp": 0, "self_bp": 0})
    assert (
        shop.put(shop.path("/products/p2/rates"), {"level1_bp": 0, "level2_bp": 0, "self_bp": 0}).status
        == 200
    )


@pytest.mark.parametrize("arrival", [["r1", "r2"], ["r2", "r1"]])
def test_a_commission_reversed_by_rounding_comes_back_whatever_the_arrival_order(
    api, shop: ShopCaller, arrival: list[str]
) -> None:
    # Alabama paradox of largest remainder (docs/decisions.md, D-refund-monotone), reaching 0:
    # lines l1 10 fen (10 %), l2 and l3 1000 fen (0 %); b's level1 = floor(10 * 0.1) = 1.
    # r1 alone (67 unsplit): quotas 0.33, 33.33, 33.33 -> floors 0, 33, 33, the spare fen to l1 (tie, earlier
    #   line) -> l1 refunded 1 -> floor(9 * 0.1) = 0: reversed.
    # r2 alone (1): quotas 0.005, 0.4975, 0.4975 -> the fen to l2 -> l1 untouched: 1.
    # r1 + r2 (68): quotas 0.34, 33.83, 33.83 -> floors 0, 33, 33, spares to l2, l3 -> l1 untouched: 1.
    # The set {r1, r2} gives 1, so both arrival orders must end at 1.
    _zero_rate_lines(shop)
    shop.put(
        shop.path("/orders/z1"), order_body("c", [("l1", "p1", 10), ("l2", "p2", 1000), ("l3", "p2", 1000)])
    )
    pay("shop1", "z1", 2010, T0)
    assert run("shop1", "z1", T0)
    assert commissions(shop, "z1") == {"level1": ("b", 1, "frozen")}
    amounts = {"r1": 67, "r2": 1}
    seen = []
    for hour, no in enumerate(arrival, start=1):
        refund("shop1", "z1", no, amounts[no], T0 + timedelta(hours=hour))
        run("shop1", "z1", T0 + timedelta(hours=hour))
        seen.append(commissions(shop, "z1")["level1"])
    if arrival == ["r1", "r2"]:
        assert seen == [("b", 0, "reversed"), ("b", 1, "frozen")]
    else:
        assert seen == [("b", 1, "frozen"), ("b", 1, "frozen")]
    assert balance(shop, "b")["frozen_fen"] == 1
    view = shop.get(shop.path("/orders/z1")).body
    assert view["commissions"][0]["effective_at"] == "2026-11-27T10:00:00+08:00"
    assert_audit_clean()


def test_a_reversed_commission_stays_reversed_after_its_effective_time(api, shop: ShopCaller) -> None:
    _zero_rate_lines(shop)
    shop.put(
        shop.path("/orders/z2"), order_body("c", [("l1", "p1", 10), ("l2", "p2", 1000), ("l3", "p2", 1000)])
    )
    pay("shop1", "z2", 2010, T0)
    assert run("shop1", "z2", T0)
    refund("shop1", "z2", "r1", 67, T0 + timedelta(hours=1))
    assert run("shop1", "z2", T0 + timedelta(hours=1))
    assert commissions(shop, "z2")["level1"] == ("b", 0, "reversed")
    # r2 succeeded during the freeze but is processed only after the effective time (T0 + 7 days)
    refund("shop1", "z2", "r2", 1, T0 + timedelta(hours=2))
    run("shop1", "z2", T0 + timedelta(days=7))
    assert commissions(shop, "z2")["level1"] == ("b", 0, "reversed")
    assert balance(shop, "b")["frozen_fen"] == 0
    assert_audit_clean()


def test_freeze_days_zero_a_refund_after_the_payment_never_counts(api, shop: ShopCaller) -> None:
    # freeze_days 0, basis payment: the effective time IS the payment's success_time, so every refund
    # (success_time after the payment) is at or after it and leaves the commission as it is (SPEC §3).
    setup_chain(shop, settlement={"basis": "payment", "freeze_days": 0})
    shop.put(shop.path("/orders/f0"), order_body("c", [("l1", "p1", 10000)]))
    pay("shop1", "f0", 10000, T0)
    assert run("shop1", "f0", T0)
    view = shop.get(shop.path("/orders/f0")).body
    assert view["commissions"][0]["effective_at"] == "2026-11-20T10:00:00+08:00"  # = paid_at
    refund("shop1", "f0", "r1", 4000, T0 + timedelta(minutes=1))  # reported before settlement ran
    run("shop1", "f0", T0 + timedelta(minutes=2))
    assert commissions(shop, "f0") == {
        "level1": ("b", 1000, "frozen"),
        "level2": ("a", 500, "frozen"),
        "self": ("c", 200, "frozen"),
    }
    from fenxiao.service import settlement

    page = settlement.run_page(T0 + timedelta(minutes=3), None)
    assert (page.details["released"], page.details["held"]) == (3, 0)  # the refund does not hold it
    assert balance(shop, "b")["available_fen"] == 1000
    assert not run("shop1", "f0", T0 + timedelta(minutes=4))
    assert shop.get(shop.path("/orders/f0")).body["flags"] == []  # it never counted: not a late refund
    assert_audit_clean()


def test_attribution_uses_the_binding_in_force_at_success_time_when_replaced_before_processing(
    api, shop: ShopCaller
) -> None:
    setup_chain(shop, binding={"mode": "last_touch"})
    shop.put(shop.path("/orders/lt"), order_body("c", [("l1", "p1", 10000)]))
    pay("shop1", "lt", 10000, T0)  # c is bound to b (whose inviter is a) at the payment
    clock.set_now(T0 + timedelta(hours=1))
    assert shop.post(shop.path("/members/c/inviter"), {"inviter_id": "x"}).status in (200, 201)  # replaced
    assert shop.get(shop.path("/members/c")).body["inviter_id"] == "x"
    assert run("shop1", "lt", T0 + timedelta(hours=2))  # processed after the replacement
    assert commissions(shop, "lt") == {
        "level1": ("b", 1000, "frozen"),
        "level2": ("a", 500, "frozen"),
        "self": ("c", 200, "frozen"),
    }
    # a payment after the replacement goes to the new inviter (x has no inviter: no level2)
    shop.put(shop.path("/orders/lt2"), order_body("c", [("l1", "p1", 10000)]))
    pay("shop1", "lt2", 10000, T0 + timedelta(hours=3))
    assert run("shop1", "lt2", T0 + timedelta(hours=3))
    assert commissions(shop, "lt2") == {"level1": ("x", 1000, "frozen"), "self": ("c", 200, "frozen")}
    assert_audit_clean()


@pytest.mark.parametrize("stored_first", ["early", "late"])
def test_two_payments_known_together_apply_the_earliest_whatever_their_arrival(
    api, shop: ShopCaller, stored_first: str
) -> None:
    setup_chain(shop)
    shop.put(shop.path("/orders/dp"), order_body("c", [("l1", "p1", 10000)]))
    # the later payment's id sorts first, so the partition's key order is not the success_time order
    payments = {"early": ("tx-z-early", T0), "late": ("tx-a-late", T0 + timedelta(minutes=3))}
    for name in (stored_first, "late" if stored_first == "early" else "early"):
        tx, at = payments[name]
        pay("shop1", "dp", 10000, at, transaction_id=tx)
    assert run("shop1", "dp", T0 + timedelta(minutes=5))
    view = shop.get(shop.path("/orders/dp")).body
    assert view["paid_at"] == "2026-11-20T10:00:00+08:00"  # the earliest success_time
    assert view["flags"] == ["duplicate_payment"]
    assert view["commissions"][0]["effective_at"] == "2026-11-27T10:00:00+08:00"  # from the earliest
    assert balance(shop, "b")["frozen_fen"] == 1000  # applied once
    assert not run("shop1", "dp", T0 + timedelta(minutes=6))
    assert_audit_clean()


def test_a_payment_reported_after_the_order_was_processed_is_only_flagged(api, shop: ShopCaller) -> None:
    # Documented limit (docs/decisions.md "Several payments for one order"): an earlier payment reported only
    # after another one was applied does not re-attribute the commissions already computed.
    setup_chain(shop)
    shop.put(shop.path("/orders/dq"), order_body("c", [("l1", "p1", 10000)]))
    pay("shop1", "dq", 10000, T0 + timedelta(minutes=3), transaction_id="tx-late")
    assert run("shop1", "dq", T0 + timedelta(minutes=4))
    pay("shop1", "dq", 10000, T0, transaction_id="tx-early")
    assert run("shop1", "dq", T0 + timedelta(minutes=5))
    view = shop.get(shop.path("/orders/dq")).body
    assert view["paid_at"] == "2026-11-20T10:03:00+08:00"  # the payment applied first stays applied
    assert view["flags"] == ["duplicate_payment"]
    assert balance(shop, "b")["frozen_fen"] == 1000
    assert_audit_clean()
