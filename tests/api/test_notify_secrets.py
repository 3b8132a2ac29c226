"""The notification endpoint decrypts the APIv3 key alone: the API function's KMS grant does not cover the
merchant private key (template.yaml), so a notification must verify with a KMS that refuses that purpose."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from fenxiao import bootstrap, clock
from fenxiao.adapters.secrets import SecretBox
from fenxiao.service.settings import APIV3_PURPOSE, MERCHANT_KEY_PURPOSE
from tests.support import wechatpay as wx
from tests.support.app import Api, ShopCaller
from tests.support.orders import order_body

pytestmark = pytest.mark.api

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


class KmsWithoutMerchantKey:
    """The real (moto) KMS client, refusing a Decrypt under the merchant-key purpose as KMS does when the
    caller's policy condition does not allow it."""

    def __init__(self, kms: Any) -> None:
        self._kms = kms
        self.decrypted: list[str] = []

    def encrypt(self, **kwargs: Any) -> Any:
        return self._kms.encrypt(**kwargs)

    def decrypt(self, **kwargs: Any) -> Any:
        purpose = kwargs["EncryptionContext"]["purpose"]
        if purpose == MERCHANT_KEY_PURPOSE:
            error = {"Code": "AccessDeniedException", "Message": f"kms:Decrypt not allowed for {purpose}"}
            raise ClientError({"Error": error}, "Decrypt")
        self.decrypted.append(purpose)
        return self._kms.decrypt(**kwargs)


def test_a_notification_verifies_without_the_merchant_key(
    api: Api, shop: ShopCaller, aws_env: dict[str, str]
) -> None:
    clock.set_now(T0 - timedelta(hours=1))
    assert shop.put(shop.path("/settings/wechatpay"), wx.wechatpay_settings()).status == 200
    assert shop.put(shop.path("/orders/o1"), order_body("c", [("l1", "p1", 100)])).status == 201
    clock.set_now(T0 + timedelta(minutes=1))
    c = bootstrap.container()
    kms = KmsWithoutMerchantKey(c.kms)
    c.secrets = SecretBox(kms, c.settings.kms_key_id)  # type: ignore[misc]  # the container's cached client
    c.notify_keys.clear()
    headers, body = wx.notification(
        "TRANSACTION.SUCCESS", wx.transaction("o1", 100, T0), timestamp=int(clock.unix_now())
    )
    status, answer = wx.post(api, "shop1", headers, body)
    assert status == 204, answer
    assert kms.decrypted == [APIV3_PURPOSE]
    assert wx.drain(aws_env) >= 1
    assert shop.get(shop.path("/orders/o1")).body["status"] == "paid"
