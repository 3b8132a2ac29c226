"""Rebinding within one team, concurrent bindings, deep chains and the binding message (SPEC §2, §5).

Every test checks the fan counters of every member involved against what the bindings in force say.
"""

from __future__ import annotations

from typing import Any

import pytest

from fenxiao.adapters.unit_of_work import UnitOfWork
from fenxiao.bootstrap import container
from fenxiao.service import members
from tests.support.app import ShopCaller
from tests.support.leaderboard import drain_bindings, standings

pytestmark = pytest.mark.integration


def bind(shop: ShopCaller, member: str, inviter: str) -> tuple[int, dict]:
    answer = shop.post(shop.path(f"/members/{member}/inviter"), {"inviter_id": inviter})
    return answer.status, answer.body


def fans(shop: ShopCaller, member_id: str) -> tuple[int, int]:
    answer = shop.get(shop.path(f"/members/{member_id}"))
    assert answer.status == 200, answer
    got = answer.body["fans"]
    return got["level1"], got["level2"]


def expected_fans(inviters: dict[str, str]) -> dict[str, tuple[int, int]]:
    """Fan counts counted from scratch from {member: inviter} (the bindings in force)."""
    people = set(inviters) | set(inviters.values())
    out = {}
    for person in people:
        level1 = [m for m, i in inviters.items() if i == person]
        level2 = [m for m, i in inviters.items() if i in level1]
        out[person] = (len(level1), len(level2))
    return out


def assert_fans(shop: ShopCaller, inviters: dict[str, str]) -> None:
    expected = expected_fans(inviters)
    got = {person: fans(shop, person) for person in expected}
    assert got == expected


@pytest.fixture(params=["last_touch", "protection"])
def replacing_shop(request: pytest.FixtureRequest, shop: ShopCaller) -> ShopCaller:
    """A shop whose bindings can be replaced at once (protection with 0 days protects nothing)."""
    settings: dict[str, Any] = {"binding": {"mode": request.param}}
    if request.param == "protection":
        settings["binding"]["protection_days"] = 0
    assert shop.put(shop.path("/settings/distribution"), settings).status == 200
    return shop


# ---------------------------------------------------------------- 1. rebinding within one team


def test_moving_between_two_inviters_with_the_same_grand_inviter(replacing_shop: ShopCaller) -> None:
    shop = replacing_shop
    inviters = {"p": "g", "x": "g", "m": "p", "f": "m"}
    for member, inviter in (("p", "g"), ("x", "g"), ("m", "p"), ("f", "m")):
        assert bind(shop, member, inviter)[0] == 201
    assert_fans(shop, inviters)
    # g loses m as a level-2 fan through p and gains it through x: two changes of g's fans_level2.
    status, body = bind(shop, "m", "x")
    assert status == 201, body
    assert body["replaced_inviter_id"] == "p"
    inviters["m"] = "x"
    assert_fans(shop, inviters)
    assert fans(shop, "g") == (2, 1)
    assert fans(shop, "x") == (1, 1)
    assert fans(shop, "p") == (0, 0)


def test_moving_up_to_the_old_inviters_own_inviter(replacing_shop: ShopCaller) -> None:
    shop = replacing_shop
    inviters = {"p": "g", "m": "p", "f1": "m", "f2": "m"}
    for member, inviter in (("p", "g"), ("m", "p"), ("f1", "m"), ("f2", "m")):
        assert bind(shop, member, inviter)[0] == 201
    assert_fans(shop, inviters)
    # g gains m (level 1) and m's fans (level 2) and loses m as p's fan (level 2): one member, two deltas.
    status, body = bind(shop, "m", "g")
    assert status == 201, body
    inviters["m"] = "g"
    assert_fans(shop, inviters)
    assert fans(shop, "g") == (2, 2)
    assert fans(shop, "p") == (0, 0)
    assert fans(shop, "m") == (2, 0)


# ---------------------------------------------------------------- 2. concurrent bindings keep counts exact


def interleave(monkeypatch: pytest.MonkeyPatch, before_commit: Any, times: int = 1) -> list[int]:
    """Run ``before_commit()`` just before the next ``times`` transactions commit (a concurrent writer
    whose transaction lands between our reads and our commit). Returns a one-item list counting commits."""
    real_commit = UnitOfWork.commit
    pending = [times]
    commits = [0]
    inside = [False]

    def commit(self: UnitOfWork) -> None:
        commits[0] += 1
        if pending[0] > 0 and not inside[0]:  # not before the concurrent writer's own commit
            pending[0] -= 1
            inside[0] = True
            try:
                before_commit()
            finally:
                inside[0] = False
        real_commit(self)

    monkeypatch.setattr(UnitOfWork, "commit", commit)
    return commits


def bind_now(member: str, inviter: str) -> None:
    """A binding by another request (straight through the service, with the clock as it reads now)."""
    from fenxiao import clock

    members.bind(container(), "shop1", member, inviter, clock.now())


@pytest.fixture
def last_touch_shop(shop: ShopCaller) -> ShopCaller:
    assert shop.put(shop.path("/settings/distribution"), {"binding": {"mode": "last_touch"}}).status == 200
    return shop


