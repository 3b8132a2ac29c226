"""Settlement: frozen -> available exactly once at the effective time, through the sparse due index, in pages."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fenxiao import clock
from fenxiao.adapters.orders import CommissionModel
from fenxiao.adapters.unit_of_work import UnitOfWork
from fenxiao.domain.ledger import Movement
from fenxiao.service import settlement
from fenxiao.timefmt import from_key, key, rfc3339
from tests.bench.counting import measuring
from tests.support import wechatpay as wx
from tests.support.app import Api, ShopCaller
from tests.support.money import assert_audit_clean, balance, entries, frozen_commission
from tests.support.orders import order_body, pay, refund, run

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
US = timedelta(microseconds=1)


def settle(now: datetime) -> dict[str, int]:
    """Run settlement as of ``now`` page after page, as the job's continuations would."""
    cursor: dict[str, Any] | None = None
    totals = {"released": 0, "skipped": 0, "held": 0, "pages": 0}
    while True:
        page = settlement.run_page(now, cursor)
        totals["released"] += page.details["released"]
        totals["skipped"] += page.details["skipped"]
        totals["held"] += page.details["held"]
        totals["pages"] += 1
        cursor = page.cursor
        if cursor is None:
            return totals


def stored(shop_id: str, order_id: str, member_id: str, tier: str = "level1") -> CommissionModel:
    return CommissionModel.get(f"{shop_id}#{order_id}", f"COMM#{tier}#{member_id}", consistent_read=True)


def ten_due(monkeypatch: pytest.MonkeyPatch, spread: int | None = None) -> None:
    """Pages of 4, the clock at T0, and ten commissions (o0..o9) that took effect an hour earlier: 100 fen each
    for m1, or with ``spread`` 100 + i fen for m{i % spread}."""
    monkeypatch.setattr(settlement, "PAGE_SIZE", 4)
    clock.set_now(T0)
    for i in range(10):
        member, fen = ("m1", 100) if spread is None else (f"m{i % spread}", 100 + i)
        frozen_commission("shop1", f"o{i}", member, fen, T0 - timedelta(hours=1))


def all_released(members: int, commissions: int) -> None:
    """Commissions of 100 + i fen for m{i % members} (i < commissions) all released: each member holds its share
    as available, each commission released once."""
    for k in range(members):
        assert balance("shop1", f"m{k}") == {
            "frozen_fen": 0,
            "available_fen": sum(100 + i for i in range(k, commissions, members)),
            "withdrawing_fen": 0,
            "withdrawn_fen": 0,
        }
        releases = [e for e in entries("shop1", f"m{k}", "COMM#") if e.entry_key.endswith("#RELEASE")]
        assert len(releases) == commissions // members


def test_releases_exactly_at_the_effective_time_and_only_once(shop: ShopCaller) -> None:
    clock.set_now(T0)
    frozen_commission("shop1", "o1", "m1", 1200, T0 + timedelta(hours=1))
    frozen_commission("shop1", "o2", "m1", 800, T0 + timedelta(hours=2))

    assert settle(T0 + timedelta(hours=1) - US)["released"] == 0
    assert balance("shop1", "m1")["frozen_fen"] == 2000

    assert settle(T0 + timedelta(hours=1))["released"] == 1
    assert balance("shop1", "m1") == {
        "frozen_fen": 800,
        "available_fen": 1200,
        "withdrawing_fen": 0,
        "withdrawn_fen": 0,
    }
    released = stored("shop1", "o1", "m1")
    assert (released.status, released.version, released.due_shard, released.due_at) == (
        "available",
        1,
        None,
        None,
    )
    assert released.released_at == key(T0 + timedelta(hours=1))

    assert settle(T0 + timedelta(hours=1))["released"] == 0  # a second run finds nothing
    assert settle(T0 + timedelta(days=1))["released"] == 1
    assert balance("shop1", "m1")["available_fen"] == 2000
    assert [e.entry_key for e in entries("shop1", "m1", "COMM#")] == [
        "COMM#o1#level1#m1#FROZEN",
        "COMM#o1#level1#m1#RELEASE",
        "COMM#o2#level1#m1#FROZEN",
        "COMM#o2#level1#m1#RELEASE",
    ]
    assert_audit_clean()


