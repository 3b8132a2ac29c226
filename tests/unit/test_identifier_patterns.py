"""Identifier and bill-number checks match the whole value: `re.match` with `$` lets a trailing newline through
(`$` also matches before a final "\\n"), so a number "abc12\\n" would pass as a bill number."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("tail", ["\n", "\r\n", " ", "!"])
def test_a_bill_number_with_anything_after_it_is_refused(tail: str) -> None:
    from fenxiao.adapters.wechatpay_transfer import query_path
    from fenxiao.domain.withdrawals import OUT_BILL_NO

    assert OUT_BILL_NO.fullmatch("abc12")
    assert OUT_BILL_NO.match("abc12")
    assert not OUT_BILL_NO.match("abc12" + tail)  # however a caller applies it
    assert not OUT_BILL_NO.fullmatch("abc12" + tail)
    assert query_path("abc12").endswith("/abc12")
    with pytest.raises(ValueError, match="out_bill_no"):
        query_path("abc12" + tail)


def test_a_transfer_bill_with_a_trailing_newline_is_not_sent() -> None:
    from fenxiao.adapters.wechatpay_transfer import TransferClient

    client = object.__new__(TransferClient)  # the check runs before any configuration or I/O is used
    with pytest.raises(ValueError, match="out_bill_no"):
        client.create_bill({"out_bill_no": "abc12\n"})


def test_a_platform_key_pem_is_matched_whole() -> None:
    from pydantic import ValidationError

    from fenxiao.schemas.settings import PlatformPublicKey

    pem = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"
    assert PlatformPublicKey(serial="k1", pem=pem).pem == pem
    for bad in (pem + "trailing", "x" + pem, pem.replace("AAAA", "AA AA")):
        with pytest.raises(ValidationError):
            PlatformPublicKey(serial="k1", pem=bad)
