"""Payouts through the WeChat Pay stand-in over real HTTP: signed requests, verified answers, notifications,
and every fault the stand-in can play. Never paid twice; on failure the money returns exactly once."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
import requests
import urllib3

from fenxiao import bootstrap, clock
from fenxiao.adapters import wechatpay_transfer
from fenxiao.adapters.wechatpay_crypto import build_authorization
from fenxiao.domain.withdrawals import out_bill_no
from fenxiao_local.wechatpay_keys import StandinKeys, private_key_pem
from tests.support import wechatpay as wx
from tests.support.app import Api, ShopCaller
from tests.support.money import assert_audit_clean, balance, entries
from tests.support.payouts import OPENID, PayoutRig, payout_rig

pytestmark = pytest.mark.integration


@pytest.fixture
def rig(
    api: Api, shop: ShopCaller, aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[PayoutRig]:
    with payout_rig(api, shop, aws_env, monkeypatch) as ready:
        yield ready


CREATE = "/v3/fund-app/mch-transfer/transfer-bills"


def money(withdrawing: int = 0, withdrawn: int = 0, available: int | None = None) -> dict[str, int]:
    return {
        "frozen_fen": 0,
        "available_fen": 10_000 - withdrawing - withdrawn if available is None else available,
        "withdrawing_fen": withdrawing,
        "withdrawn_fen": withdrawn,
    }


def bill_no(withdrawal_id: str) -> str:
    return out_bill_no("shop1", withdrawal_id, bootstrap.container().settings.bill_salt)


def ledger_steps(withdrawal_id: str) -> list[str]:
    return [e.entry_key.rsplit("#", 1)[1] for e in entries("shop1", "m1", f"WD#{withdrawal_id}#")]


def test_a_payout_succeeds_through_the_api_answer_and_the_notification(rig: PayoutRig) -> None:
    assert rig.withdraw("w1", 1_500).status == 202
    assert rig.work() == 1
    view = rig.view("w1")
    assert (view["status"], view["reason"], view["package_info"]) == ("succeeded", None, None)
    assert balance("shop1", "m1") == money(withdrawn=1_500)
    bill = rig.bill("w1")
    assert bill is not None
    assert (bill.requests, bill.state, bill.amount, bill.openid) == (1, "SUCCESS", 1_500, OPENID)
    assert bill.out_bill_no == bill_no("w1")
    assert bill.notify_url == "https://fenxiao.test/Prod/wechatpay/notify/shop1"
    assert (bill.scene_id, bill.remark) == ("1005", "分销佣金提现")
    assert bill.notifications == [204]
    stored = rig.stored("w1")
    assert (stored.wx_state, stored.transfer_bill_no, stored.check_at) == (
        "SUCCESS",
        bill.transfer_bill_no,
        None,
    )
    assert ledger_steps("w1") == ["PAID", "RESERVE"]
    rig.work()  # a stray nudge afterwards: nothing
    assert rig.paid_to() == 1_500
    assert_audit_clean()


def test_the_shops_transfer_fields_are_sent(rig: PayoutRig) -> None:
    settings = {
        "settlement": {
            "transfer_scene_id": "1005",
            "transfer_remark": "佣金提现",
            "transfer_scene_report_infos": [
                {"info_type": "岗位类型", "info_content": "分销推广员"},
                {"info_type": "报酬说明", "info_content": "11月分销佣金"},
            ],
        }
    }
    assert rig.shop.put(rig.shop.path("/settings/distribution"), settings).status == 200
    rig.desk.configure(notify="none")
    captured: list[bytes] = []
    create = rig.desk._create

    def spy(request):  # type: ignore[no-untyped-def]
        captured.append(request.body)
        return create(request)

    for route in rig.standin.routes:
        if route.method == "POST" and route.pattern.match(CREATE):
            route.handler = spy
    assert rig.withdraw("w1", 900).status == 202
    rig.work()
    sent = json.loads(captured[0])
    assert sent == {
        "appid": wx.APPID,
        "out_bill_no": bill_no("w1"),
        "transfer_scene_id": "1005",
        "openid": OPENID,
        "transfer_amount": 900,
        "transfer_remark": "佣金提现",
        "notify_url": "https://fenxiao.test/Prod/wechatpay/notify/shop1",
        "transfer_scene_report_infos": [
            {"info_type": "岗位类型", "info_content": "分销推广员"},
            {"info_type": "报酬说明", "info_content": "11月分销佣金"},
        ],
    }


def test_a_refused_transfer_fails_and_returns_the_money_once(rig: PayoutRig) -> None:
    from fenxiao.bootstrap import container
    from fenxiao.service.withdrawals import nudge_payout

    rig.desk.configure(
        create="reject", reject_status=403, reject_code="NO_AUTH", reject_message="商户号无权限"
    )
    assert rig.withdraw("w1", 2_000).status == 202
    rig.work()
    # Refused, and no bill right after: not proof yet (another create may be on its way), so the money
    # stays withdrawing until a query made REFUSAL_SETTLE after the last create still finds nothing.
    stored = rig.stored("w1")
    assert (stored.status, stored.refusal, stored.attempts) == ("pending", "NO_AUTH: 商户号无权限", 1)
    assert balance("shop1", "m1") == money(withdrawing=2_000)
    rig.later(timedelta(seconds=10))
    assert rig.check() == 0  # not due yet
    nudge_payout(container(), "shop1", "w1")  # a duplicate nudge, early: queries, neither fails nor sends
    rig.work()
    assert rig.stored("w1").status == "pending"
    assert balance("shop1", "m1") == money(withdrawing=2_000)
    assert rig.bill("w1") is None
    rig.later(timedelta(seconds=21))
    assert rig.check() == 1
    view = rig.view("w1")
    assert (view["status"], view["reason"]) == ("failed", "NO_AUTH: 商户号无权限")
    assert balance("shop1", "m1") == money()
    assert rig.bill("w1") is None  # WeChat Pay never had a bill
    # Nudges keep coming (duplicates, the reconciler): nothing moves again.
    nudge_payout(container(), "shop1", "w1")
    nudge_payout(container(), "shop1", "w1")
    rig.work()
    rig.later(timedelta(hours=2))
    assert rig.check() == 0
    assert ledger_steps("w1") == ["RESERVE", "RETURN"]
    assert balance("shop1", "m1") == money()
    assert_audit_clean()


def test_a_refusal_while_another_create_for_the_bill_is_on_its_way_returns_no_money(rig: PayoutRig) -> None:
    """Worker A's create is refused and A's query finds no bill, but meanwhile worker B (a duplicate nudge)
    has sent a create that WeChat Pay accepts: the money must not come back while that bill pays."""
    from fenxiao.bootstrap import container
    from fenxiao.service import payouts

    rig.desk.configure(create="reject", faults=1, reject_code="PARAM_ERROR", notify="none")
    query = rig.desk._query
    raced: list[bool] = []

    def query_then_race(request):  # type: ignore[no-untyped-def]
        answer = query(request)  # A's query after the refusal: NOT_FOUND
        if not raced:
            raced.append(True)
            payouts.advance(container(), "shop1", "w1", clock.now())  # B: queries, creates, is accepted
        return answer

    for route in rig.standin.routes:
        if route.method == "GET" and route.pattern.match(f"{CREATE}/out-bill-no/{bill_no('w1')}"):
            route.handler = query_then_race
    assert rig.withdraw("w1", 2_000).status == 202
    rig.work()
    assert raced == [True]
    stored = rig.stored("w1")
    assert (stored.status, stored.wx_state, stored.refusal, stored.attempts) == (
        "pending",
        "ACCEPTED",
        None,
        2,
    )
    assert balance("shop1", "m1") == money(withdrawing=2_000)
    rig.later(timedelta(minutes=11))
    rig.check()
    assert rig.view("w1")["status"] == "succeeded"
    bill = rig.bill("w1")
    assert bill is not None and bill.state == "SUCCESS" and bill.requests == 1
    assert ledger_steps("w1") == ["PAID", "RESERVE"]
    assert balance("shop1", "m1") == money(withdrawn=2_000)
    assert_audit_clean()


def test_a_success_after_the_money_was_returned_is_recorded_for_the_operator(
    rig: PayoutRig, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fenxiao.adapters.notifications import NotificationModel
    from fenxiao.bootstrap import container
    from fenxiao.service import payouts
    from fenxiao.service.shops import load_shop

    counted: list[str] = []
    original_count = payouts.count
    monkeypatch.setattr(
        payouts,
        "count",
        lambda name, value=1, **kw: (counted.append(name), original_count(name, value, **kw)),
    )
    rig.desk.configure(create="reject", faults=1, reject_code="PARAM_ERROR", reject_message="参数错误")
    assert rig.withdraw("w1", 2_000).status == 202
    rig.work()
    rig.later(timedelta(seconds=31))
    rig.check()
    assert rig.view("w1")["status"] == "failed"
    assert balance("shop1", "m1") == money()
    # A create for the bill lands after all (say, sent by hand with the merchant's key): WeChat Pay pays
    # it and notifies SUCCESS for a withdrawal whose money is back to available.
    request = payouts.transfer_request(container(), load_shop("shop1"), rig.stored("w1"))
    assert payouts._client(container(), load_shop("shop1")).create_bill(request)["state"] == "ACCEPTED"
    rig.desk.wait_idle()
    assert rig.paid_to() == 2_000
    assert rig.view("w1")["status"] == "failed"  # nothing applied: the money already moved
    assert balance("shop1", "m1") == money()
    records = [n for n in NotificationModel.query("shop1") if n.outcome == "not_applied:after_final"]
    assert len(records) == 1
    assert records[0].event_type == "MCHTRANSFER.BILL.FINISHED"
    assert records[0].summary["withdrawal_id"] == "w1"
    assert records[0].summary["state"] == "SUCCESS"
    assert records[0].summary["withdrawal_status"] == "failed"
    assert "PayoutAfterFinal" in counted
    # The same news from a bill query (a stray nudge is ignored; apply_bill is told directly) is recorded too.
    payouts.apply_bill("shop1", "w1", {"out_bill_no": bill_no("w1"), "state": "SUCCESS"}, clock.now())
    outcomes = [n.outcome for n in NotificationModel.query("shop1")]
    assert outcomes.count("not_applied:after_final") == 2
    assert ledger_steps("w1") == ["RESERVE", "RETURN"]
    assert_audit_clean()


def test_a_500_without_a_bill_is_retried_on_the_same_bill_number(rig: PayoutRig) -> None:
    rig.desk.configure(create="error_500", faults=1)
    assert rig.withdraw("w1", 3_000).status == 202
    rig.work()
    stored = rig.stored("w1")
    assert (stored.status, stored.attempts, stored.wx_state) == ("pending", 1, None)
    assert rig.bill("w1") is None
    assert balance("shop1", "m1") == money(withdrawing=3_000)

    assert rig.check() == 0  # the backoff has not passed yet
    rig.later(timedelta(seconds=31))
    assert rig.check() == 1  # query: no bill -> the same request again
    assert rig.view("w1")["status"] == "succeeded"
    bill = rig.bill("w1")
    assert bill is not None and bill.requests == 1
    assert rig.paid_to() == 3_000
    assert balance("shop1", "m1") == money(withdrawn=3_000)
    assert_audit_clean()


def test_a_500_that_hid_a_created_bill_is_found_by_querying_not_paid_again(rig: PayoutRig) -> None:
    rig.desk.configure(create="error_500", faults=1, create_bill_on_fault=True, notify="none")
    assert rig.withdraw("w1", 3_000).status == 202
    rig.work()
    assert rig.stored("w1").status == "pending"
    rig.later(timedelta(seconds=31))
    assert rig.check() == 1
    assert rig.view("w1")["status"] == "succeeded"
    bill = rig.bill("w1")
    assert bill is not None and bill.requests == 1  # queried first: never a second create request
    assert rig.paid_to() == 3_000
    assert balance("shop1", "m1") == money(withdrawn=3_000)
    assert_audit_clean()


@pytest.mark.parametrize("bill_created", [False, True])
def test_a_timeout_is_retried_and_never_pays_twice(
    rig: PayoutRig, monkeypatch: pytest.MonkeyPatch, bill_created: bool
) -> None:
    monkeypatch.setattr(wechatpay_transfer, "READ_TIMEOUT_SECONDS", 0.3)
    bootstrap.container().transfer_clients.clear()
    rig.desk.configure(
        create="timeout", timeout_seconds=20.0, create_bill_on_fault=bill_created, notify="none"
    )
    assert rig.withdraw("w1", 2_500).status == 202
    started = time.monotonic()
    rig.work()
    assert time.monotonic() - started < 15.0  # the 0.3 s read timeout cut the 20 s wait short
    assert rig.stored("w1").status == "pending"
    rig.later(timedelta(seconds=31))
    rig.check()  # finds the hidden bill (already final), or sends the request again (ACCEPTED)
    if not bill_created:
        assert rig.stored("w1").wx_state == "ACCEPTED"
        rig.later(timedelta(minutes=11))
        rig.check()  # no notification was sent: the query after a while tells
    assert rig.view("w1")["status"] == "succeeded"
    bill = rig.bill("w1")
    assert bill is not None
    assert bill.requests == 1
    assert rig.paid_to() == 2_500
    assert balance("shop1", "m1") == money(withdrawn=2_500)
    assert_audit_clean()


def test_a_duplicated_notification_moves_the_money_once(rig: PayoutRig) -> None:
    rig.desk.configure(notify="duplicate")
    assert rig.withdraw("w1", 1_000).status == 202
    rig.work()
    bill = rig.bill("w1")
    assert bill is not None and bill.notifications == [204, 204]
    assert rig.view("w1")["status"] == "succeeded"
    assert ledger_steps("w1") == ["PAID", "RESERVE"]
    assert balance("shop1", "m1") == money(withdrawn=1_000)
    assert_audit_clean()


def test_a_notification_before_the_api_answer_is_not_undone_by_the_answer(rig: PayoutRig) -> None:
    rig.desk.configure(notify="before_answer")
    assert rig.withdraw("w1", 1_000).status == 202
    rig.work()
    stored = rig.stored("w1")
    assert (stored.status, stored.wx_state, stored.check_at) == ("succeeded", "SUCCESS", None)
    assert balance("shop1", "m1") == money(withdrawn=1_000)
    assert ledger_steps("w1") == ["PAID", "RESERVE"]
    assert_audit_clean()


def test_a_failed_transfer_returns_the_money_once_even_when_notified_twice(rig: PayoutRig) -> None:
    rig.desk.configure(outcome="FAIL", fail_reason="PAYEE_ACCOUNT_ABNORMAL", notify="duplicate")
    assert rig.withdraw("w1", 4_000).status == 202
    rig.work()
    view = rig.view("w1")
    assert (view["status"], view["reason"]) == ("failed", "PAYEE_ACCOUNT_ABNORMAL")
    assert ledger_steps("w1") == ["RESERVE", "RETURN"]
    assert balance("shop1", "m1") == money()
    rig.later(timedelta(hours=1))
    rig.check()
    assert balance("shop1", "m1") == money()
    assert_audit_clean()


def test_waiting_for_the_member_shows_package_info_until_they_confirm(rig: PayoutRig) -> None:
    rig.desk.configure(outcome="WAIT_USER_CONFIRM")
    assert rig.withdraw("w1", 1_000).status == 202
    assert rig.withdraw("w2", 2_000).status == 202
    rig.work()
    waiting = rig.view("w1")
    assert waiting["status"] == "pending"
    bill = rig.bill("w1")
    assert bill is not None and waiting["package_info"] == bill.package_info
    assert waiting["package_info"]

    rig.desk.confirm(bill_no("w1"), accept=True)
    accepted = rig.view("w1")
    assert (accepted["status"], accepted["package_info"]) == ("succeeded", None)
    rig.desk.confirm(bill_no("w2"), accept=False)
    declined = rig.view("w2")
    assert (declined["status"], declined["reason"], declined["package_info"]) == (
        "failed",
        "CANCELLED_BY_USER",
        None,
    )
    assert balance("shop1", "m1") == money(withdrawn=1_000)
    assert_audit_clean()


def test_package_info_lost_with_the_create_answer_is_fetched_by_repeating_the_request(
    rig: PayoutRig, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fenxiao.bootstrap import container
    from fenxiao.service import payouts
    from fenxiao.service.shops import load_shop

    monkeypatch.setattr(wechatpay_transfer, "READ_TIMEOUT_SECONDS", 0.3)
    bootstrap.container().transfer_clients.clear()
    rig.desk.configure(
        create="timeout", timeout_seconds=2.0, create_bill_on_fault=True, outcome="WAIT_USER_CONFIRM"
    )
    assert rig.withdraw("w1", 1_000).status == 202
    rig.work()  # the bill was created, the answer (with package_info) lost
    assert (rig.stored("w1").status, rig.stored("w1").wx_state) == ("pending", None)
    bill = rig.bill("w1")
    assert bill is not None and bill.state == "WAIT_USER_CONFIRM" and bill.package_info
    # As WeChat Pay's 商户单号查询转账单, the stand-in's bill query does not carry package_info.
    queried = payouts._client(container(), load_shop("shop1")).query_bill(bill.out_bill_no)
    assert queried is not None and queried["state"] == "WAIT_USER_CONFIRM" and "package_info" not in queried
    rig.later(timedelta(seconds=31))
    rig.check()  # query: waiting, no package_info -> the identical create again, answered with it
    view = rig.view("w1")
    assert (view["status"], view["package_info"]) == ("pending", bill.package_info)
    assert bill.requests == 2  # one bill; the repeat named it again
    assert len(rig.desk.bills) == 1
    rig.desk.confirm(bill.out_bill_no, accept=True)
    assert rig.view("w1")["status"] == "succeeded"
    assert balance("shop1", "m1") == money(withdrawn=1_000)
    assert_audit_clean()


def test_a_changed_merchant_never_gets_a_second_bill(rig: PayoutRig, monkeypatch: pytest.MonkeyPatch) -> None:
    from fenxiao.service import payouts

    counted: list[str] = []
    original_count = payouts.count
    monkeypatch.setattr(
        payouts,
        "count",
        lambda name, value=1, **kw: (counted.append(name), original_count(name, value, **kw)),
    )
    rig.desk.configure(create="error_500", faults=1, create_bill_on_fault=True, notify="none")
    assert rig.withdraw("w1", 3_000).status == 202
    stored = rig.stored("w1")
    assert (stored.mchid, stored.appid) == (wx.MCHID, wx.APPID)  # pinned at request time
    rig.work()  # the bill exists at the shop's merchant; the answer was lost
    other = {**wx.wechatpay_settings(), "mchid": "1999999999"}
    assert rig.shop.put(rig.shop.path("/settings/wechatpay"), other).status == 200
    bootstrap.container().transfer_clients.clear()
    rig.later(timedelta(seconds=31))
    assert rig.check() == 1
    # Nothing was sent to the new merchant: a query there says NOT_FOUND and a create would be a 2nd bill.
    assert [(mchid, b.requests) for (mchid, _), b in rig.desk.bills.items()] == [(wx.MCHID, 1)]
    stored = rig.stored("w1")
    assert (stored.status, stored.wx_state) == ("pending", None)
    assert balance("shop1", "m1") == money(withdrawing=3_000)
    assert "PayoutMerchantChanged" in counted
    # The operator restores the merchant: the bill is found (queried first) and applied, once.
    assert rig.shop.put(rig.shop.path("/settings/wechatpay"), wx.wechatpay_settings()).status == 200
    bootstrap.container().transfer_clients.clear()
    rig.later(timedelta(minutes=2))
    rig.check()
    assert rig.view("w1")["status"] == "succeeded"
    assert len(rig.desk.bills) == 1 and rig.bill("w1").requests == 1  # type: ignore[union-attr]
    assert balance("shop1", "m1") == money(withdrawn=3_000)
    assert_audit_clean()


def test_without_news_the_reconciler_queries_the_bill(rig: PayoutRig) -> None:
    rig.desk.configure(notify="none")
    assert rig.withdraw("w1", 1_000).status == 202
    rig.work()
    stored = rig.stored("w1")
    assert (stored.status, stored.wx_state) == ("pending", "ACCEPTED")
    assert balance("shop1", "m1") == money(withdrawing=1_000)

    rig.later(timedelta(minutes=5))
    assert rig.check() == 0  # not yet "a while"
    rig.desk.configure(query="error_500")
    rig.later(timedelta(minutes=6))
    assert rig.check() == 1  # the query fails: looked at again later
    assert rig.stored("w1").status == "pending"
    rig.desk.configure(query="normal")
    rig.later(timedelta(minutes=2))
    assert rig.check() == 1
    assert rig.view("w1")["status"] == "succeeded"
    assert balance("shop1", "m1") == money(withdrawn=1_000)
    rig.later(timedelta(days=1))
    assert rig.check() == 0  # final: out of the PayoutChecks index
    assert_audit_clean()


def test_requests_the_stand_in_cannot_verify_never_fail_the_withdrawal(rig: PayoutRig) -> None:
    wrong = StandinKeys.generate()
    settings = {
        **wx.wechatpay_settings(),
        "merchant_private_key_pem": private_key_pem(wrong.merchant_private_key),
    }
    assert rig.shop.put(rig.shop.path("/settings/wechatpay"), settings).status == 200
    bootstrap.container().transfer_clients.clear()
    assert rig.withdraw("w1", 1_000).status == 202
    # A new merchant key holds new withdrawals for review (SPEC §10): the shop approves this one.
    assert rig.shop.post(rig.shop.path("/withdrawals/w1/approval"), {"approve": True}).status == 200
    rig.work()
    # 401 SIGN_ERROR to the request and to the query: the outcome is unknown, so the money stays reserved.
    assert rig.stored("w1").status == "pending"
    assert balance("shop1", "m1") == money(withdrawing=1_000)
    assert rig.bill("w1") is None

    # The rig's first settings again: signed in a later second, it is not a replay (SPEC §10).
    clock.set_now(clock.now() + timedelta(seconds=1))
    assert rig.shop.put(rig.shop.path("/settings/wechatpay"), wx.wechatpay_settings()).status == 200
    bootstrap.container().transfer_clients.clear()
    rig.later(timedelta(minutes=2))
    rig.check()
    assert rig.view("w1")["status"] == "succeeded"
    assert balance("shop1", "m1") == money(withdrawn=1_000)
    assert_audit_clean()


def test_answers_that_do_not_verify_are_not_trusted(rig: PayoutRig) -> None:
    k = wx.keys()
    certificate_only = {
        **wx.wechatpay_settings(),
        "platform_public_keys": [{"serial": k.certificate_serial, "pem": k.platform_certificate_pem()}],
    }
    assert rig.shop.put(rig.shop.path("/settings/wechatpay"), certificate_only).status == 200
    bootstrap.container().transfer_clients.clear()
    rig.desk.configure(notify="none")
    assert rig.withdraw("w1", 1_000).status == 202
    rig.work()  # the stand-in signs with its public key id, which this shop does not trust
    stored = rig.stored("w1")
    assert (stored.status, stored.wx_state) == ("pending", None)
    rig.later(timedelta(minutes=2))
    rig.check()
    bill = rig.bill("w1")
    assert bill is not None and bill.requests == 1  # the retry queried; it never created a second bill
    assert rig.stored("w1").status == "pending"
    assert balance("shop1", "m1") == money(withdrawing=1_000)
    assert_audit_clean()


def test_many_withdrawals_with_faults_pay_each_exactly_once(rig: PayoutRig) -> None:
    rig.desk.configure(create="error_500", faults=3, create_bill_on_fault=True)
    for i in range(6):
        assert rig.withdraw(f"w{i}", 500 + i).status == 202
    rig.work()
    for _ in range(3):
        rig.later(timedelta(minutes=2))
        rig.check()
    statuses = {rig.view(f"w{i}")["status"] for i in range(6)}
    assert statuses == {"succeeded"}
    assert all(b.requests == 1 for b in rig.desk.bills.values())
    assert rig.paid_to() == sum(500 + i for i in range(6))
    assert balance("shop1", "m1") == money(withdrawn=sum(500 + i for i in range(6)))
    assert_audit_clean()


# ---------------------------------------------------------------- the stand-in itself


def test_the_stand_in_rejects_bad_signatures_with_wechat_pays_error_shape(rig: PayoutRig) -> None:
    clock.reset()
    k = wx.keys()
    body = json.dumps({"appid": wx.APPID, "out_bill_no": "FX0123456789"}).encode()
    http = urllib3.PoolManager()
    unsigned = http.request(
        "POST", rig.standin.url + CREATE, body=body, headers={"Content-Type": "application/json"}
    )
    assert unsigned.status == 401
    assert json.loads(unsigned.data)["code"] == "SIGN_ERROR"
    assert set(json.loads(unsigned.data)) == {"code", "message"}

    other = StandinKeys.generate()
    forged = build_authorization(
        "POST", CREATE, body, wx.MCHID, k.merchant_serial, other.merchant_private_key, int(time.time()), "n1"
    )
    answer = http.request("POST", rig.standin.url + CREATE, body=body, headers={"Authorization": forged})
    assert answer.status == 401
    # Signed over other bytes than those sent: rejected as well.
    signed = build_authorization(
        "POST",
        CREATE,
        body + b" ",
        wx.MCHID,
        k.merchant_serial,
        k.merchant_private_key,
        int(time.time()),
        "n2",
    )
    assert (
        http.request("POST", rig.standin.url + CREATE, body=body, headers={"Authorization": signed}).status
        == 401
    )


def test_an_independent_client_the_wechatpayv3_sdk_is_served_and_verifies_the_answers(rig: PayoutRig) -> None:
    from wechatpayv3.core import Core
    from wechatpayv3.type import RequestType

    clock.reset()  # the SDK signs with the real time
    k = wx.keys()
    core = Core(
        mchid=wx.MCHID,
        cert_serial_no=k.merchant_serial,
        private_key=k.merchant_private_key_pem(),
        apiv3_key=k.apiv3_key,
        public_key=k.platform_public_key_pem(),
        public_key_id=k.platform_public_key_id,
    )
    core._gate_way = rig.standin.url
    request = {
        "appid": wx.APPID,
        "out_bill_no": "SDK0000000001",
        "transfer_scene_id": "1005",
        "openid": OPENID,
        "transfer_amount": 100,
        "transfer_remark": "sdk",
    }
    rig.desk.configure(notify="none")
    status, text = core.request(CREATE, method=RequestType.POST, data=request)  # verifies the answer
    assert status == 200
    assert json.loads(text)["state"] == "ACCEPTED"
    status, text = core.request(f"{CREATE}/out-bill-no/SDK0000000001")
    assert status == 200
    assert json.loads(text)["transfer_amount"] == 100
    missing = requests.get(rig.standin.url + f"{CREATE}/out-bill-no/NOPE00000", timeout=5)
    assert missing.status_code == 401  # unsigned
    status, text = core.request(f"{CREATE}/out-bill-no/NOPE00000")
    assert status == 404 and json.loads(text)["code"] == "NOT_FOUND"


def test_the_stand_in_repeats_a_bill_only_for_the_identical_request(rig: PayoutRig) -> None:
    from fenxiao.adapters.wechatpay_transfer import TransferRejected
    from fenxiao.bootstrap import container
    from fenxiao.service import payouts
    from fenxiao.service.shops import load_shop

    rig.desk.configure(notify="none", outcome="WAIT_USER_CONFIRM")
    client = payouts._client(container(), load_shop("shop1"))
    request = {
        "appid": wx.APPID,
        "out_bill_no": "DEDUP000000001",
        "transfer_scene_id": "1005",
        "openid": OPENID,
        "transfer_amount": 100,
        "transfer_remark": "佣金",
        "notify_url": "https://fenxiao.test/Prod/wechatpay/notify/shop1",
        "transfer_scene_report_infos": [{"info_type": "岗位类型", "info_content": "分销推广员"}],
    }
    first = client.create_bill(request)
    assert first["state"] == "WAIT_USER_CONFIRM" and first["package_info"]
    # notify_url may differ on a retry; the repeat answers the bill as it stands, package_info included
    again = client.create_bill({**request, "notify_url": "https://elsewhere.test/notify"})
    assert (again["transfer_bill_no"], again["package_info"]) == (
        first["transfer_bill_no"],
        first["package_info"],
    )
    for changed in (
        {"transfer_remark": "别的备注"},
        {"transfer_scene_id": "1000"},
        {"transfer_scene_report_infos": [{"info_type": "岗位类型", "info_content": "别的"}]},
        {"transfer_amount": 101},
    ):
        with pytest.raises(TransferRejected) as refused:
            client.create_bill({**request, **changed})
        assert (refused.value.status, refused.value.code) == (400, "INVALID_REQUEST")
    [bill] = rig.desk.bills.values()
    assert bill.requests == 2
    listed = requests.get(rig.standin.url + "/standin/payouts/bills", timeout=5).json()["bills"]
    assert listed[0]["package_info"] == first["package_info"]  # the control view shows it; the query does not
