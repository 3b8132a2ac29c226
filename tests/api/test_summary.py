"""GET /shops/{s}/summary (SPEC §9): counters kept in the transactions of the facts they count, summed over
their shards. After orders, refunds, settlement, withdrawals (review, rejection, approval, payment), member
creation, distributor changes and flagged orders, the summary equals what the members' views add up to;
repeated deliveries count once; the audit finds a counter that was changed outside a transaction."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fenxiao import clock
from fenxiao.adapters import summary as summary_table
from fenxiao.adapters.unit_of_work import UnitOfWork
from fenxiao.domain.ledger import Movement
from fenxiao.service import audit
from fenxiao.timefmt import rfc3339
from tests.support.app import Api, ShopCaller
from tests.support.money import assert_audit_clean
from tests.support.orders import order_body, pay, refund, run
from tests.support.payouts import PayoutRig, funded_shop, payout_rig
from tests.support.wechatpay import OPENID

pytestmark = pytest.mark.api

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
BUCKETS = ("frozen_fen", "available_fen", "withdrawing_fen", "withdrawn_fen")


def summary(shop: ShopCaller) -> dict[str, Any]:
    answer = shop.get(shop.path("/summary"))
    assert answer.status == 200, answer.body
    return dict(answer.body)


def added_up(shop: ShopCaller, members: list[str]) -> dict[str, int]:
    """What the members' own views add up to."""
    out = dict.fromkeys(BUCKETS, 0)
    for member in members:
        view = shop.get(shop.path(f"/members/{member}")).body
        for bucket in BUCKETS:
            out[bucket] += view["balance"][bucket]
    return out


def agrees(shop: ShopCaller, who: list[str], **expected: int) -> dict[str, Any]:
    """The summary's balances equal the members' views, and its other counters the ``expected`` ones."""
    got = summary(shop)
    assert got["balances"] == added_up(shop, who)
    assert {name: got[name] for name in expected} == expected
    return got


def test_an_empty_shop_answers_zeros_and_only_its_own_summary(api: Api, shop: ShopCaller) -> None:
    assert summary(shop) == {
        "members": 0,
        "distributors": 0,
        "balances": dict.fromkeys(BUCKETS, 0),
        "withdrawals_pending_review": 0,
        "orders_flagged": 0,
    }
    other = api.create_shop("shop2")
    assert other.get("/shops/shop1/summary").status == 403
    assert shop.get(shop.path("/summary"), secret="not-the-secret").status == 401


def test_orders_refunds_settlement_and_flags_move_the_summary_once(api: Api, shop: ShopCaller) -> None:
    clock.set_now(T0 - timedelta(days=1))
    body = {
        "rates": {"level1_bp": 1000, "level2_bp": 500, "self_bp": 200},
        "settlement": {"basis": "payment", "freeze_days": 7},
    }
    assert shop.put(shop.path("/settings/distribution"), body).status == 200
    assert shop.post(shop.path("/members/b/inviter"), {"inviter_id": "a"}).status == 201
    assert shop.post(shop.path("/members/c/inviter"), {"inviter_id": "b"}).status == 201
    everyone = ["a", "b", "c"]
    agrees(shop, everyone, members=3, orders_flagged=0)

    assert shop.put(shop.path("/orders/o1"), order_body("c", [("l1", "p1", 10_000)])).status == 201
    pay("shop1", "o1", 10_000, T0)
    assert run("shop1", "o1", T0)
    got = agrees(shop, everyone, members=3, orders_flagged=0)
    assert got["balances"]["frozen_fen"] == 1_000 + 500 + 200
    assert not run("shop1", "o1", T0)  # a repeated delivery: nothing, counted nothing
    assert summary(shop) == got

    # A new buyer (d) pays an order whose amount differs: flagged; no commission, no growth, no member yet.
    assert shop.put(shop.path("/orders/o2"), order_body("d", [("l1", "p1", 3_000)])).status == 201
    pay("shop1", "o2", 2_999, T0)
    assert run("shop1", "o2", T0)
    assert shop.get(shop.path("/members/d")).status == 404
    agrees(shop, everyone, members=3, orders_flagged=1)
    # A second payment of the flagged order adds a flag, not a flagged order.
    pay("shop1", "o2", 2_999, T0, transaction_id="tx-o2-again")
    assert run("shop1", "o2", T0 + timedelta(minutes=1))
    agrees(shop, everyone, members=3, orders_flagged=1)

    refund("shop1", "o1", "r1", 4_000, T0 + timedelta(days=1))
    assert run("shop1", "o1", T0 + timedelta(days=1))
    got = agrees(shop, everyone, members=3, orders_flagged=1)
    assert got["balances"]["frozen_fen"] == 600 + 300 + 120
    assert not run("shop1", "o1", T0 + timedelta(days=1))
    assert summary(shop) == got

    settled = api.operator("POST", "/admin/jobs/settlement", {"now": rfc3339(T0 + timedelta(days=7))})
    assert settled.status == 200 and settled.body["released"] == 3, settled.body
    got = agrees(shop, everyone, members=3, orders_flagged=1)
    assert got["balances"] == {
        "frozen_fen": 0,
        "available_fen": 1_020,
        "withdrawing_fen": 0,
        "withdrawn_fen": 0,
    }
    again = api.operator("POST", "/admin/jobs/settlement", {"now": rfc3339(T0 + timedelta(days=7))})
    assert again.status == 200 and again.body["released"] == 0
    assert summary(shop) == got
    assert_audit_clean(T0 + timedelta(days=7))