def _distribution(shop: ShopCaller, basis: str, freeze_days: int) -> None:
    clock.set_now(T0 - timedelta(days=1))
    body = {
        "rates": {"level1_bp": 1000, "level2_bp": 500, "self_bp": 0},
        "settlement": {"basis": basis, "freeze_days": freeze_days},
    }
    assert shop.put(shop.path("/settings/distribution"), body).status == 200
    assert shop.post(shop.path("/members/b/inviter"), {"inviter_id": "a"}).status == 201
    assert shop.post(shop.path("/members/c/inviter"), {"inviter_id": "b"}).status == 201


def test_freeze_days_zero_settles_at_payment(shop: ShopCaller) -> None:
    _distribution(shop, "payment", 0)
    assert shop.put(shop.path("/orders/o1"), order_body("c", [("l1", "p1", 10000)])).status == 201
    pay("shop1", "o1", 10000, T0)
    assert run("shop1", "o1", T0 + timedelta(seconds=5))
    assert balance("shop1", "b")["frozen_fen"] == 1000

    clock.set_now(T0 + timedelta(seconds=10))
    assert settle(T0 + timedelta(seconds=10))["released"] == 2
    assert shop.get(shop.path("/members/b")).body["balance"]["available_fen"] == 1000
    assert shop.get(shop.path("/members/a")).body["balance"]["available_fen"] == 500
    view = shop.get(shop.path("/orders/o1")).body
    assert {c["status"] for c in view["commissions"]} == {"available"}
    assert_audit_clean()


def test_completion_basis_is_due_only_once_the_order_completes(shop: ShopCaller) -> None:
    _distribution(shop, "completion", 2)
    assert shop.put(shop.path("/orders/o1"), order_body("c", [("l1", "p1", 10000)])).status == 201
    pay("shop1", "o1", 10000, T0)
    assert run("shop1", "o1", T0 + timedelta(seconds=5))
    assert stored("shop1", "o1", "b").due_at is None
    assert settle(T0 + timedelta(days=400))["released"] == 0  # not due, however late: not in the index

    completed = T0 + timedelta(days=3)
    clock.set_now(completed)
    assert shop.post(shop.path("/orders/o1/completion")).status == 200
    assert run("shop1", "o1", completed)
    due = from_key(stored("shop1", "o1", "b").due_at)
    assert timedelta(days=2) <= due - completed < timedelta(days=2, seconds=5)  # completed_at + 2 days

    assert settle(due - US)["released"] == 0
    assert settle(due)["released"] == 2
    assert balance("shop1", "b")["available_fen"] == 1000
    assert_audit_clean()


def test_refund_during_the_freeze_reduces_what_is_released(shop: ShopCaller) -> None:
    _distribution(shop, "payment", 7)
    assert shop.put(shop.path("/orders/o1"), order_body("c", [("l1", "p1", 10000)])).status == 201
    pay("shop1", "o1", 10000, T0)
    assert run("shop1", "o1", T0)
    refund("shop1", "o1", "r1", 4000, T0 + timedelta(days=1))
    assert run("shop1", "o1", T0 + timedelta(days=1))
    assert settle(T0 + timedelta(days=7))["released"] == 2
    assert balance("shop1", "b") == {
        "frozen_fen": 0,
        "available_fen": 600,
        "withdrawing_fen": 0,
        "withdrawn_fen": 0,
    }
    assert_audit_clean()


def clawback_after_the_read(monkeypatch: pytest.MonkeyPatch) -> Callable[..., list[CommissionModel]]:
    """Between settlement's read and its commit, the order consumer claws back 300 of shop1's o1 level-1
    commission for m1 (1000 -> 700, version 0 -> 1). Returns the real fetch, to put back."""
    fetch = settlement._fetch

    def fetch_then_clawback(keys: list[tuple[str, str]]) -> list[CommissionModel]:
        read = fetch(keys)
        uow = UnitOfWork(T0)
        uow.update(
            "commission",
            CommissionModel("shop1#o1", "COMM#level1#m1"),
            actions=[CommissionModel.amount_fen.set(700), CommissionModel.version.set(1)],
            condition=CommissionModel.version == 0,
        )
        uow.move(Movement("shop1", "m1", "COMM#o1#level1#m1#ADJ#1", "commission_clawback", frozen_fen=-300))
        uow.commit()
        return read

    monkeypatch.setattr(settlement, "_fetch", fetch_then_clawback)
    return fetch


