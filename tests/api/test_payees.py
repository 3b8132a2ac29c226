"""Payee pinning (SPEC §10): the first withdrawal pins the member's openid; another openid waits for review."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from fenxiao.adapters.members import load_payee
from tests.support import wechatpay as wx
from tests.support.app import ShopCaller
from tests.support.money import assert_audit_clean, balance
from tests.support.payouts import funded_shop

pytestmark = pytest.mark.api

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
ATTACKER = "oAttacker_000000000000000000"


@pytest.fixture
def funded(shop: ShopCaller) -> ShopCaller:
    return funded_shop(shop, T0)


def withdraw(shop: ShopCaller, withdrawal_id: str, amount: int, openid: str) -> Any:
    body = {"withdrawal_id": withdrawal_id, "amount_fen": amount, "openid": openid}
    return shop.post(shop.path("/members/m1/withdrawals"), body)


def pinned(appid: str = wx.APPID) -> str | None:
    pin = load_payee("shop1", "m1", appid)
    return pin.openid if pin is not None else None


def test_the_first_withdrawal_pins_the_openid_and_another_one_waits_for_review(funded: ShopCaller) -> None:
    first = withdraw(funded, "w1", 100, OPENID)
    assert (first.status, first.body["status"], first.body["reason"]) == (202, "pending", None)
    assert pinned() == OPENID
    same = withdraw(funded, "w2", 100, OPENID)
    assert same.body["status"] == "pending"

    # A small amount, far below any threshold (none is set): still waits, with the reason.
    other = withdraw(funded, "w3", 100, ATTACKER)
    assert (other.status, other.body["status"], other.body["reason"]) == (
        202,
        "pending_review",
        "payee_changed",
    )
    queue = funded.get(funded.path("/withdrawals?status=pending_review")).body["entries"]
    assert [(e["withdrawal_id"], e["reason"]) for e in queue] == [("w3", "payee_changed")]
    assert pinned() == OPENID  # waiting moves nothing
    assert balance("shop1", "m1")["withdrawing_fen"] == 300


def test_rejecting_keeps_the_old_pin(funded: ShopCaller) -> None:
    assert withdraw(funded, "w1", 100, OPENID).status == 202
    assert withdraw(funded, "w2", 200, ATTACKER).body["status"] == "pending_review"
    rejected = funded.post(
        funded.path("/withdrawals/w2/approval"), {"approve": False, "reason": "not theirs"}
    )
    assert (rejected.status, rejected.body["status"], rejected.body["reason"]) == (
        200,
        "rejected",
        "not theirs",
    )
    assert pinned() == OPENID
    assert withdraw(funded, "w3", 100, ATTACKER).body["status"] == "pending_review"  # still another openid
    assert balance("shop1", "m1")["available_fen"] == 5_000 - 100 - 100
    assert_audit_clean()


def test_approving_pins_the_new_openid(funded: ShopCaller) -> None:
    assert withdraw(funded, "w1", 100, OPENID).status == 202
    assert withdraw(funded, "w2", 200, "oNewPhone_000000000000000000").body["status"] == "pending_review"
    approved = funded.post(funded.path("/withdrawals/w2/approval"), {"approve": True})
    assert (approved.status, approved.body["status"], approved.body["reason"]) == (200, "pending", None)
    assert pinned() == "oNewPhone_000000000000000000"
    assert withdraw(funded, "w3", 100, "oNewPhone_000000000000000000").body["status"] == "pending"
    assert withdraw(funded, "w4", 100, OPENID).body["status"] == "pending_review"  # the old one is now other


def test_the_pin_belongs_to_the_shops_appid(funded: ShopCaller) -> None:
    assert withdraw(funded, "w1", 100, OPENID).status == 202
    other_app = wx.wechatpay_settings()
    other_app["appid"] = "wx00000000000000ff"
    assert funded.put(funded.path("/settings/wechatpay"), other_app).status == 200
    # Another mini-program's openids are another namespace; this first one is held (the appid just changed)
    # and pins only when the shop approves it.
    held = withdraw(funded, "w2", 100, "oOtherApp_000000000000000000")
    assert (held.body["status"], held.body["reason"]) == ("pending_review", "merchant_changed")
    assert pinned("wx00000000000000ff") is None
    assert funded.post(funded.path("/withdrawals/w2/approval"), {"approve": True}).status == 200
    assert pinned("wx00000000000000ff") == "oOtherApp_000000000000000000"
    assert pinned() == OPENID
