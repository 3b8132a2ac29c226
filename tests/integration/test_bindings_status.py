"""Distributor status over time (SPEC §2: "Once a distributor, always one, unless the shop revokes it").

A shop switching eligibility from ``none`` to ``purchases`` keeps everyone who was a distributor under
``none``; only members first referenced after the switch have to qualify; a revocation still wins.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fenxiao import clock
from fenxiao.domain.eligibility import distributor_at
from fenxiao.service import members
from fenxiao.timefmt import key
from tests.support.app import ShopCaller
from tests.support.orders import order_body, pay, run

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
SWITCH = T0 - timedelta(days=1)
PURCHASES = {"mode": "purchases", "min_orders": 1, "min_amount_fen": 5000}


def k(hours: float) -> str:
    """A time key ``hours`` after T0."""
    return key(T0 + timedelta(hours=hours))


# ---------------------------------------------------------------- the rule (domain)


def test_no_settings_at_all_is_mode_none_for_everyone() -> None:
    assert distributor_at(k(0), k(-1), [], []) is True
    assert distributor_at(k(0), None, [], []) is True  # referenced for the first time by this question


def test_a_switch_away_from_none_keeps_the_members_it_had() -> None:
    modes = [(k(-10), "none"), (k(-5), "purchases")]
    assert distributor_at(k(0), k(-8), [], modes) is True  # came into being under none
    assert distributor_at(k(0), k(-12), [], modes) is True  # before the first version: none as well
    assert distributor_at(k(0), k(-5), [], modes) is False  # at the switch: already purchases
    assert distributor_at(k(0), k(-1), [], modes) is False  # after it: has to qualify
    assert distributor_at(k(0), k(-1), [(k(-0.5), True)], modes) is True  # ...and did
    # A payment processed late: the member's item is newer than the moment asked about.
    assert distributor_at(k(-6), k(-1), [], modes) is True


def test_a_revocation_wins_and_a_later_run_of_none_grants_again() -> None:
    revoked = [(k(-6), False)]
    assert distributor_at(k(0), k(-8), revoked, [(k(-10), "none"), (k(-5), "purchases")]) is False
    assert distributor_at(k(0), k(-8), revoked, [(k(-10), "none")]) is False
    # Consecutive none versions (another setting changed) are one run: they do not undo the revocation.
    assert distributor_at(k(0), k(-8), revoked, [(k(-10), "none"), (k(-4), "none")]) is False
    # A new run of none after it (the shop made everyone a distributor again) is later than it.
    modes = [(k(-10), "none"), (k(-5), "purchases"), (k(-2), "none"), (k(-1), "product")]
    assert distributor_at(k(0), k(-8), revoked, modes) is True
    assert distributor_at(k(-3), k(-8), revoked, modes) is False  # as it stood before that run
    # At the same moment a revocation wins (a member created by its revocation is revoked).
    assert distributor_at(k(0), k(-6), revoked, [(k(-10), "none")]) is False
    # A grant after the switch away from none, then a revocation: the latest decides.
    changes = [(k(-3), True), (k(-2), False)]
    assert distributor_at(k(0), k(-1), changes, [(k(-10), "purchases")]) is False
    assert distributor_at(k(-2.5), k(-1), changes, [(k(-10), "purchases")]) is True


def test_versions_after_the_moment_asked_about_do_not_count() -> None:
    modes = [(k(-10), "purchases"), (k(1), "none")]
    assert distributor_at(k(0), k(-8), [], modes) is False
    assert distributor_at(k(2), k(-8), [], modes) is True


# ---------------------------------------------------------------- through the API and the money core


def commissions(shop: ShopCaller, order_id: str) -> dict[str, tuple[str, int]]:
    view = shop.get(shop.path(f"/orders/{order_id}")).body
    return {c["tier"]: (c["member_id"], c["amount_fen"]) for c in view["commissions"]}


def is_distributor(shop: ShopCaller, member_id: str) -> bool:
    answer = shop.get(shop.path(f"/members/{member_id}"))
    assert answer.status == 200, answer
    return bool(answer.body["is_distributor"])


def bind(shop: ShopCaller, member: str, inviter: str) -> tuple[int, dict]:
    answer = shop.post(shop.path(f"/members/{member}/inviter"), {"inviter_id": inviter})
    return answer.status, answer.body


def team_under_none_then_switch(shop: ShopCaller) -> None:
    """a <- b <- c bound while everyone is a distributor; at SWITCH the shop moves to ``purchases``."""
    clock.set_now(SWITCH - timedelta(days=1))
    body = {
        "rates": {"level1_bp": 1000, "level2_bp": 500, "self_bp": 200},
        "settlement": {"basis": "payment", "freeze_days": 7},
    }
    assert shop.put(shop.path("/settings/distribution"), body).status == 200
    assert bind(shop, "b", "a")[0] == 201
    assert bind(shop, "c", "b")[0] == 201
    clock.set_now(SWITCH)
    assert shop.put(shop.path("/settings/distribution"), {"eligibility": PURCHASES}).status == 200


def test_switching_to_purchases_keeps_the_distributors_of_none(api, shop: ShopCaller) -> None:
    team_under_none_then_switch(shop)
    clock.set_now(T0 - timedelta(hours=1))
    assert [is_distributor(shop, m) for m in ("a", "b", "c")] == [True, True, True]
    assert bind(shop, "d", "c")[0] == 201  # c can still invite
    shop.put(shop.path("/orders/o1"), order_body("c", [("l1", "p1", 1000)]))
    pay("shop1", "o1", 1000, T0)
    run("shop1", "o1", T0 + timedelta(minutes=1))
    # level1 b: 1000*10% = 100; level2 a: 1000*5% = 50; self c: 1000*2% = 20 (all distributors under none)
    assert commissions(shop, "o1") == {"level1": ("b", 100), "level2": ("a", 50), "self": ("c", 20)}
    assert shop.get(shop.path("/members/b")).body["balance"]["frozen_fen"] == 100


def test_a_member_first_referenced_after_the_switch_has_to_qualify(api, shop: ShopCaller) -> None:
    team_under_none_then_switch(shop)
    clock.set_now(T0 - timedelta(hours=2))
    status, body = bind(shop, "x", "n")  # n is first referenced now, under purchases
    assert (status, body["error"]["code"]) == (422, "not_a_distributor")
    assert shop.get(shop.path("/members/n")).status == 404  # nothing stored
    assert bind(shop, "n", "a")[0] == 201  # n joins a's team (a: a distributor under none)
    assert is_distributor(shop, "n") is False
    shop.put(shop.path("/orders/q1"), order_body("n", [("l1", "p1", 6000)]))
    pay("shop1", "q1", 6000, T0)
    run("shop1", "q1", T0 + timedelta(minutes=1))
    # a (level 1): 6000*10% = 600; no self commission: n was not a distributor when it paid (it qualified)
    assert commissions(shop, "q1") == {"level1": ("a", 600)}
    clock.set_now(T0 + timedelta(minutes=2))
    assert is_distributor(shop, "n") is True
    assert bind(shop, "x", "n")[0] == 201


def test_a_revocation_still_wins(api, shop: ShopCaller) -> None:
    team_under_none_then_switch(shop)
    clock.set_now(SWITCH - timedelta(hours=1))  # under none
    assert shop.put(shop.path("/members/a/distributor"), {"active": False}).status == 200
    clock.set_now(T0 - timedelta(hours=12))  # under purchases
    assert shop.put(shop.path("/members/b/distributor"), {"active": False}).status == 200
    clock.set_now(T0 - timedelta(hours=1))
    assert [is_distributor(shop, m) for m in ("a", "b", "c")] == [False, False, True]
    status, body = bind(shop, "x", "b")
    assert (status, body["error"]["code"]) == (422, "not_a_distributor")
    shop.put(shop.path("/orders/early"), order_body("c", [("l1", "p1", 1000)]))
    pay("shop1", "early", 1000, T0 - timedelta(hours=13))  # before b's revocation, after a's
    run("shop1", "early", T0)
    assert commissions(shop, "early") == {"level1": ("b", 100), "self": ("c", 20)}
    shop.put(shop.path("/orders/late"), order_body("c", [("l1", "p1", 1000)]))
    pay("shop1", "late", 1000, T0)
    run("shop1", "late", T0 + timedelta(minutes=1))
    assert commissions(shop, "late") == {"self": ("c", 20)}


# ---------------------------------------------------------------- reading the modes: one Query, cached safely


def test_eligibility_modes_one_query_and_only_final_versions_kept(
    api, shop: ShopCaller, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fenxiao.adapters.shops import ConfigVersionModel

    team_under_none_then_switch(shop)
    clock.set_now(T0)
    queries: list[object] = []
    real_query = ConfigVersionModel.query

    def counting_query(*args: object, **kwargs: object) -> object:
        queries.append(args)
        return real_query(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ConfigVersionModel, "query", counting_query)
    expected = [(key(SWITCH - timedelta(days=1)), "none"), (key(SWITCH), "purchases")]
    stored = members.eligibility_modes("shop1", T0 - timedelta(hours=1))
    assert [(at[:19], mode) for at, mode in stored] == [(at[:19], mode) for at, mode in expected]
    assert len(queries) == 1
    # An hour ago is final (older than FINAL_AFTER): asked again, nothing is read.
    assert members.eligibility_modes("shop1", T0 - timedelta(hours=1)) == stored
    assert len(queries) == 1
    # Now is not final: each question reads again (only the versions after what is kept), and sees a
    # version stored meanwhile.
    assert members.eligibility_modes("shop1", clock.now()) == stored
    assert len(queries) == 2
    assert shop.put(shop.path("/settings/distribution"), {"eligibility": {"mode": "none"}}).status == 200
    now_modes = members.eligibility_modes("shop1", clock.now())
    assert [mode for _, mode in now_modes] == ["none", "purchases", "none"]
    assert len(queries) == 3
    # Moving the clock override drops what was kept.
    clock.set_now(T0 + timedelta(days=1))
    assert [m for _, m in members.eligibility_modes("shop1", T0 - timedelta(hours=1))] == [
        "none",
        "purchases",
    ]
    assert len(queries) == 4