def test_a_refund_racing_settlement_wins_and_the_next_run_releases_the_new_amount(
    shop: ShopCaller, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock.set_now(T0)
    frozen_commission("shop1", "o1", "m1", 1000, T0)
    fetch = clawback_after_the_read(monkeypatch)
    assert settle(T0 + timedelta(minutes=5)) == {"released": 0, "skipped": 1, "held": 0, "pages": 1}
    assert balance("shop1", "m1")["frozen_fen"] == 700
    assert balance("shop1", "m1")["available_fen"] == 0

    monkeypatch.setattr(settlement, "_fetch", fetch)
    assert settle(T0 + timedelta(minutes=10))["released"] == 1
    assert balance("shop1", "m1") == {
        "frozen_fen": 0,
        "available_fen": 700,
        "withdrawing_fen": 0,
        "withdrawn_fen": 0,
    }
    after = stored("shop1", "o1", "m1")
    assert (after.status, after.amount_fen, after.version) == ("available", 700, 2)
    assert_audit_clean()


def test_a_crash_mid_page_loses_and_doubles_nothing(
    shop: ShopCaller, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock.set_now(T0)
    for i in range(12):
        frozen_commission("shop1", f"o{i}", f"m{i % 3}", 100 + i, T0 - timedelta(minutes=i))
    monkeypatch.setattr(settlement, "BATCH_COMMISSIONS", 5)
    release_batch = settlement.release_batch
    done: list[str] = []

    def release_then_crash(commissions: list[CommissionModel], now: datetime) -> int:
        if len(done) == 5:
            raise RuntimeError("the Lambda died here")
        done.extend(c.order_id for c in commissions)
        return release_batch(commissions, now)

    monkeypatch.setattr(settlement, "release_batch", release_then_crash)
    with pytest.raises(RuntimeError):
        settlement.run_page(T0, None)
    assert len(done) == 5  # one batch of 5 committed before the crash
    monkeypatch.setattr(settlement, "release_batch", release_batch)
    # The page is delivered again (same cursor): what was done is not in the index any more.
    assert settle(T0)["released"] == 7
    assert settle(T0)["released"] == 0
    total = sum(balance("shop1", f"m{k}")["available_fen"] for k in range(3))
    assert total == sum(100 + i for i in range(12))
    for k in range(3):
        releases = entries("shop1", f"m{k}", "COMM#")
        assert len([e for e in releases if e.entry_key.endswith("#RELEASE")]) == 4
    assert_audit_clean()


def test_bounded_pages_continue_through_the_jobs_queue(
    api: Api, shop: ShopCaller, aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from fenxiao.service import jobs

    ten_due(monkeypatch)
    first = jobs.on_timer({"job": "settlement"})
    assert first == {"job": "settlement", "processed": 4, "more": True}
    assert wx.drain(aws_env, "FENXIAO_JOBS_QUEUE_URL", "on_job_event") == 2  # two continuation pages
    assert balance("shop1", "m1")["available_fen"] == 1000
    assert_audit_clean()


def test_operator_runs_settlement_as_of_a_given_time(api: Api, shop: ShopCaller) -> None:
    clock.set_now(T0)
    frozen_commission("shop1", "o1", "m1", 500, T0 + timedelta(days=7))
    early = api.operator("POST", "/admin/jobs/settlement", {"now": rfc3339(T0 + timedelta(days=6))})
    assert early.status == 200, early.body
    assert (early.body["released"], early.body["done"]) == (0, True)
    answer = api.operator("POST", "/admin/jobs/settlement", {"now": rfc3339(T0 + timedelta(days=7))})
    assert (answer.body["released"], answer.body["processed"]) == (1, 1)
    assert shop.get(shop.path("/members/m1")).body["balance"]["available_fen"] == 500
    audit = api.operator("POST", "/admin/jobs/audit")
    assert audit.body["differences"] == []


def test_cost_follows_what_is_due_not_what_is_stored(shop: ShopCaller) -> None:
    clock.set_now(T0)
    for i in range(10):
        frozen_commission("shop1", f"due{i}", f"m{i}", 100, T0 - timedelta(minutes=1))
    for i in range(150):  # not due: later effective times, unknown effective time (completion), settled
        effective = T0 + timedelta(days=1 + i) if i % 3 else None
        frozen_commission("shop1", f"later{i}", f"m{i % 10}", 100, effective, basis="completion")
    for i in range(40):
        frozen_commission("shop1", f"old{i}", f"m{i % 10}", 100, T0 - timedelta(days=30))
    assert settle(T0 - timedelta(days=29))["released"] == 40

    with measuring() as measure:
        assert settle(T0)["released"] == 10
    # 10 index entries + the same 10 commissions by BatchGetItem: nothing else is read (no refunds stored).
    assert measure.read_items == 20
    # one per due shard, plus one per due order for its REFUND# items (empty here)
    assert measure.calls["dynamodb.Query"] == 8 + 10
    assert measure.calls["dynamodb.BatchGetItem"] == 1
    # the 10 releases in one transaction (10 commissions, 10 ledger entries, 10 balances)
    assert measure.calls["dynamodb.TransactWriteItems"] == 1
    assert measure.calls.get("dynamodb.Scan", 0) == 0


def test_a_stored_refund_the_consumer_has_not_applied_holds_the_release(
    shop: ShopCaller, aws_env: dict[str, str]
) -> None:
    # Reviewer's reproduction: the refund notification stored REFUND# and nudged, but the order consumer
    # lags (or its messages fail); the commission is due. Releasing it would pay 1000 instead of 600 and
    # the later consumer run would flag the order late_refund instead of clawing back.
    _distribution(shop, "payment", 7)
    assert shop.put(shop.path("/orders/o1"), order_body("c", [("l1", "p1", 10000)])).status == 201
    pay("shop1", "o1", 10000, T0)
    assert run("shop1", "o1", T0)
    wx.drain(aws_env)  # the registration's own nudge: nothing left to do
    refund("shop1", "o1", "r1", 4000, T0 + timedelta(days=6))  # before the effective time T0 + 7 days
    due = T0 + timedelta(days=7, minutes=1)
    clock.set_now(due)

    assert settle(due) == {"released": 0, "skipped": 0, "held": 2, "pages": 1}
    assert balance("shop1", "b") == {
        "frozen_fen": 1000,
        "available_fen": 0,
        "withdrawing_fen": 0,
        "withdrawn_fen": 0,
    }
    assert stored("shop1", "o1", "b").status == "frozen"
    # settlement nudged the order: the consumer, run from that one message, claws back
    assert wx.drain(aws_env) == 1
    assert (stored("shop1", "o1", "b").amount_fen, stored("shop1", "o1", "b").status) == (600, "frozen")

    assert settle(due + timedelta(minutes=1)) == {"released": 2, "skipped": 0, "held": 0, "pages": 1}
    assert balance("shop1", "b") == {
        "frozen_fen": 0,
        "available_fen": 600,
        "withdrawing_fen": 0,
        "withdrawn_fen": 0,
    }
    assert balance("shop1", "a")["available_fen"] == 300  # level2: floor(6000 * 500 / 10000)
    assert not run("shop1", "o1", due + timedelta(minutes=2))
    assert shop.get(shop.path("/orders/o1")).body["flags"] == []
    assert_audit_clean()


def test_a_refund_at_or_after_the_effective_time_does_not_hold_the_release(shop: ShopCaller) -> None:
    _distribution(shop, "payment", 7)
    assert shop.put(shop.path("/orders/o1"), order_body("c", [("l1", "p1", 10000)])).status == 201
    pay("shop1", "o1", 10000, T0)
    assert run("shop1", "o1", T0)
    refund("shop1", "o1", "r1", 4000, T0 + timedelta(days=7))  # exactly at the effective time: does not count
    assert settle(T0 + timedelta(days=7, minutes=1))["released"] == 2
    assert balance("shop1", "b")["available_fen"] == 1000
    assert_audit_clean()


def test_a_refund_counted_without_changing_the_amount_is_not_late_after_the_release(
    shop: ShopCaller,
) -> None:
    # Rounding: floor(10005 * 1000 / 10000) = 1000 = floor(10000 * 1000 / 10000), so refunding 5 fen during
    # the freeze leaves b's commission at 1000 (a's: floor(10005 * 0.05) = 500 = floor(10000 * 0.05)).
    _distribution(shop, "payment", 7)
    assert shop.put(shop.path("/orders/o1"), order_body("c", [("l1", "p1", 10005)])).status == 201
    pay("shop1", "o1", 10005, T0)
    assert run("shop1", "o1", T0)
    refund("shop1", "o1", "r1", 5, T0 + timedelta(days=1))
    assert run("shop1", "o1", T0 + timedelta(days=1))  # the counted set changed: stored, amount unchanged
    counted = stored("shop1", "o1", "b")
    assert (counted.amount_fen, counted.counted_refunds, counted.version) == (1000, {"r1"}, 1)

    assert settle(T0 + timedelta(days=7))["released"] == 2
    assert not run("shop1", "o1", T0 + timedelta(days=7, minutes=1))  # a later nudge finds nothing new
    view = shop.get(shop.path("/orders/o1")).body
    assert view["flags"] == []
    assert view["refunded_fen"] == 5
    assert balance("shop1", "b")["available_fen"] == 1000
    assert_audit_clean()


def test_a_refund_reported_after_the_release_is_flagged_late_and_changes_nothing(shop: ShopCaller) -> None:
    _distribution(shop, "payment", 7)
    assert shop.put(shop.path("/orders/o1"), order_body("c", [("l1", "p1", 10000)])).status == 201
    pay("shop1", "o1", 10000, T0)
    assert run("shop1", "o1", T0)
    assert settle(T0 + timedelta(days=7))["released"] == 2
    # WeChat Pay reports, after the release, a refund that succeeded during the freeze (day 6)
    refund("shop1", "o1", "r1", 4000, T0 + timedelta(days=6))
    assert run("shop1", "o1", T0 + timedelta(days=8))
    view = shop.get(shop.path("/orders/o1")).body
    assert view["flags"] == ["late_refund"]
    assert {(c["tier"], c["amount_fen"], c["status"]) for c in view["commissions"]} == {
        ("level1", 1000, "available"),
        ("level2", 500, "available"),
    }
    assert balance("shop1", "b") == {
        "frozen_fen": 0,
        "available_fen": 1000,
        "withdrawing_fen": 0,
        "withdrawn_fen": 0,
    }
    assert not run("shop1", "o1", T0 + timedelta(days=8, minutes=1))  # flagged once; nothing else moves
    assert settle(T0 + timedelta(days=9))["released"] == 0
    assert_audit_clean()


class _Lambda:
    """A Lambda context whose remaining time is given, call after call (the last one repeats)."""

    def __init__(self, *remaining_ms: int) -> None:
        self.remaining = list(remaining_ms)

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining.pop(0) if len(self.remaining) > 1 else self.remaining[0]


def test_a_refund_racing_one_commission_of_a_batch_holds_back_only_that_one(
    shop: ShopCaller, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock.set_now(T0)
    frozen_commission("shop1", "o1", "m1", 1000, T0)
    frozen_commission("shop1", "o2", "m1", 400, T0)
    frozen_commission("shop1", "o3", "m2", 200, T0)
    frozen_commission("shop1", "o4", "m3", 300, T0)
    fetch = clawback_after_the_read(monkeypatch)
    with measuring() as measure:
        assert settle(T0 + timedelta(minutes=5)) == {"released": 3, "skipped": 1, "held": 0, "pages": 1}
    # the clawback, the cancelled batch of 4, then the 3 unchanged ones alone (o1 is not tried again)
    assert measure.calls["dynamodb.TransactWriteItems"] == 1 + 1 + 3
    assert balance("shop1", "m1") == {
        "frozen_fen": 700,
        "available_fen": 400,
        "withdrawing_fen": 0,
        "withdrawn_fen": 0,
    }
    assert balance("shop1", "m2")["available_fen"] == 200
    assert balance("shop1", "m3")["available_fen"] == 300
    assert_audit_clean()

    monkeypatch.setattr(settlement, "_fetch", fetch)
    assert settle(T0 + timedelta(minutes=10)) == {"released": 1, "skipped": 0, "held": 0, "pages": 1}
    assert balance("shop1", "m1")["available_fen"] == 1100
    assert balance("shop1", "m1")["frozen_fen"] == 0
    after = stored("shop1", "o1", "m1")
    assert (after.status, after.amount_fen, after.version) == ("available", 700, 2)
    assert_audit_clean()


def test_one_transaction_releases_a_batch_and_each_member_balance_moves_by_the_sum(shop: ShopCaller) -> None:
    clock.set_now(T0)
    for i in range(30):
        frozen_commission("shop1", f"o{i}", f"m{i % 3}", 100 + i, T0 - timedelta(minutes=i))
    with measuring() as measure:
        assert settle(T0)["released"] == 30
    # 30 commissions and 30 ledger entries, 3 balance updates: one transaction of 63 items
    assert measure.calls["dynamodb.TransactWriteItems"] == 1
    all_released(members=3, commissions=30)
    assert_audit_clean()


def test_a_duplicate_job_message_racing_the_first_releases_nothing_twice(
    shop: ShopCaller, aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from fenxiao.service import jobs

    ten_due(monkeypatch, spread=2)
    message = {"job": "settlement", "now": rfc3339(T0), "cursor": None}
    fetch = settlement._fetch
    duplicates: list[int] = []

    def fetch_while_the_duplicate_runs(keys: list[tuple[str, str]]) -> list[CommissionModel]:
        read = fetch(keys)
        if not duplicates:
            # SQS delivers the same message twice: the other copy runs to the end between this read and commit.
            duplicates.append(1)
            jobs.handle_job_message(dict(message), _Lambda(600_000))
        return read

    monkeypatch.setattr(settlement, "_fetch", fetch_while_the_duplicate_runs)
    with measuring() as measure:
        jobs.handle_job_message(dict(message), _Lambda(600_000))
    # the duplicate: 3 pages (4, 4, 2), one transaction each; this copy: its batch of 4, cancelled, nothing
    # tried again one by one (every commission in it had changed)
    assert measure.calls["dynamodb.TransactWriteItems"] == 3 + 1
    assert wx.drain(aws_env, "FENXIAO_JOBS_QUEUE_URL", "on_job_event") == 0  # both finished in-process
    all_released(members=2, commissions=10)
    assert_audit_clean()


def test_a_job_message_goes_on_in_process_and_enqueues_only_when_time_runs_short(
    api: Api, shop: ShopCaller, aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from fenxiao.service import jobs

    ten_due(monkeypatch)
    for i in range(10):
        frozen_commission("shop1", f"p{i}", "m2", 100, T0 - timedelta(hours=1))
    message = {"job": "settlement", "now": rfc3339(T0), "cursor": None}

    # Plenty of time: every page of the first half in this invocation, no continuation message.
    jobs.handle_job_message(dict(message), _Lambda(600_000))
    assert wx.drain(aws_env, "FENXIAO_JOBS_QUEUE_URL", "on_job_event") == 0
    assert balance("shop1", "m1")["available_fen"] == 1000
    assert balance("shop1", "m2")["available_fen"] == 1000

    for i in range(10, 20):
        frozen_commission("shop1", f"o{i}", "m1", 100, T0 - timedelta(hours=1))
    # Time runs short after the second page: the rest goes on through one JobsQueue message (the drain's
    # context leaves 60 s, within the margin: one page per message from there).
    jobs.handle_job_message(dict(message), _Lambda(600_000, 30_000))
    assert balance("shop1", "m1")["available_fen"] == 1800
    assert wx.drain(aws_env, "FENXIAO_JOBS_QUEUE_URL", "on_job_event") == 1
    assert balance("shop1", "m1")["available_fen"] == 2000
    assert balance("shop1", "m1")["frozen_fen"] == 0
    assert_audit_clean()


def _lease_holder() -> str | None:
    from fenxiao.adapters.shops import LEASE, JobLeaseModel, job_lease_key

    try:
        return str(JobLeaseModel.get(job_lease_key("settlement"), LEASE, consistent_read=True).holder)
    except JobLeaseModel.DoesNotExist:
        return None


def _job_messages(env: dict[str, str]) -> list[dict[str, Any]]:
    """The JobsQueue's waiting messages' bodies, taken off the queue."""
    import json

    import boto3

    sqs = boto3.client("sqs", region_name="us-east-1")
    url = env["FENXIAO_JOBS_QUEUE_URL"]
    bodies = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for m in messages:
            bodies.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return bodies


def test_a_timer_leaves_settlement_to_the_chain_that_holds_its_lease(
    shop: ShopCaller, aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from fenxiao.service import jobs

    ten_due(monkeypatch)
    assert jobs.on_timer({"job": "settlement"}) == {"job": "settlement", "processed": 4, "more": True}
    chain = _lease_holder()
    assert chain is not None
    # The timer fires again while the first chain's continuation waits: it runs nothing.
    assert jobs.on_timer({"job": "settlement"}) == {"job": "settlement", "processed": 0, "more": False}
    assert balance("shop1", "m1")["available_fen"] == 400
    assert _lease_holder() == chain
    assert wx.drain(aws_env, "FENXIAO_JOBS_QUEUE_URL", "on_job_event") == 2  # the first chain's pages
    assert balance("shop1", "m1") == {
        "frozen_fen": 0,
        "available_fen": 1000,
        "withdrawing_fen": 0,
        "withdrawn_fen": 0,
    }
    assert _lease_holder() is None  # given up at the end: the next timer runs at once
    frozen_commission("shop1", "late", "m1", 100, T0 - timedelta(minutes=1))
    assert jobs.on_timer({"job": "settlement"}) == {"job": "settlement", "processed": 1, "more": False}
    assert_audit_clean()


def test_an_operator_run_takes_settlement_over_and_the_replaced_chain_stops(
    api: Api, shop: ShopCaller, aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from fenxiao.service import jobs

    ten_due(monkeypatch, spread=2)
    monkeypatch.setattr(jobs, "OPERATOR_TIME_BUDGET_SECONDS", 0.0)  # one page, then its continuation
    jobs.on_timer({"job": "settlement"})
    timer_chain = _lease_holder()
    answer = api.operator("POST", "/admin/jobs/settlement", {"now": rfc3339(T0)})
    assert answer.status == 200, answer.body
    assert (answer.body["released"], answer.body["done"]) == (4, False)
    operator_chain = _lease_holder()
    assert operator_chain not in (None, timer_chain)

    pages: list[str | None] = []
    run_page = settlement.run_page

    def counted(now: datetime, cursor: dict[str, Any] | None) -> Any:
        pages.append(current[0])
        return run_page(now, cursor)

    monkeypatch.setattr(settlement, "run_page", counted)
    current: list[str | None] = [None]
    messages = _job_messages(aws_env)
    assert sorted(m["chain"] for m in messages) == sorted([timer_chain, operator_chain])
    for message in sorted(messages, key=lambda m: m["chain"] != timer_chain):  # the replaced chain's first
        current[0] = message["chain"]
        jobs.handle_job_message(message, _Lambda(600_000))
    assert timer_chain not in pages and operator_chain in pages  # the replaced chain ran no page
    assert _job_messages(aws_env) == []
    all_released(members=2, commissions=10)
    assert _lease_holder() is None
    assert_audit_clean()


def test_a_chain_that_stops_renewing_holds_settlement_for_the_lease_time_only(
    shop: ShopCaller, aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from fenxiao.service import jobs

    ten_due(monkeypatch)
    monkeypatch.setattr(jobs, "LEASE_SECONDS", -1.0)  # the first chain's lease has run out at once
    jobs.on_timer({"job": "settlement"})
    crashed = _lease_holder()
    _job_messages(aws_env)  # its continuation is lost (the chain crashed)
    monkeypatch.setattr(jobs, "LEASE_SECONDS", 120.0)
    assert jobs.on_timer({"job": "settlement"}) == {"job": "settlement", "processed": 4, "more": True}
    assert _lease_holder() not in (None, crashed)
    assert wx.drain(aws_env, "FENXIAO_JOBS_QUEUE_URL", "on_job_event") == 1
    assert balance("shop1", "m1")["available_fen"] == 1000
    assert_audit_clean()
