"""The platform keys a notification is verified with follow the shop's WeChat Pay settings: a PUT that
replaces them takes effect at once in the container that served it, and bootstrap.reset() forgets them."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest

from fenxiao import bootstrap, clock
from fenxiao.adapters.shops import PlatformKeyMap, ShopModel
from fenxiao.adapters.wechatpay_crypto import notification_headers
from fenxiao_local.wechatpay_keys import StandinKeys
from tests.support import wechatpay as wx
from tests.support.app import Api, ShopCaller
from tests.support.orders import order_body

pytestmark = pytest.mark.api

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


@pytest.fixture
def wx_shop(api: Api, shop: ShopCaller) -> ShopCaller:
    clock.set_now(T0 - timedelta(hours=1))
    assert shop.put(shop.path("/settings/wechatpay"), wx.wechatpay_settings()).status == 200
    for i in range(4):
        assert shop.put(shop.path(f"/orders/o{i}"), order_body("c", [("l1", "p1", 100)])).status == 201
    clock.set_now(T0 + timedelta(minutes=1))
    return shop


def old_key_notification(order_id: str) -> tuple[dict[str, str], bytes]:
    return wx.notification(
        "TRANSACTION.SUCCESS", wx.transaction(order_id, 100, T0), timestamp=int(clock.unix_now())
    )


def new_key_notification(new: StandinKeys, order_id: str) -> tuple[dict[str, str], bytes]:
    _, body = old_key_notification(order_id)  # same APIv3 key: only the signing key changes
    headers = notification_headers(
        new.platform_private_key,
        new.platform_public_key_id,
        body,
        int(clock.unix_now()),
        secrets.token_hex(16),
    )
    return {**headers, "Content-Type": "application/json"}, body


def test_a_put_with_only_the_new_key_stops_the_old_serial_at_once(api: Api, wx_shop: ShopCaller) -> None:
    assert wx.post(api, "shop1", *old_key_notification("o0"))[0] == 204  # the old keys are now cached
    new = StandinKeys.generate()
    settings = {
        **wx.wechatpay_settings(),
        "platform_public_keys": [
            {"serial": new.platform_public_key_id, "pem": new.platform_public_key_pem()}
        ],
    }
    assert wx_shop.put(wx_shop.path("/settings/wechatpay"), settings).status == 200
    # well within the cache's 30 s, in the same container
    status, answer = wx.post(api, "shop1", *old_key_notification("o1"))
    assert (status, answer["code"]) == (401, "FAIL")
    assert wx.post(api, "shop1", *new_key_notification(new, "o2"))[0] == 204


def test_a_put_adding_a_key_verifies_the_new_serial_at_once(api: Api, wx_shop: ShopCaller) -> None:
    assert wx.post(api, "shop1", *old_key_notification("o0"))[0] == 204
    new = StandinKeys.generate()
    settings = wx.wechatpay_settings()
    settings["platform_public_keys"].append(
        {"serial": new.platform_public_key_id, "pem": new.platform_public_key_pem()}
    )
    assert wx_shop.put(wx_shop.path("/settings/wechatpay"), settings).status == 200
    assert wx.post(api, "shop1", *new_key_notification(new, "o1"))[0] == 204  # key switch: both verify
    assert wx.post(api, "shop1", *old_key_notification("o2"))[0] == 204


def test_bootstrap_reset_forgets_the_cached_keys(api: Api, wx_shop: ShopCaller) -> None:
    assert wx.post(api, "shop1", *old_key_notification("o0"))[0] == 204
    new = StandinKeys.generate()
    # The keys change behind this container's back (as another container's PUT would do)...
    ShopModel("shop1").update(
        actions=[
            ShopModel.wx_platform_keys.set(
                [PlatformKeyMap(serial=new.platform_public_key_id, pem=new.platform_public_key_pem())]
            )
        ]
    )
    assert wx.post(api, "shop1", *old_key_notification("o1"))[0] == 204  # ...the cache still has them (30 s)
    bootstrap.reset()  # a new container (or the next test) starts with nothing cached
    assert wx.post(api, "shop1", *old_key_notification("o2"))[0] == 401
    assert wx.post(api, "shop1", *new_key_notification(new, "o3"))[0] == 204