def test_members_and_distributor_changes_are_counted_once(shop: ShopCaller) -> None:
    clock.set_now(T0)
    assert (
        shop.put(
            shop.path("/settings/distribution"), {"eligibility": {"mode": "purchases", "min_orders": 1}}
        ).status
        == 200
    )
    for _ in range(2):  # granted twice: one distributor
        granted = shop.put(shop.path("/members/p/distributor"), {"active": True})
        assert granted.status == 200 and granted.body["is_distributor"] is True
    assert agrees(shop, ["p"], members=1, distributors=1)
    assert shop.post(shop.path("/members/f/inviter"), {"inviter_id": "p"}).status == 201
    assert shop.post(shop.path("/members/f/inviter"), {"inviter_id": "p"}).status == 200  # the same pair
    agrees(shop, ["p", "f"], members=2, distributors=1)
    assert shop.post(shop.path("/members/g/growth-events"), {"type": "profile"}).status == 200
    assert shop.post(shop.path("/members/g/growth-events"), {"type": "profile"}).status == 200
    agrees(shop, ["p", "f", "g"], members=3, distributors=1)
    clock.set_now(T0 + timedelta(minutes=1))
    assert shop.put(shop.path("/members/f/distributor"), {"active": True}).status == 200
    agrees(shop, ["p", "f", "g"], members=3, distributors=2)
    # g's first paid order qualifies it (eligibility: one order), delivered twice.
    assert shop.put(shop.path("/orders/og"), order_body("g", [("l1", "p1", 1_000)])).status == 201
    pay("shop1", "og", 1_000, T0 + timedelta(minutes=1))
    assert run("shop1", "og", T0 + timedelta(minutes=1))
    assert not run("shop1", "og", T0 + timedelta(minutes=1))
    assert shop.get(shop.path("/members/g")).body["is_distributor"] is True
    agrees(shop, ["p", "f", "g"], members=3, distributors=3)
    clock.set_now(T0 + timedelta(minutes=2))
    for _ in range(2):
        revoked = shop.put(shop.path("/members/p/distributor"), {"active": False})
        assert revoked.status == 200 and revoked.body["is_distributor"] is False
    agrees(shop, ["p", "f", "g"], members=3, distributors=2)
    assert_audit_clean()


def test_a_member_created_concurrently_is_counted_once(shop: ShopCaller) -> None:
    """The unit of work took m for new; another transaction created it first: it is read again, not
    counted twice."""
    clock.set_now(T0)
    late = UnitOfWork(clock.now())
    late.known("shop1", "m", False)
    late.move(Movement("shop1", "m", "TEST#late", "growth", growth=1))
    first = UnitOfWork(clock.now())
    first.move(Movement("shop1", "m", "TEST#first", "growth", growth=2))
    first.commit()
    late.commit()
    assert summary(shop)["members"] == 1
    assert shop.get(shop.path("/members/m")).body["growth"] == 3
    assert_audit_clean()


# ---------------------------------------------------------------- distributors by eligibility mode none


def views_say(shop: ShopCaller, members: list[str]) -> int:
    """How many of the members their own views call distributors (is_distributor_at now)."""
    return sum(shop.get(shop.path(f"/members/{m}")).body["is_distributor"] for m in members)