def test_a_fan_bound_to_the_moving_member_meanwhile_moves_with_it(
    last_touch_shop: ShopCaller, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop = last_touch_shop
    inviters = {"m": "p", "f1": "m", "x": "top"}
    for member, inviter in inviters.items():
        assert bind(shop, member, inviter)[0] == 201
    # While m moves to x (after it read m's 1 fan), f2 binds to m: m has 2 fans to move.
    commits = interleave(monkeypatch, lambda: bind_now("f2", "m"))
    status, body = bind(shop, "m", "x")
    assert status == 201, body
    assert commits[0] >= 3  # ours (refused: m's fans changed), f2's, ours again with the fresh count
    inviters.update({"f2": "m", "m": "x"})
    assert_fans(shop, inviters)
    assert fans(shop, "x") == (1, 2)
    assert fans(shop, "p") == (0, 0)
    assert fans(shop, "top") == (1, 1)


def test_the_old_inviter_moving_meanwhile_takes_the_right_level2_fan(
    last_touch_shop: ShopCaller, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop = last_touch_shop
    inviters = {"p": "g", "m": "p", "h": "top"}
    for member, inviter in inviters.items():
        assert bind(shop, member, inviter)[0] == 201
    # While m leaves p for x (after it read p's inviter g), p itself moves from g to h.
    interleave(monkeypatch, lambda: bind_now("p", "h"))
    status, body = bind(shop, "m", "x")
    assert status == 201, body
    inviters.update({"p": "h", "m": "x"})
    assert_fans(shop, inviters)
    assert fans(shop, "g") == (0, 0)  # not -1: it lost m with p already
    assert fans(shop, "h") == (1, 0)


def test_a_binding_that_keeps_losing_the_race_is_409_and_stores_nothing(
    last_touch_shop: ShopCaller, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop = last_touch_shop
    inviters = {"m": "p", "x": "top"}
    for member, inviter in inviters.items():
        assert bind(shop, member, inviter)[0] == 201
    newcomers = iter(f"f{i}" for i in range(members.BIND_ATTEMPTS))

    def another_fan() -> None:
        fan = next(newcomers)
        inviters[fan] = "m"
        bind_now(fan, "m")

    interleave(monkeypatch, another_fan, times=members.BIND_ATTEMPTS)
    status, body = bind(shop, "m", "x")
    assert status == 409, body
    assert body["error"]["code"] == "concurrent_change"
    assert shop.get(shop.path("/members/m")).body["inviter_id"] == "p"
    assert_fans(shop, inviters)
    assert fans(shop, "p") == (1, members.BIND_ATTEMPTS)


def test_a_binding_older_than_the_newest_one_is_409_or_the_same_pair(last_touch_shop: ShopCaller) -> None:
    """A concurrent request whose clock ran later bound the member first: ours must not slip under it."""
    from datetime import timedelta

    from fenxiao import clock

    t1 = clock.now()
    members.bind(container(), "shop1", "m", "p", t1 + timedelta(seconds=1))
    with pytest.raises(members.Conflict) as refused:
        members.bind(container(), "shop1", "m", "x", t1)
    assert refused.value.code == "concurrent_change"
    again = members.bind(container(), "shop1", "m", "p", t1)
    assert (again.created, again.bound_at) == (False, t1 + timedelta(seconds=1))
    assert_fans(last_touch_shop, {"m": "p"})


# ---------------------------------------------------------------- 3. chains too deep to check


def test_a_chain_longer_than_the_walk_is_refused(shop: ShopCaller, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(members, "MAX_CHAIN", 3)  # the real limit (60) works the same, at 60 reads per try
    for member, inviter in (("b", "a"), ("c", "b"), ("d", "c")):
        assert bind(shop, member, inviter)[0] == 201
    assert bind(shop, "y", "c")[0] == 201  # c, b, a: exactly MAX_CHAIN above y
    status, body = bind(shop, "x", "d")  # d, c, b, a: one more than can be walked
    assert status == 422, body
    assert body["error"] == {
        "code": "chain_too_deep",
        "message": body["error"]["message"],
        "field": "inviter_id",
    }
    assert shop.get(shop.path("/members/x")).status == 404  # nothing stored
    assert fans(shop, "d") == (0, 0)


# ---------------------------------------------------------------- 4. the binding message is never lost


def test_a_lost_binding_message_is_sent_again_by_the_retry(
    shop: ShopCaller, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fenxiao.adapters.queues import Queues

    real_send = Queues.send
    failures = [1]

    def send(self: Queues, queue: str, message: dict[str, Any], **kw: Any) -> None:
        if queue == "binding" and failures[0]:
            failures[0] -= 1
            raise ConnectionError("SQS unreachable")
        real_send(self, queue, message, **kw)

    monkeypatch.setattr(Queues, "send", send)
    status, _ = bind(shop, "b", "a")
    assert status >= 500  # committed, but the message was not sent: the mall retries
    assert drain_bindings() == 0
    status, body = bind(shop, "b", "a")
    assert (status, body["created"]) == (200, False)
    status, _ = bind(shop, "b", "a")  # and once more: a third message for the same binding
    assert status == 200
    assert drain_bindings(times=2) == 2
    assert standings(shop, "total", "total") == [("a", 1)]  # scored exactly once
    assert fans(shop, "a") == (1, 0)
