"""Withdrawal rules with no I/O: bill numbers, review threshold, transfer states, retry pacing, URL checks."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fenxiao.adapters.wechatpay_transfer import checked_base_url, query_path
from fenxiao.domain.withdrawals import (
    OUT_BILL_NO,
    PACING,
    moves_forward,
    needs_review,
    out_bill_no,
    status_of_state,
)

pytestmark = pytest.mark.unit

SALT = "arn:aws:cloudformation:ap-east-1:1:stack/fenxiao/1b2c3d4e-0000-0000-0000-000000000000"
IDS = st.from_regex(r"[A-Za-z0-9_.:\-]{1,64}", fullmatch=True)


@given(IDS, IDS)
def test_bill_numbers_are_valid_stable_and_per_shop(shop_id: str, withdrawal_id: str) -> None:
    number = out_bill_no(shop_id, withdrawal_id, SALT)
    assert OUT_BILL_NO.match(number)
    assert len(number) == 32 and number.startswith("FX")
    assert number == out_bill_no(shop_id, withdrawal_id, SALT)  # a retry names the same bill
    assert number != out_bill_no(shop_id + "x", withdrawal_id, SALT)


@given(IDS, IDS)
def test_another_stack_never_names_the_same_bill(shop_id: str, withdrawal_id: str) -> None:
    staging = "arn:aws:cloudformation:ap-east-1:1:stack/fenxiao-staging/5f1c0a9e-0000-0000-0000-000000000001"
    assert out_bill_no(shop_id, withdrawal_id, SALT) != out_bill_no(shop_id, withdrawal_id, staging)


def test_review_is_at_or_above_the_threshold_and_never_without_one() -> None:
    assert needs_review(1000, 1000)
    assert needs_review(1001, 1000)
    assert not needs_review(999, 1000)
    assert not needs_review(10**9, None)


@pytest.mark.parametrize(
    ("state", "status"),
    [
        ("ACCEPTED", "pending"),
        ("PROCESSING", "pending"),
        ("WAIT_USER_CONFIRM", "pending"),
        ("TRANSFERING", "pending"),
        ("SUCCESS", "succeeded"),
        ("FAIL", "failed"),
        ("CANCELLED", "failed"),
    ],
)
def test_transfer_states_map_to_withdrawal_statuses(state: str, status: str) -> None:
    assert status_of_state(state) == status


def test_states_only_move_forward() -> None:
    assert moves_forward(None, "ACCEPTED")
    assert moves_forward("ACCEPTED", "WAIT_USER_CONFIRM")
    assert moves_forward("WAIT_USER_CONFIRM", "SUCCESS")
    assert moves_forward("PROCESSING", "FAIL")
    assert not moves_forward("WAIT_USER_CONFIRM", "PROCESSING")  # a stale answer
    assert not moves_forward("ACCEPTED", "ACCEPTED")
    assert not moves_forward("SUCCESS", "FAIL")  # final is final
    assert not moves_forward("ACCEPTED", "SOMETHING_NEW")


def test_pacing_doubles_and_is_capped() -> None:
    assert [PACING.retry_after(n).total_seconds() for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert PACING.retry_after(50) == timedelta(hours=1)
    assert PACING.check_after(0) == timedelta(minutes=10)
    assert PACING.check_after(1) == timedelta(minutes=20)
    assert PACING.check_after(40) == timedelta(hours=6)


def test_urls_and_paths_are_checked() -> None:
    assert checked_base_url("https://api.mch.weixin.qq.com") == ("https://api.mch.weixin.qq.com", "")
    assert checked_base_url("http://127.0.0.1:8081/wx/") == ("http://127.0.0.1:8081", "/wx")
    for bad in ("ftp://x", "api.mch.weixin.qq.com", "https://h/?q=1", "https://"):
        with pytest.raises(ValueError):
            checked_base_url(bad)
    assert query_path("FXabc123") == "/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/FXabc123"
    for bad in ("abcd", "x" * 33, "../../v3/x", "FX12 34", "FX%2F1"):
        with pytest.raises(ValueError):
            query_path(bad)