def recount_messages() -> list[dict[str, Any]]:
    from tests.support.stack import take_messages

    return [
        m for m in take_messages(os.environ["FENXIAO_JOBS_QUEUE_URL"]) if m["job"] == "distributor-recount"
    ]


def test_a_default_mode_shop_counts_every_member_a_distributor(shop: ShopCaller) -> None:
    """Mode none (the default): members created by a binding (the inviter too), an order or a growth event
    are distributors from their creation; a revocation counts -1 and a new grant +1, each once."""
    clock.set_now(T0)
    assert shop.post(shop.path("/members/f/inviter"), {"inviter_id": "p"}).status == 201
    agrees(shop, ["p", "f"], members=2, distributors=2)
    assert shop.put(shop.path("/orders/ob"), order_body("b", [("l1", "p1", 1_000)])).status == 201
    pay("shop1", "ob", 1_000, T0)
    assert run("shop1", "ob", T0)
    assert not run("shop1", "ob", T0)  # delivered again: counted once
    assert shop.post(shop.path("/members/g/growth-events"), {"type": "profile"}).status == 200
    everyone = ["p", "f", "b", "g"]
    agrees(shop, everyone, members=4, distributors=4)
    assert views_say(shop, everyone) == 4
    clock.set_now(T0 + timedelta(minutes=1))
    for _ in range(2):
        assert shop.put(shop.path("/members/f/distributor"), {"active": False}).status == 200
    agrees(shop, everyone, members=4, distributors=3)
    clock.set_now(T0 + timedelta(minutes=2))
    for _ in range(2):
        assert shop.put(shop.path("/members/f/distributor"), {"active": True}).status == 200
    agrees(shop, everyone, members=4, distributors=4)
    assert views_say(shop, everyone) == 4
    assert_audit_clean()


def test_a_switch_to_mode_none_counts_every_existing_member_after_its_recount(shop: ShopCaller) -> None:
    from fenxiao.service import jobs

    clock.set_now(T0)
    threshold = {"eligibility": {"mode": "purchases", "min_orders": 1}}
    assert shop.put(shop.path("/settings/distribution"), threshold).status == 200
    assert shop.put(shop.path("/members/p/distributor"), {"active": True}).status == 200
    assert shop.post(shop.path("/members/f/inviter"), {"inviter_id": "p"}).status == 201
    for member in ("g", "q"):
        assert shop.post(shop.path(f"/members/{member}/growth-events"), {"type": "profile"}).status == 200
    assert shop.put(shop.path("/members/q/distributor"), {"active": False}).status == 200
    everyone = ["p", "f", "g", "q"]
    agrees(shop, everyone, members=4, distributors=1)
    assert recount_messages() == []  # a shop's first version, not mode none: nobody changes
    clock.set_now(T0 + timedelta(minutes=1))
    assert shop.put(shop.path("/settings/distribution"), {"eligibility": {"mode": "none"}}).status == 200
    assert views_say(shop, everyone) == 4  # q too: its revocation came before this run of mode none
    messages = recount_messages()
    assert [m["cursor"] for m in messages] == [{"shop_id": "shop1", "only": True}]
    page = audit.run_page(clock.now(), None)  # not counted yet: the audit sees it
    assert page.details["counter_differences"] == [
        {"shop_id": "shop1", "field": "distributors", "counters": 1, "members": 4}
    ]
    for _ in range(2):  # delivered twice: counted once
        jobs.handle_job_message(messages[0])
    agrees(shop, everyone, members=4, distributors=4)
    assert_audit_clean()
    # Another version under none, then a switch away: nobody changes (once one, always one), no recount.
    clock.set_now(T0 + timedelta(minutes=2))
    assert shop.put(shop.path("/settings/distribution"), {"rates": {"level1_bp": 900}}).status == 200
    assert shop.put(shop.path("/settings/distribution"), threshold).status == 200
    assert recount_messages() == []
    clock.set_now(T0 + timedelta(minutes=3))
    assert shop.post(shop.path("/members/n/growth-events"), {"type": "profile"}).status == 200
    agrees(shop, [*everyone, "n"], members=5, distributors=4)  # n came after mode none ended
    assert views_say(shop, [*everyone, "n"]) == 4
    assert_audit_clean()


