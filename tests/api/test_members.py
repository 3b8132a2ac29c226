"""Bindings, binding modes, distributor status and fan counters (SPEC §2)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.support.app import ShopCaller

pytestmark = pytest.mark.api


def bind(shop: ShopCaller, member: str, inviter: str) -> tuple[int, dict]:
    answer = shop.post(shop.path(f"/members/{member}/inviter"), {"inviter_id": inviter})
    return answer.status, answer.body


def member(shop: ShopCaller, member_id: str) -> dict:
    answer = shop.get(shop.path(f"/members/{member_id}"))
    assert answer.status == 200, answer
    return answer.body


def test_bind_counts_level1_and_level2_fans(shop: ShopCaller) -> None:
    assert bind(shop, "b", "a")[0] == 201
    assert bind(shop, "c", "b")[0] == 201
    assert member(shop, "a")["fans"] == {"level1": 1, "level2": 1}
    assert member(shop, "b")["fans"] == {"level1": 1, "level2": 0}
    view = member(shop, "c")
    assert view["inviter_id"] == "b"
    assert view["is_distributor"] is True  # eligibility "none" by default
    assert view["balance"] == {"frozen_fen": 0, "available_fen": 0, "withdrawing_fen": 0, "withdrawn_fen": 0}


def test_same_pair_again_is_a_no_op(shop: ShopCaller) -> None:
    assert bind(shop, "b", "a")[0] == 201
    status, body = bind(shop, "b", "a")
    assert status == 200
    assert body["created"] is False
    assert member(shop, "a")["fans"]["level1"] == 1


def test_self_binding_and_cycles_are_refused(shop: ShopCaller) -> None:
    status, body = bind(shop, "a", "a")
    assert status == 422
    assert body["error"]["code"] == "self_binding"
    assert bind(shop, "b", "a")[0] == 201
    assert bind(shop, "c", "b")[0] == 201
    status, body = bind(shop, "a", "c")  # a -> c -> b -> a
    assert status == 422
    assert body["error"]["code"] == "binding_cycle"
    assert shop.get(shop.path("/members/a")).body["inviter_id"] is None
    assert member(shop, "c")["fans"] == {"level1": 0, "level2": 0}


def test_permanent_mode_refuses_another_inviter(shop: ShopCaller) -> None:
    assert bind(shop, "m", "p1")[0] == 201
    status, body = bind(shop, "m", "p2")
    assert status == 409
    assert body["error"]["code"] == "already_bound"
    assert member(shop, "m")["inviter_id"] == "p1"


def test_last_touch_moves_fans_to_the_new_inviter(shop: ShopCaller) -> None:
    assert shop.put(shop.path("/settings/distribution"), {"binding": {"mode": "last_touch"}}).status == 200
    assert bind(shop, "old", "top")[0] == 201
    assert bind(shop, "m", "old")[0] == 201
    assert bind(shop, "f1", "m")[0] == 201
    assert bind(shop, "f2", "m")[0] == 201
    assert member(shop, "old")["fans"] == {"level1": 1, "level2": 2}
    assert member(shop, "top")["fans"] == {"level1": 1, "level2": 1}
    status, body = bind(shop, "m", "new")
    assert status == 201
    assert body["replaced_inviter_id"] == "old"
    assert member(shop, "old")["fans"] == {"level1": 0, "level2": 0}
    assert member(shop, "top")["fans"] == {"level1": 1, "level2": 0}
    assert member(shop, "new")["fans"] == {"level1": 1, "level2": 2}
    assert member(shop, "m")["inviter_id"] == "new"


def test_protection_mode_refuses_within_and_replaces_after(shop: ShopCaller) -> None:
    from fenxiao import clock

    settings = {"binding": {"mode": "protection", "protection_days": 3}}
    assert shop.put(shop.path("/settings/distribution"), settings).status == 200
    assert bind(shop, "m", "p1")[0] == 201
    status, body = bind(shop, "m", "p2")
    assert status == 409
    assert body["error"]["code"] == "binding_protected"
    clock.set_now(clock.now() + timedelta(days=3, seconds=1))
    assert bind(shop, "m", "p2")[0] == 201
    assert member(shop, "m")["inviter_id"] == "p2"
    assert member(shop, "p1")["fans"]["level1"] == 0


def test_inviter_must_be_a_distributor(shop: ShopCaller) -> None:
    assert shop.put(shop.path("/settings/distribution"), {"eligibility": {"mode": "purchases"}}).status == 200
    status, body = bind(shop, "m", "p")
    assert status == 422
    assert body["error"]["code"] == "not_a_distributor"
    granted = shop.put(shop.path("/members/p/distributor"), {"active": True})
    assert granted.status == 200
    assert granted.body["is_distributor"] is True
    assert bind(shop, "m", "p")[0] == 201
    revoked = shop.put(shop.path("/members/p/distributor"), {"active": False})
    assert revoked.body["is_distributor"] is False
    assert bind(shop, "x", "p")[0] == 422


def test_switch_off_refuses_new_bindings(shop: ShopCaller) -> None:
    assert shop.put(shop.path("/settings/distribution"), {"enabled": False}).status == 200
    status, body = bind(shop, "m", "p")
    assert status == 422
    assert body["error"]["code"] == "distribution_disabled"
    assert shop.get(shop.path("/members/m")).status == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "inviter_id"),
        ({"inviter_id": 7}, "inviter_id"),
        ({"inviter_id": "a b"}, "inviter_id"),
        ({"inviter_id": "p", "x": 1}, "x"),
    ],
)
def test_bind_bad_input(shop: ShopCaller, body: dict, field: str) -> None:
    answer = shop.post(shop.path("/members/m/inviter"), body)
    assert answer.status == 400
    assert answer.error["field"] == field
    assert shop.get(shop.path("/members/m")).status == 404


def test_unknown_member_404(shop: ShopCaller) -> None:
    answer = shop.get(shop.path("/members/nobody"))
    assert answer.status == 404
    assert answer.error["code"] == "member_not_found"
