"""A queried bill is applied only if it is the withdrawal's: same number, amount, openid and appid (a bill of
another deployment on the same merchant, or a forged one, is recorded and alarmed, never paid or refunded)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from fenxiao.adapters.notifications import NotificationModel
from tests.support.app import Api, ShopCaller
from tests.support.money import assert_audit_clean, balance
from tests.support.payouts import PayoutRig, payout_rig

pytestmark = pytest.mark.integration


@pytest.fixture
def rig(
    api: Api, shop: ShopCaller, aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[PayoutRig]:
    with payout_rig(api, shop, aws_env, monkeypatch) as ready:
        yield ready


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    from fenxiao.service import payouts

    names: list[str] = []
    original = payouts.count
    monkeypatch.setattr(
        payouts, "count", lambda name, value=1, **kw: (names.append(name), original(name, value, **kw))
    )
    return names


@pytest.mark.parametrize(
    ("field", "value"), [("openid", "oSomeoneElse_0000000000000000"), ("appid", "wx0000000000000bad")]
)
def test_a_queried_bill_of_another_payee_or_app_is_recorded_never_applied(
    rig: PayoutRig, counted: list[str], field: str, value: str
) -> None:
    rig.desk.configure(notify="none")
    assert rig.withdraw("w1", 1_000).status == 202
    rig.work()
    bill = rig.bill("w1")
    assert bill is not None and rig.stored("w1").wx_state == "ACCEPTED"
    # The bill under this number pays someone else (or belongs to another mini-program), and it succeeded.
    setattr(bill, field, value)
    bill.state = "SUCCESS"
    rig.later(timedelta(minutes=11))
    assert rig.check() == 1
    assert rig.stored("w1").status == "pending"  # neither paid nor returned
    assert balance("shop1", "m1")["withdrawing_fen"] == 1_000
    assert balance("shop1", "m1")["withdrawn_fen"] == 0
    records = [n for n in NotificationModel.query("shop1") if n.outcome == "not_applied:bill_mismatch"]
    assert len(records) == 1
    assert records[0].summary["withdrawal_id"] == "w1"
    assert field in records[0].summary["reason"]
    assert "BillMismatch" in counted
    assert_audit_clean()


def test_a_matching_queried_bill_is_applied(rig: PayoutRig) -> None:
    rig.desk.configure(notify="none")
    assert rig.withdraw("w1", 1_000).status == 202
    rig.work()
    rig.later(timedelta(minutes=11))
    assert rig.check() == 1
    assert rig.view("w1")["status"] == "succeeded"
    assert not [n for n in NotificationModel.query("shop1") if n.outcome.startswith("not_applied")]


def test_the_stacks_salt_reaches_the_handlers_and_names_the_bills(
    rig: PayoutRig, aws_env: dict[str, str]
) -> None:
    from fenxiao.bootstrap import container
    from fenxiao.domain.withdrawals import out_bill_no

    salt = aws_env["FENXIAO_BILL_SALT"]  # set by the template (the stack's id), not by the tests
    assert salt.startswith("arn:aws:cloudformation:") and container().settings.bill_salt == salt
    assert rig.withdraw("w1", 1_000).status == 202
    rig.work()
    assert rig.stored("w1").out_bill_no == out_bill_no("shop1", "w1", salt)
    assert rig.stored("w1").out_bill_no != out_bill_no("shop1", "w1", salt + "-staging")