def test_the_recount_job_run_by_the_operator_counts_older_members(api: Api, shop: ShopCaller) -> None:
    """Members created under mode none before their flag was kept (older data) are counted by the job."""
    from fenxiao.adapters.members import MemberModel, member_key

    clock.set_now(T0)
    for member in ("a", "b"):
        assert shop.post(shop.path(f"/members/{member}/growth-events"), {"type": "profile"}).status == 200
    forget_counters("shop1")
    for member in ("a", "b"):  # as the code before the flag left them
        MemberModel(member_key("shop1", member), MemberModel.SK).update(
            actions=[MemberModel.is_distributor.remove()]
        )
    answer = api.operator("POST", "/admin/jobs/summary-rebuild")
    assert answer.body["shops_rebuilt"] == ["shop1"]
    assert summary(shop)["distributors"] == 2
    assert_audit_clean()
    answer = api.operator("POST", "/admin/jobs/distributor-recount")  # flags set by the rebuild: nothing
    assert (answer.body["distributors_added"], answer.body["distributors_removed"]) == (0, 0)
    assert summary(shop)["distributors"] == 2


# ---------------------------------------------------------------- withdrawals


@pytest.fixture
def reviewed(shop: ShopCaller) -> ShopCaller:
    funded = funded_shop(shop, T0)
    body = {"settlement": {"withdraw_min_fen": 100, "review_above_fen": 1_000}}
    assert funded.put(funded.path("/settings/distribution"), body).status == 200
    return funded


def withdraw(shop: ShopCaller, withdrawal_id: str, amount: int) -> Any:
    body = {"withdrawal_id": withdrawal_id, "amount_fen": amount, "openid": OPENID}
    return shop.post(shop.path("/members/m1/withdrawals"), body)


def test_withdrawals_entering_and_leaving_review(reviewed: ShopCaller) -> None:
    agrees(reviewed, ["m1"], members=1, withdrawals_pending_review=0)
    for withdrawal_id in ("w1", "w2", "w3"):
        for _ in range(2):  # a repeated request: one withdrawal
            assert withdraw(reviewed, withdrawal_id, 1_000).body["status"] == "pending_review"
    assert withdraw(reviewed, "w-small", 500).body["status"] == "pending"
    got = agrees(reviewed, ["m1"], members=1, withdrawals_pending_review=3)
    assert got["balances"]["withdrawing_fen"] == 3_500
    assert_audit_clean()

    def decide(withdrawal_id: str, approve: bool) -> None:
        for _ in range(2):  # decided twice: once
            body = {"approve": approve} if approve else {"approve": False, "reason": "no"}
            answer = reviewed.post(reviewed.path(f"/withdrawals/{withdrawal_id}/approval"), body)
            assert answer.status == 200, answer.body

    decide("w1", False)
    got = agrees(reviewed, ["m1"], withdrawals_pending_review=2)
    assert got["balances"]["withdrawing_fen"] == 2_500
    decide("w2", True)
    agrees(reviewed, ["m1"], withdrawals_pending_review=1)
    assert (
        reviewed.post(reviewed.path("/withdrawals/w2/approval"), {"approve": False, "reason": "x"}).status
        == 409
    )
    agrees(reviewed, ["m1"], withdrawals_pending_review=1)
    assert_audit_clean()


