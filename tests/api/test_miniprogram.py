"""The distribution centre's mini-program half through the API (SPEC §9): the mini-program settings (the
appsecret write-only and KMS-encrypted), scenes, promotion codes and posters."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import ShopCaller

pytestmark = pytest.mark.api

APPSECRET = "0123456789abcdef0123456789abcdef"
MINIPROGRAM = {
    "appid": "wx1234567890abcdef",
    "appsecret": APPSECRET,
    "env_version": "trial",
    "pages": {"promote": "pages/goods/index", "invite": "pages/invite/index"},
}


def stored_versions(shop_id: str) -> list[Any]:
    from fenxiao.adapters.shops import HEAD, ConfigVersionModel, config_key

    return [
        item.doc
        for item in ConfigVersionModel.query(config_key(shop_id, "miniprogram"), consistent_read=True)
        if item.effective_at != HEAD
    ]


# ---------------------------------------------------------------- settings


def test_miniprogram_settings_are_stored_encrypted_and_never_shown(shop: ShopCaller) -> None:
    path = shop.path("/settings/miniprogram")
    assert shop.get(path).body == {
        "configured": False,
        "appid": None,
        "appsecret_set": False,
        "env_version": "release",
        "pages": {"promote": "pages/index/index", "invite": "pages/index/index"},
    }
    answer = shop.put(path, MINIPROGRAM)
    assert answer.status == 200, answer
    shown = {
        "configured": True,
        "appid": "wx1234567890abcdef",
        "appsecret_set": True,
        "env_version": "trial",
        "pages": {"promote": "pages/goods/index", "invite": "pages/invite/index"},
    }
    assert answer.body == shown
    assert shop.get(path).body == shown
    (doc,) = stored_versions(shop.shop_id)
    assert APPSECRET not in str(doc) and "appsecret" not in doc
    from fenxiao.bootstrap import container
    from fenxiao.service.settings import miniprogram_access

    assert doc["appsecret_ct"]
    from fenxiao import clock

    assert miniprogram_access(container(), shop.shop_id, clock.now()).appsecret() == APPSECRET


def test_a_partial_put_keeps_the_appsecret_and_the_other_fields(shop: ShopCaller) -> None:
    from fenxiao import clock
    from fenxiao.bootstrap import container
    from fenxiao.service import settings

    path = shop.path("/settings/miniprogram")
    first = settings.put_miniprogram(container(), shop.shop_id, MINIPROGRAM, clock.now())
    assert first.appsecret_changed  # the first configuration
    answer = shop.put(path, {"pages": {"invite": "pages/friends/index"}})
    assert answer.status == 200, answer
    assert answer.body["pages"] == {"promote": "pages/goods/index", "invite": "pages/friends/index"}
    assert answer.body["env_version"] == "trial" and answer.body["appsecret_set"] is True
    assert len(stored_versions(shop.shop_id)) == 2
    access = settings.miniprogram_access(container(), shop.shop_id, clock.now())
    assert access.appsecret() == APPSECRET and access.pages["invite"] == "pages/friends/index"
    same = settings.put_miniprogram(container(), shop.shop_id, {"appsecret": APPSECRET}, clock.now())
    assert not same.appsecret_changed  # the same secret again is no trust change
    other = settings.put_miniprogram(container(), shop.shop_id, {"appsecret": "f" * 32}, clock.now())
    assert other.appsecret_changed
    assert settings.miniprogram_access(container(), shop.shop_id, clock.now()).appsecret() == "f" * 32
    kept = settings.put_miniprogram(container(), shop.shop_id, {"env_version": "develop"}, clock.now())
    assert not kept.appsecret_changed


def _bad(**over: Any) -> dict[str, Any]:
    body = {**MINIPROGRAM, **over}
    return {k: v for k, v in body.items() if v is not ...}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_bad(appid="wx"), "appid"),
        (_bad(appsecret="short"), "appsecret"),
        (_bad(appsecret=12345678901234567890), "appsecret"),
        (_bad(env_version="beta"), "env_version"),
        (_bad(pages={"promote": "/pages/index/index"}), "pages.promote"),
        (_bad(pages={"invite": ""}), "pages.invite"),
        (_bad(pages={"invite": "pages/index?x=1"}), "pages.invite"),
        (_bad(pages={"invite": "p" * 129}), "pages.invite"),
        (_bad(pages={"other": "pages/index"}), "pages.other"),
        (_bad(token="x"), "token"),
    ],
)
def test_bad_miniprogram_settings_are_400_and_change_nothing(
    shop: ShopCaller, body: dict[str, Any], field: str
) -> None:
    path = shop.path("/settings/miniprogram")
    assert shop.put(path, {**MINIPROGRAM, "appsecret": "a" * 32}).status == 200
    before = stored_versions(shop.shop_id)
    answer = shop.put(path, body)
    assert answer.status == 400, answer
    assert answer.error["field"] == field, answer.error
    assert APPSECRET not in str(answer.body) and "a" * 32 not in str(answer.body)
    assert stored_versions(shop.shop_id) == before


def test_the_first_configuration_needs_an_appsecret(shop: ShopCaller) -> None:
    path = shop.path("/settings/miniprogram")
    answer = shop.put(path, _bad(appsecret=...))
    assert answer.status == 400 and answer.error["field"] == "appsecret", answer
    assert answer.error["code"] == "missing_field"
    assert stored_versions(shop.shop_id) == []
    assert shop.get(path).body["configured"] is False
    no_appid = shop.put(path, _bad(appid=...))
    assert no_appid.status == 400 and no_appid.error["field"] == "appid", no_appid
    page = shop.put(path, raw=b"[1]")
    assert page.status == 400 and page.error["field"] == "body"


def test_a_page_of_exactly_128_characters_is_accepted(shop: ShopCaller) -> None:
    page = "a/" * 63 + "ab"
    answer = shop.put(shop.path("/settings/miniprogram"), _bad(pages={"promote": page, "invite": "x"}))
    assert answer.status == 200 and answer.body["pages"]["promote"] == page, answer
