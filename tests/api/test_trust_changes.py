"""Trust changes (SPEC §10): every accepted change of settings/wechatpay is kept (field names, never values),
logged and counted; a change of an already configured mchid, appid or merchant key holds withdrawals 24 h."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fenxiao import clock
from fenxiao_local.wechatpay_keys import StandinKeys
from tests.support import wechatpay as wx
from tests.support.app import Api, ShopCaller
from tests.support.payouts import funded_shop

pytestmark = pytest.mark.api

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
ALL_FIELDS = [
    "mchid",
    "appid",
    "apiv3_key",
    "platform_public_keys",
    "merchant_serial",
    "merchant_private_key_pem",
]


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    from fenxiao.service import settings

    names: list[str] = []
    original = settings.count
    monkeypatch.setattr(
        settings, "count", lambda name, value=1, **kw: (names.append(name), original(name, value, **kw))
    )
    return names


@pytest.fixture
def configured(shop: ShopCaller) -> ShopCaller:
    return funded_shop(shop, T0)


def history(shop: ShopCaller, query: str = "document=wechatpay") -> Any:
    return shop.get(shop.path(f"/settings/history?{query}" if query else "/settings/history"))


def withdraw(shop: ShopCaller, withdrawal_id: str) -> Any:
    body = {"withdrawal_id": withdrawal_id, "amount_fen": 100, "openid": OPENID}
    return shop.post(shop.path("/members/m1/withdrawals"), body)


def put_wechatpay(shop: ShopCaller, **over: Any) -> Any:
    answer = shop.put(shop.path("/settings/wechatpay"), {**wx.wechatpay_settings(), **over})
    assert answer.status == 200, answer.body
    return answer


def test_the_first_configuration_is_recorded_and_holds_nothing(
    configured: ShopCaller, counted: list[str]
) -> None:
    got = history(configured)
    assert got.status == 200
    assert [e["fields"] for e in got.body["entries"]] == [ALL_FIELDS]
    assert got.body["entries"][0]["at"].startswith("2026-11-20T10:00:00")
    assert got.body["next_cursor"] is None
    answer = withdraw(configured, "w1")
    assert (answer.body["status"], answer.body["reason"]) == ("pending", None)
    assert history(configured, "document=miniprogram").body == {"entries": [], "next_cursor": None}


@pytest.mark.parametrize(
    ("over", "fields"),
    [
        ({"mchid": "1900000999"}, ["mchid"]),
        ({"appid": "wx00000000000000ff"}, ["appid"]),
        ({"merchant_serial": "ABCDEF0123"}, ["merchant_serial"]),
    ],
)
def test_a_changed_merchant_holds_new_withdrawals_for_24_hours(
    configured: ShopCaller, counted: list[str], over: dict[str, str], fields: list[str]
) -> None:
    clock.set_now(T0 + timedelta(hours=1))
    body = {
        k: v for k, v in wx.wechatpay_settings().items() if k not in ("apiv3_key", "merchant_private_key_pem")
    }
    assert configured.put(configured.path("/settings/wechatpay"), {**body, **over}).status == 200
    assert "TrustSettingsChanged" in counted
    newest = history(configured).body["entries"][0]
    assert newest["fields"] == fields
    assert newest["at"].startswith("2026-11-20T11:00:00")
    held = withdraw(configured, "w1")
    assert (held.body["status"], held.body["reason"]) == ("pending_review", "merchant_changed")
    clock.set_now(T0 + timedelta(hours=24, minutes=59))
    assert withdraw(configured, "w2").body["status"] == "pending_review"
    clock.set_now(T0 + timedelta(hours=25, seconds=1))
    if "appid" not in fields:  # another appid is another payee namespace: the first withdrawal there pins
        assert withdraw(configured, "w3").body["status"] == "pending"


def test_a_new_merchant_key_holds_and_the_same_key_sent_again_does_not(configured: ShopCaller) -> None:
    clock.set_now(T0 + timedelta(hours=1))
    # The same key again (a full PUT that changes a platform key): the key is not a change.
    rotated = wx.wechatpay_settings()
    rotated["platform_public_keys"] = rotated["platform_public_keys"][:1]
    assert configured.put(configured.path("/settings/wechatpay"), rotated).status == 200
    assert history(configured).body["entries"][0]["fields"] == ["apiv3_key", "platform_public_keys"]
    assert withdraw(configured, "w1").body["status"] == "pending"
    # Another merchant key: held.
    other = StandinKeys.generate()
    put_wechatpay(configured, merchant_private_key_pem=other.merchant_private_key_pem())
    assert history(configured).body["entries"][0]["fields"] == [
        "apiv3_key",
        "platform_public_keys",
        "merchant_private_key_pem",
    ]
    assert withdraw(configured, "w2").body["reason"] == "merchant_changed"


def test_the_history_names_fields_never_values_and_pages_newest_first(configured: ShopCaller) -> None:
    for i in range(4):
        clock.set_now(T0 + timedelta(minutes=i + 1))
        put_wechatpay(configured)
    seen: list[str] = []
    cursor = None
    while True:
        page = history(configured, "document=wechatpay&limit=2" + (f"&cursor={cursor}" if cursor else ""))
        assert page.status == 200, page.body
        seen += [e["at"] for e in page.body["entries"]]
        cursor = page.body["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 5 and seen == sorted(seen, reverse=True)
    text = json.dumps(history(configured, "document=wechatpay&limit=100").body)
    secrets = wx.wechatpay_settings()
    for name in ("apiv3_key", "merchant_private_key_pem"):
        assert secrets[name] not in text
    assert secrets["mchid"] not in text and "BEGIN" not in text


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("", "document"),
        ("document=", "document"),
        ("document=distribution", "document"),
        ("document=wechatpay&limit=0", "limit"),
        ("document=wechatpay&limit=101", "limit"),
        ("document=wechatpay&cursor=garbage", "cursor"),
    ],
)
def test_bad_history_queries_are_400_naming_the_field(configured: ShopCaller, query: str, field: str) -> None:
    answer = history(configured, query)
    assert (answer.status, answer.error["field"]) == (400, field)


def test_another_shops_cursor_is_refused(api: Api, configured: ShopCaller) -> None:
    for i in range(2):
        clock.set_now(T0 + timedelta(minutes=i + 1))
        put_wechatpay(configured)
    first = history(configured, "document=wechatpay&limit=1").body["next_cursor"]
    other = api.create_shop("shop2")
    foreign = other.get(f"/shops/shop2/settings/history?document=wechatpay&cursor={first}")
    assert (foreign.status, foreign.error["code"]) == (400, "invalid_cursor")
    other_doc = history(configured, f"document=miniprogram&cursor={first}")
    assert (other_doc.status, other_doc.error["code"]) == (400, "invalid_cursor")
