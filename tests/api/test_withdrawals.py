"""The withdrawal routes (SPEC §4, §7): request, status, the review queue and its decisions, and bad input."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from fenxiao import clock
from tests.support.app import Api, ShopCaller
from tests.support.money import assert_audit_clean, balance, entries, give_available
from tests.support.payouts import funded_shop, payout_messages
from tests.support.wechatpay import OPENID

pytestmark = pytest.mark.api

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


@pytest.fixture
def funded(shop: ShopCaller) -> ShopCaller:
    return funded_shop(shop, T0)


def withdraw(shop: ShopCaller, member: str, withdrawal_id: str, amount: int, **over: Any) -> Any:
    body = {"withdrawal_id": withdrawal_id, "amount_fen": amount, "openid": OPENID, **over}
    return shop.post(shop.path(f"/members/{member}/withdrawals"), body)


def test_request_reserves_the_amount_and_answers_202(
    api: Api, funded: ShopCaller, aws_env: dict[str, str]
) -> None:
    answer = withdraw(funded, "m1", "w1", 1_200)
    assert answer.status == 202, answer.body
    assert answer.body == {
        "withdrawal_id": "w1",
        "member_id": "m1",
        "amount_fen": 1_200,
        "status": "pending",
        "package_info": None,
        "reason": None,
        "created_at": answer.body["created_at"],
        "updated_at": answer.body["created_at"],
    }
    assert answer.body["created_at"].startswith("2026-11-20T10:00")
    assert funded.get(funded.path("/members/m1")).body["balance"] == {
        "frozen_fen": 0,
        "available_fen": 3_800,
        "withdrawing_fen": 1_200,
        "withdrawn_fen": 0,
    }
    assert payout_messages(aws_env) == [{"shop_id": "shop1", "withdrawal_id": "w1"}]
    got = funded.get(funded.path("/members/m1/withdrawals/w1"))
    assert (got.status, got.body) == (200, answer.body)

    again = withdraw(funded, "m1", "w1", 1_200)  # same id, same body: same answer, nothing more
    assert (again.status, again.body) == (202, answer.body)
    assert balance("shop1", "m1")["withdrawing_fen"] == 1_200
    assert len(entries("shop1", "m1", "WD#")) == 1

    for conflicting in (
        withdraw(funded, "m1", "w1", 1_300),
        withdraw(funded, "m1", "w1", 1_200, openid="o-someone-else"),
        withdraw(funded, "m2", "w1", 1_200),
    ):
        assert conflicting.status == 409
        assert conflicting.error["code"] == "withdrawal_conflict"
    assert balance("shop1", "m1")["withdrawing_fen"] == 1_200
    assert_audit_clean()


def test_withdrawals_stay_open_when_distribution_is_switched_off(funded: ShopCaller) -> None:
    assert funded.put(funded.path("/settings/distribution"), {"enabled": False}).status == 200
    assert withdraw(funded, "m1", "w-off", 500).status == 202


def test_the_member_must_hold_the_amount_and_reach_the_minimum(funded: ShopCaller) -> None:
    assert (
        funded.put(funded.path("/settings/distribution"), {"settlement": {"withdraw_min_fen": 1_000}}).status
        == 200
    )
    below = withdraw(funded, "m1", "w-small", 999)
    assert (below.status, below.error["code"], below.error["field"]) == (
        422,
        "below_withdraw_min",
        "amount_fen",
    )
    assert withdraw(funded, "m1", "w-min", 1_000).status == 202  # at the minimum: allowed

    above = withdraw(funded, "m1", "w-big", 4_001)
    assert (above.status, above.error["code"]) == (409, "insufficient_balance")
    assert withdraw(funded, "m1", "w-rest", 4_000).status == 202  # exactly what is left
    nothing = withdraw(funded, "nobody", "w-none", 1_000)
    assert (nothing.status, nothing.error["code"]) == (409, "insufficient_balance")

    for withdrawal_id, member in (("w-small", "m1"), ("w-big", "m1"), ("w-none", "nobody")):
        assert funded.get(funded.path(f"/members/{member}/withdrawals/{withdrawal_id}")).status == 404
    assert balance("shop1", "m1")["available_fen"] == 0
    assert balance("shop1", "nobody")["withdrawing_fen"] == 0
    assert_audit_clean()


def test_amounts_that_need_the_payees_name_are_refused(funded: ShopCaller) -> None:
    give_available("shop1", "m1", 300_000)
    big = withdraw(funded, "m1", "w-2000-yuan", 200_000)
    assert (big.status, big.error["code"]) == (422, "amount_needs_user_name")
    assert withdraw(funded, "m1", "w-1999-yuan", 199_999).status == 202


def test_a_shop_without_a_merchant_key_cannot_start_withdrawals(shop: ShopCaller) -> None:
    clock.set_now(T0)
    give_available("shop1", "m1", 5_000)
    answer = withdraw(shop, "m1", "w1", 1_000)
    assert (answer.status, answer.error["code"]) == (422, "wechatpay_not_configured")
    assert shop.get(shop.path("/members/m1/withdrawals/w1")).status == 404


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({}, "missing_field", "withdrawal_id"),
        ({"withdrawal_id": "w9", "amount_fen": 500}, "missing_field", "openid"),
        ({"withdrawal_id": "w9", "openid": OPENID}, "missing_field", "amount_fen"),
        ({"withdrawal_id": "w9", "amount_fen": "500", "openid": OPENID}, "invalid_field", "amount_fen"),
        ({"withdrawal_id": "w9", "amount_fen": 500.0, "openid": OPENID}, "invalid_field", "amount_fen"),
        ({"withdrawal_id": "w9", "amount_fen": True, "openid": OPENID}, "invalid_field", "amount_fen"),
        ({"withdrawal_id": "w9", "amount_fen": 0, "openid": OPENID}, "invalid_field", "amount_fen"),
        ({"withdrawal_id": "w9", "amount_fen": -5, "openid": OPENID}, "invalid_field", "amount_fen"),
        ({"withdrawal_id": 9, "amount_fen": 500, "openid": OPENID}, "invalid_field", "withdrawal_id"),
        ({"withdrawal_id": "w#9", "amount_fen": 500, "openid": OPENID}, "invalid_field", "withdrawal_id"),
        ({"withdrawal_id": "w" * 65, "amount_fen": 500, "openid": OPENID}, "invalid_field", "withdrawal_id"),
        ({"withdrawal_id": "w9", "amount_fen": 500, "openid": "o id"}, "invalid_field", "openid"),
        ({"withdrawal_id": "w9", "amount_fen": 500, "openid": OPENID, "x": 1}, "unknown_field", "x"),
    ],
)
def test_malformed_requests_are_400_and_store_nothing(
    funded: ShopCaller, body: dict[str, Any], code: str, field: str
) -> None:
    answer = funded.post(funded.path("/members/m1/withdrawals"), body)
    assert answer.status == 400, answer.body
    assert (answer.error["code"], answer.error["field"]) == (code, field)
    assert funded.get(funded.path("/members/m1/withdrawals/w9")).status == 404
    assert balance("shop1", "m1")["available_fen"] == 5_000


def test_bodies_that_are_not_objects_and_bad_path_ids(funded: ShopCaller) -> None:
    path = funded.path("/members/m1/withdrawals")
    assert funded.post(path, raw=b"{not json").error["code"] == "invalid_json"
    assert funded.post(path, [1, 2]).error["code"] == "invalid_body"
    assert funded.post(path, raw=b"").error["code"] == "invalid_body"
    bad_member = funded.post(
        funded.path("/members/m%231/withdrawals"),
        {"withdrawal_id": "w9", "amount_fen": 500, "openid": OPENID},
    )
    assert (bad_member.status, bad_member.error["field"]) == (400, "member_id")
    bad_id = funded.get(funded.path("/members/m1/withdrawals/w%239"))
    assert (bad_id.status, bad_id.error["field"]) == (400, "withdrawal_id")
    assert balance("shop1", "m1")["available_fen"] == 5_000


def test_another_shops_paths_are_403_and_unsigned_calls_401(api: Api, funded: ShopCaller) -> None:
    assert withdraw(funded, "m1", "w1", 1_000).status == 202
    other = api.create_shop("shop2")
    calls = [
        (
            "POST",
            "/shops/shop1/members/m1/withdrawals",
            {"withdrawal_id": "w2", "amount_fen": 500, "openid": OPENID},
        ),
        ("GET", "/shops/shop1/members/m1/withdrawals/w1", None),
        ("GET", "/shops/shop1/withdrawals?status=pending_review", None),
        ("POST", "/shops/shop1/withdrawals/w1/approval", {"approve": True}),
    ]
    for method, path, body in calls:
        answer = other.call(method, path, body)
        assert (answer.status, answer.error["code"]) == (403, "not_your_shop"), (method, path)
        unsigned = api.client.http.request(method, path, headers={"Content-Type": "application/json"})
        assert unsigned.status_code == 401, (method, path)
    assert funded.get(funded.path("/members/m1/withdrawals/w2")).status == 404
    assert balance("shop1", "m1")["withdrawing_fen"] == 1_000


def test_a_withdrawal_is_visible_only_under_its_member(funded: ShopCaller) -> None:
    assert withdraw(funded, "m1", "w1", 1_000).status == 202
    assert funded.get(funded.path("/members/m2/withdrawals/w1")).status == 404
    missing = funded.get(funded.path("/members/m1/withdrawals/nope"))
    assert (missing.status, missing.error["code"]) == (404, "withdrawal_not_found")


# ---------------------------------------------------------------- review


@pytest.fixture
def reviewed(funded: ShopCaller) -> ShopCaller:
    body = {"settlement": {"withdraw_min_fen": 100, "review_above_fen": 1_000}}
    assert funded.put(funded.path("/settings/distribution"), body).status == 200
    return funded


def test_at_or_above_the_threshold_waits_for_review_with_the_money_reserved(
    reviewed: ShopCaller, aws_env: dict[str, str]
) -> None:
    small = withdraw(reviewed, "m1", "w-small", 999)
    big = withdraw(reviewed, "m1", "w-big", 1_000)
    assert (small.status, small.body["status"]) == (202, "pending")
    assert (big.status, big.body["status"]) == (202, "pending_review")
    assert balance("shop1", "m1")["withdrawing_fen"] == 1_999
    assert payout_messages(aws_env) == [{"shop_id": "shop1", "withdrawal_id": "w-small"}]  # none for review
    listed = reviewed.get(reviewed.path("/withdrawals?status=pending_review"))
    assert listed.status == 200
    assert [e["withdrawal_id"] for e in listed.body["entries"]] == ["w-big"]
    assert listed.body["next_cursor"] is None
    assert reviewed.get(reviewed.path("/withdrawals")).body["entries"] == listed.body["entries"]


def test_the_review_queue_pages_with_opaque_cursors(api: Api, reviewed: ShopCaller) -> None:
    for i in range(5):
        clock.set_now(T0.replace(minute=i + 1))
        assert withdraw(reviewed, "m1", f"w{i}", 1_000).body["status"] == "pending_review"
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        query = "status=pending_review&limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = reviewed.get(reviewed.path(f"/withdrawals?{query}"))
        assert page.status == 200, page.body
        seen += [e["withdrawal_id"] for e in page.body["entries"]]
        pages += 1
        cursor = page.body["next_cursor"]
        if cursor is None:
            break
        assert all(c.isalnum() or c in "-_" for c in cursor)  # url-safe: signed as sent
    assert seen == ["w0", "w1", "w2", "w3", "w4"]  # oldest first
    assert pages == 3

    for query, field in (
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=ten", "limit"),
        ("status=pending", "status"),
        ("cursor=garbage", "cursor"),
    ):
        answer = reviewed.get(reviewed.path(f"/withdrawals?{query}"))
        assert (answer.status, answer.error["field"]) == (400, field), query
    # A cursor of another shop's queue is not accepted here.
    other = api.create_shop("shop2")
    first = reviewed.get(reviewed.path("/withdrawals?limit=1")).body["next_cursor"]
    foreign = other.get(f"/shops/shop2/withdrawals?cursor={first}")
    assert (foreign.status, foreign.error["code"]) == (400, "invalid_cursor")
    assert reviewed.get(reviewed.path("/withdrawals?limit=100")).status == 200


def test_approval_starts_the_payout_once(reviewed: ShopCaller, aws_env: dict[str, str]) -> None:
    assert withdraw(reviewed, "m1", "w1", 2_000).body["status"] == "pending_review"
    payout_messages(aws_env)
    approved = reviewed.post(reviewed.path("/withdrawals/w1/approval"), {"approve": True})
    assert (approved.status, approved.body["status"]) == (200, "pending")
    assert payout_messages(aws_env) == [{"shop_id": "shop1", "withdrawal_id": "w1"}]
    assert reviewed.get(reviewed.path("/withdrawals")).body["entries"] == []

    twice = reviewed.post(reviewed.path("/withdrawals/w1/approval"), {"approve": True})
    assert (twice.status, twice.body["status"]) == (200, "pending")  # a no-op
    assert payout_messages(aws_env) == []  # no second payout
    late_reject = reviewed.post(reviewed.path("/withdrawals/w1/approval"), {"approve": False, "reason": "no"})
    assert (late_reject.status, late_reject.error["code"]) == (409, "withdrawal_approved")
    assert balance("shop1", "m1") == {
        "frozen_fen": 0,
        "available_fen": 3_000,
        "withdrawing_fen": 2_000,
        "withdrawn_fen": 0,
    }
    assert_audit_clean()


def test_rejection_returns_the_money_once_with_its_reason(
    reviewed: ShopCaller, aws_env: dict[str, str]
) -> None:
    assert withdraw(reviewed, "m1", "w1", 2_000).body["status"] == "pending_review"
    no_reason = reviewed.post(reviewed.path("/withdrawals/w1/approval"), {"approve": False})
    assert (no_reason.status, no_reason.error["field"]) == (400, "reason")
    blank = reviewed.post(reviewed.path("/withdrawals/w1/approval"), {"approve": False, "reason": "  "})
    assert blank.status == 400
    assert balance("shop1", "m1")["withdrawing_fen"] == 2_000

    rejected = reviewed.post(
        reviewed.path("/withdrawals/w1/approval"), {"approve": False, "reason": "异常提现，请联系客服"}
    )
    assert rejected.status == 200
    assert (rejected.body["status"], rejected.body["reason"]) == ("rejected", "异常提现，请联系客服")
    again = reviewed.post(reviewed.path("/withdrawals/w1/approval"), {"approve": False, "reason": "again"})
    assert (again.status, again.body["reason"]) == (200, "异常提现，请联系客服")  # a no-op
    approve = reviewed.post(reviewed.path("/withdrawals/w1/approval"), {"approve": True})
    assert (approve.status, approve.error["code"]) == (409, "withdrawal_rejected")
    assert payout_messages(aws_env) == []
    assert balance("shop1", "m1") == {
        "frozen_fen": 0,
        "available_fen": 5_000,
        "withdrawing_fen": 0,
        "withdrawn_fen": 0,
    }
    assert [e.entry_key for e in entries("shop1", "m1", "WD#")] == ["WD#w1#RESERVE", "WD#w1#RETURN"]
    view = reviewed.get(reviewed.path("/members/m1/withdrawals/w1")).body
    assert (view["status"], view["reason"]) == ("rejected", "异常提现，请联系客服")
    assert_audit_clean()


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({}, "missing_field", "approve"),
        ({"approve": "yes"}, "invalid_field", "approve"),
        ({"approve": 1}, "invalid_field", "approve"),
        ({"approve": True, "reason": 5}, "invalid_field", "reason"),
        ({"approve": False, "reason": "x" * 201}, "invalid_field", "reason"),
        ({"approve": True, "note": "x"}, "unknown_field", "note"),
    ],
)
def test_malformed_decisions_are_400_and_change_nothing(
    reviewed: ShopCaller, aws_env: dict[str, str], body: dict[str, Any], code: str, field: str
) -> None:
    assert withdraw(reviewed, "m1", "w1", 2_000).body["status"] == "pending_review"
    answer = reviewed.post(reviewed.path("/withdrawals/w1/approval"), body)
    assert (answer.status, answer.error["code"], answer.error["field"]) == (400, code, field)
    assert reviewed.get(reviewed.path("/members/m1/withdrawals/w1")).body["status"] == "pending_review"


def test_deciding_an_unknown_withdrawal_is_404(reviewed: ShopCaller) -> None:
    answer = reviewed.post(reviewed.path("/withdrawals/nope/approval"), {"approve": True})
    assert (answer.status, answer.error["code"]) == (404, "withdrawal_not_found")
    bad = reviewed.post(reviewed.path("/withdrawals/n%23pe/approval"), {"approve": True})
    assert (bad.status, bad.error["field"]) == (400, "withdrawal_id")


# ---------------------------------------------------------------- the audit under live traffic


def test_the_audit_reads_again_when_a_movement_lands_between_its_two_reads(
    funded: ShopCaller, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fenxiao.service import audit

    original = audit.ledger_totals
    reads: list[str] = []

    def commission_lands_first_time(account: str) -> dict[str, int]:
        reads.append(account)
        if len(reads) == 1:  # between the member read and the ledger read: a commission is released
            give_available("shop1", "m1", 700, order_id="o-interleaved")
        return original(account)

    monkeypatch.setattr(audit, "ledger_totals", commission_lands_first_time)
    assert audit.audit_member("shop1", "m1") == []  # the first pair disagreed; the second agrees
    assert reads == ["shop1#m1", "shop1#m1"]
    assert balance("shop1", "m1")["available_fen"] == 5_700
    page = audit.run_page(clock.now(), None)
    assert page.details["differences"] == []


def test_the_audit_reports_a_difference_that_persists(
    funded: ShopCaller, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fenxiao.adapters.members import MemberModel
    from fenxiao.service import audit

    MemberModel("shop1#m1", MemberModel.SK).update(actions=[MemberModel.available_fen.add(1)])
    original = audit.ledger_totals
    reads: list[str] = []

    def counting(account: str) -> dict[str, int]:
        reads.append(account)
        return original(account)

    monkeypatch.setattr(audit, "ledger_totals", counting)
    assert audit.audit_member("shop1", "m1") == [
        {"shop_id": "shop1", "member_id": "m1", "field": "available_fen", "stored": 5_001, "ledger": 5_000}
    ]
    assert len(reads) == audit.READS == 3