@pytest.fixture
def rig(
    api: Api, shop: ShopCaller, aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[PayoutRig]:
    with payout_rig(api, shop, aws_env, monkeypatch) as ready:
        yield ready


def test_paid_withdrawals_move_withdrawing_to_withdrawn(rig: PayoutRig) -> None:
    assert rig.withdraw("w1", 1_500).status == 202
    assert agrees(rig.shop, ["m1"])["balances"]["withdrawing_fen"] == 1_500
    assert rig.work() == 1
    got = agrees(rig.shop, ["m1"], members=1)
    assert got["balances"] == {
        "frozen_fen": 0,
        "available_fen": 8_500,
        "withdrawing_fen": 0,
        "withdrawn_fen": 1_500,
    }
    rig.work()  # a stray nudge: nothing
    assert summary(rig.shop) == got
    assert_audit_clean()


# ---------------------------------------------------------------- the audit


def test_the_audit_finds_a_counter_changed_outside_a_transaction(api: Api, shop: ShopCaller) -> None:
    clock.set_now(T0)
    assert shop.put(shop.path("/members/p/distributor"), {"active": True}).status == 200
    assert_audit_clean()
    shard = summary_table.SummaryShardModel(summary_table.shard_account("shop1", 5), summary_table.SORT_KEY)
    shard.update(actions=[summary_table.SummaryShardModel.available_fen.add(7)])  # no fact, no ``writes``
    answer = api.operator("POST", "/admin/jobs/audit")
    assert answer.status == 200, answer.body
    assert answer.body["differences"] == []  # every member agrees with its ledger
    assert answer.body["counter_differences"] == [
        {"shop_id": "shop1", "field": "available_fen", "counters": 7, "members": 0}
    ]
    assert summary(shop)["balances"]["available_fen"] == 7  # what the audit reports is what is answered


def test_the_audit_does_not_compare_counters_that_moved_while_it_read(
    shop: ShopCaller, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock.set_now(T0)
    assert shop.put(shop.path("/members/p/distributor"), {"active": True}).status == 200
    original = audit.ledger_totals

    def a_fact_lands_meanwhile(account: str) -> dict[str, int]:
        monkeypatch.setattr(audit, "ledger_totals", original)
        uow = UnitOfWork(clock.now())
        uow.move(Movement("shop1", "q", "TEST#meanwhile", "commission_frozen", frozen_fen=5))
        uow.commit()
        return original(account)

    monkeypatch.setattr(audit, "ledger_totals", a_fact_lands_meanwhile)
    page = audit.run_page(clock.now(), None)
    assert (page.details["counter_differences"], page.details["counters_unverified"]) == ([], ["shop1"])
    assert_audit_clean()  # the next run compares them again, and they agree


# ---------------------------------------------------------------- rebuilding the counters of an older shop


def forget_counters(shop_id: str) -> None:
    """The shop as it was before the counters existed: its data, no shard."""
    for n in range(summary_table.SHARDS):
        summary_table.SummaryShardModel(
            summary_table.shard_account(shop_id, n), summary_table.SORT_KEY
        ).delete()


def test_the_rebuild_job_sets_the_counters_of_a_shop_with_older_data(api: Api, reviewed: ShopCaller) -> None:
    assert reviewed.put(reviewed.path("/members/p/distributor"), {"active": True}).status == 200
    assert withdraw(reviewed, "w1", 1_000).body["status"] == "pending_review"
    assert withdraw(reviewed, "w2", 200).body["status"] == "pending"
    before = summary(reviewed)
    forget_counters("shop1")
    assert summary(reviewed)["members"] == 0
    answer = api.operator("POST", "/admin/jobs/summary-rebuild")
    assert answer.status == 200, answer.body
    assert (answer.body["shops_rebuilt"], answer.body["shops_busy"], answer.body["members_counted"]) == (
        ["shop1"],
        [],
        2,
    )
    assert summary(reviewed) == before
    # m1 by the default mode none, p granted
    assert before["withdrawals_pending_review"] == 1 and before["distributors"] == 2
    again = api.operator("POST", "/admin/jobs/summary-rebuild")  # nothing to correct: the same answer
    assert again.body["shops_rebuilt"] == ["shop1"]
    assert summary(reviewed) == before
    assert_audit_clean()


def test_the_rebuild_leaves_a_shop_that_moved_during_its_walk(
    api: Api, shop: ShopCaller, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fenxiao.adapters import members as members_table

    clock.set_now(T0)
    assert shop.put(shop.path("/members/p/distributor"), {"active": True}).status == 200
    forget_counters("shop1")
    original = members_table.load_metas

    def a_fact_lands_meanwhile(shop_id: str, member_ids: list[str]) -> Any:
        monkeypatch.setattr(members_table, "load_metas", original)
        uow = UnitOfWork(clock.now())
        uow.move(Movement("shop1", "p", "TEST#meanwhile", "commission_frozen", frozen_fen=5))
        uow.commit()
        return original(shop_id, member_ids)

    monkeypatch.setattr(members_table, "load_metas", a_fact_lands_meanwhile)
    answer = api.operator("POST", "/admin/jobs/summary-rebuild")
    assert (answer.body["shops_rebuilt"], answer.body["shops_busy"]) == ([], ["shop1"])
    assert summary(shop)["members"] == 0  # left as it was: only the fact that landed is counted
    assert summary(shop)["balances"]["frozen_fen"] == 5
    answer = api.operator("POST", "/admin/jobs/summary-rebuild")
    assert answer.body["shops_rebuilt"] == ["shop1"]
    assert summary(shop)["members"] == 1 and summary(shop)["distributors"] == 1
    assert_audit_clean()
