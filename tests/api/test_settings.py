"""Shop settings through the API (SPEC §7): every validation rule answers 400 naming its field and stores
nothing, and versions are written strictly in order whatever the clock or a concurrent PUT does."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.support import wechatpay as wx
from tests.support.app import ShopCaller

pytestmark = pytest.mark.api

BASE_DISTRIBUTION = {
    "enabled": True,
    "rates": {"level1_bp": 1000, "level2_bp": 500, "self_bp": 200},
    "leaderboard": {"display_count": 5},
    "promotion_rules_text": "rules v1",
}
LEVELS = [
    {"level": 1, "name": "银卡", "growth_required": 0, "discount_bp": 10000},
    {"level": 2, "name": "金卡", "growth_required": 100, "discount_bp": 9500},
]
BASE_MEMBERSHIP = {"growth_coefficient": "1.5", "review_growth": 3, "levels": LEVELS}


def versions(shop_id: str, kind: str, product_id: str | None = None) -> list[tuple[str, Any]]:
    """Every stored version of one configuration key, oldest first (the HEAD item left out)."""
    from fenxiao.adapters.shops import HEAD, ConfigVersionModel, config_key

    return [
        (item.effective_at, item.doc)
        for item in ConfigVersionModel.query(config_key(shop_id, kind, product_id), consistent_read=True)
        if item.effective_at != HEAD
    ]


@pytest.fixture
def configured(shop: ShopCaller) -> ShopCaller:
    """A shop whose settings differ from the defaults, so a rejected PUT that changed anything shows."""
    assert shop.put(shop.path("/settings/distribution"), BASE_DISTRIBUTION).status == 200
    assert shop.put(shop.path("/settings/membership"), BASE_MEMBERSHIP).status == 200
    assert (
        shop.put(shop.path("/products/p1/rates"), {"level1_bp": 10, "level2_bp": 20, "self_bp": 30}).status
        == 200
    )
    assert shop.put(shop.path("/settings/wechatpay"), wx.wechatpay_settings()).status == 200
    return shop


def _rejected(answer: Any, field: str) -> None:
    assert answer.status == 400, answer
    assert answer.error["field"] == field, answer.error
    assert field in answer.error["message"]


# ---------------------------------------------------------------- distribution

LONG = "x" * 2001


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"rates": {"level1_bp": 10001}}, "rates.level1_bp"),
        ({"rates": {"level2_bp": -1}}, "rates.level2_bp"),
        ({"rates": {"level1_bp": 5000, "level2_bp": 4000, "self_bp": 1001}}, "rates.self_bp"),
        ({"rates": {"level1_bp": 9500}}, "rates.self_bp"),  # merged with level2 500 + self 200
        ({"leaderboard": {"display_count": 0}}, "leaderboard.display_count"),
        ({"leaderboard": {"display_count": 21}}, "leaderboard.display_count"),
        ({"ui": {"endorse_button": {"background_colour": "#FFF"}}}, "ui.endorse_button.background_colour"),
        ({"ui": {"invite_button": {"text_colour": "red"}}}, "ui.invite_button.text_colour"),
        (
            {"ui": {"poster": {"mode": "custom", "image_url": "http://cdn.example/p.png"}}},
            "ui.poster.image_url",
        ),
        ({"ui": {"share_card": {"image_url": "ftp://cdn.example/p.png"}}}, "ui.share_card.image_url"),
        ({"ui": {"poster": {"mode": "custom"}}}, "ui.poster"),
        ({"promotion_rules_text": LONG}, "promotion_rules_text"),
        ({"leaderboard": {"reward_text": {"weekly": LONG}}}, "leaderboard.reward_text.weekly"),
        ({"ui": {"endorse_button": {"text": "y" * 41}}}, "ui.endorse_button.text"),
        ({"ui": {"share_card": {"title": "t" * 41}}}, "ui.share_card.title"),
        ({"bogus": 1}, "bogus"),
        ({"rates": {"level3_bp": 1}}, "rates.level3_bp"),
        ({"enabled": "yes"}, "enabled"),
        ({"rates": {"level1_bp": "5"}}, "rates.level1_bp"),
        ({"rates": {"level1_bp": 5.0}}, "rates.level1_bp"),
        ({"rates": 5}, "rates"),
        ({"leaderboard": {"display_count": None}}, "leaderboard.display_count"),
        ({"eligibility": {"mode": "everyone"}}, "eligibility.mode"),
        ({"eligibility": {"min_orders": -1}}, "eligibility.min_orders"),
        ({"eligibility": {"mode": "product"}}, "eligibility.product_ids"),  # nobody could ever qualify
        ({"eligibility": {"mode": "product", "product_ids": ["p1", "bad id"]}}, "eligibility.product_ids[1]"),
        ({"binding": {"protection_days": 3651}}, "binding.protection_days"),
        ({"settlement": {"freeze_days": 366}}, "settlement.freeze_days"),
        ({"settlement": {"withdraw_min_fen": 0}}, "settlement.withdraw_min_fen"),
    ],
)
def test_bad_distribution_settings_are_400_and_change_nothing(
    configured: ShopCaller, body: dict[str, Any], field: str
) -> None:
    path = configured.path("/settings/distribution")
    before, stored = configured.get(path).body, versions(configured.shop_id, "distribution")
    _rejected(configured.put(path, body), field)
    assert configured.get(path).body == before
    assert versions(configured.shop_id, "distribution") == stored


@pytest.mark.parametrize(
    ("raw", "code"),
    [(b"{", "invalid_json"), (b"", "invalid_body"), (b"[1]", "invalid_body"), (b'"x"', "invalid_body")],
)
def test_bad_json_settings_are_400_on_body_and_change_nothing(
    configured: ShopCaller, raw: bytes, code: str
) -> None:
    for route, kind in (("/settings/distribution", "distribution"), ("/settings/membership", "membership")):
        path = configured.path(route)
        before, stored = configured.get(path).body, versions(configured.shop_id, kind)
        answer = configured.put(path, raw=raw)
        assert answer.status == 400 and answer.error == {**answer.error, "code": code, "field": "body"}
        assert configured.get(path).body == before
        assert versions(configured.shop_id, kind) == stored


def test_an_accepted_partial_put_keeps_the_other_fields(configured: ShopCaller) -> None:
    path = configured.path("/settings/distribution")
    answer = configured.put(path, {"rates": {"self_bp": 300}})
    assert answer.status == 200
    assert answer.body["rates"] == {"level1_bp": 1000, "level2_bp": 500, "self_bp": 300}
    assert answer.body["promotion_rules_text"] == "rules v1"
    assert configured.get(path).body == answer.body


# ---------------------------------------------------------------- membership


def _levels(*required: int) -> list[dict[str, Any]]:
    return [
        {"level": i + 1, "name": f"L{i + 1}", "growth_required": g, "discount_bp": 9000}
        for i, g in enumerate(required)
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        *(
            ({"growth_coefficient": bad}, "growth_coefficient")
            for bad in ("01", "0001.5", "00", "9999", "1000.0001")
        ),
        *(
            ({"growth_coefficient": bad}, "growth_coefficient")
            for bad in ("1.", ".5", "-1", "1e2", "1.23456", " 1", "")
        ),
        ({"growth_coefficient": 1.5}, "growth_coefficient"),
        ({"growth_coefficient": 1}, "growth_coefficient"),
        ({"levels": _levels(0, 1, 2, 3, 4, 5)}, "levels"),
        ({"levels": _levels(0, 100, 100)}, "levels[2].growth_required"),
        ({"levels": _levels(0, 100, 50)}, "levels[2].growth_required"),
        ({"levels": [{**LEVELS[0], "name": "   "}]}, "levels[0].name"),
        ({"levels": [{**LEVELS[0], "name": ""}]}, "levels[0].name"),
        ({"levels": [{**LEVELS[0], "name": "n" * 21}]}, "levels[0].name"),
        ({"levels": [{**LEVELS[0], "discount_bp": 0}]}, "levels[0].discount_bp"),
        ({"levels": [{**LEVELS[0], "discount_bp": 10001}]}, "levels[0].discount_bp"),
        ({"levels": [{**LEVELS[0], "level": 6}]}, "levels[0].level"),
        ({"levels": [LEVELS[0], {**LEVELS[1], "level": 1}]}, "levels[1].level"),
        (
            {
                "levels": [
                    {**LEVELS[1], "level": 2, "growth_required": 0},
                    {**LEVELS[0], "level": 1, "growth_required": 5},
                ]
            },
            "levels[1].level",
        ),
        ({"levels": [{**LEVELS[0], "growth_required": -1}]}, "levels[0].growth_required"),
        ({"levels": [{k: v for k, v in LEVELS[0].items() if k != "name"}]}, "levels[0].name"),
        ({"levels": [{**LEVELS[0], "colour": "gold"}]}, "levels[0].colour"),
        ({"levels": {"level": 1}}, "levels"),
        ({"review_growth": -1}, "review_growth"),
        ({"signin_growth": "2"}, "signin_growth"),
        ({"profile_growth": 10**6 + 1}, "profile_growth"),
        ({"bogus": True}, "bogus"),
    ],
)
def test_bad_membership_settings_are_400_and_change_nothing(
    configured: ShopCaller, body: dict[str, Any], field: str
) -> None:
    path = configured.path("/settings/membership")
    before, stored = configured.get(path).body, versions(configured.shop_id, "membership")
    _rejected(configured.put(path, body), field)
    assert configured.get(path).body == before
    assert versions(configured.shop_id, "membership") == stored


@pytest.mark.parametrize("good", ["0", "1", "1.5", "0.01", "0.0001", "999.9999", "1000", "1000.0"])
def test_every_accepted_coefficient_is_one_the_payment_code_reads(configured: ShopCaller, good: str) -> None:
    from fenxiao.domain.growth import parse_coefficient
    from fenxiao.service.settings import membership_at

    answer = configured.put(configured.path("/settings/membership"), {"growth_coefficient": good})
    assert answer.status == 200 and answer.body["growth_coefficient"] == good
    stored = membership_at(configured.shop_id, datetime.now(UTC) + timedelta(seconds=1)).growth_coefficient
    assert parse_coefficient(stored) == parse_coefficient(good)


def test_the_documented_coefficient_pattern_agrees_with_parse_coefficient() -> None:
    from fenxiao.domain.errors import InvalidInput
    from fenxiao.domain.growth import parse_coefficient
    from fenxiao.schemas.common import COEFFICIENT_SCHEMA_PATTERN

    for text in (
        "0",
        "1",
        "01",
        "00",
        "1.5",
        "0001.5",
        "1.",
        ".5",
        "1.23456",
        "9999",
        "1000",
        "12345",
        "0.0001",
    ):
        try:
            parse_coefficient(text)
            parsed = True
        except InvalidInput:
            parsed = False
        # The pattern documents the syntax; the bound (at most 1000) is the one thing it cannot say.
        assert bool(re.fullmatch(COEFFICIENT_SCHEMA_PATTERN, text)) == (parsed or text in ("9999",)), text


# ---------------------------------------------------------------- product rates


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"level1_bp": 5000, "level2_bp": 5000, "self_bp": 1}, "self_bp"),
        ({"level1_bp": 10001, "level2_bp": 0, "self_bp": 0}, "level1_bp"),
        ({"level1_bp": 0, "level2_bp": -1, "self_bp": 0}, "level2_bp"),
        ({"level1_bp": 0, "level2_bp": 0}, "self_bp"),
        ({"level1_bp": "1", "level2_bp": 0, "self_bp": 0}, "level1_bp"),
        ({"level1_bp": 1, "level2_bp": 0, "self_bp": 0, "level3_bp": 0}, "level3_bp"),
        ({"level1_bp": True, "level2_bp": 0, "self_bp": 0}, "level1_bp"),
    ],
)
def test_bad_product_rates_are_400_and_change_nothing(
    configured: ShopCaller, body: dict[str, Any], field: str
) -> None:
    stored = versions(configured.shop_id, "rates", "p1")
    _rejected(configured.put(configured.path("/products/p1/rates"), body), field)
    assert versions(configured.shop_id, "rates", "p1") == stored
    assert versions(configured.shop_id, "rates", "p2") == []
    _rejected(configured.put(configured.path("/products/p2/rates"), body), field)
    assert versions(configured.shop_id, "rates", "p2") == []


def test_bad_product_rates_requests_change_nothing(configured: ShopCaller) -> None:
    stored = versions(configured.shop_id, "rates", "p1")
    bad_json = configured.put(configured.path("/products/p1/rates"), raw=b'{"level1_bp": 1,')
    assert bad_json.status == 400 and bad_json.error["field"] == "body"
    bad_id = configured.put(
        configured.path("/products/" + "p" * 65 + "/rates"), {"level1_bp": 1, "level2_bp": 0, "self_bp": 0}
    )
    assert bad_id.status == 400 and bad_id.error["field"] == "product_id"
    missing = configured.delete(configured.path("/products/p9/rates"))
    assert missing.status == 404 and missing.error["code"] == "rates_not_found"
    assert versions(configured.shop_id, "rates", "p9") == []
    assert versions(configured.shop_id, "rates", "p1") == stored


def test_deleting_product_rates_twice_is_404_the_second_time(configured: ShopCaller) -> None:
    from fenxiao.service.settings import rules_at

    assert configured.delete(configured.path("/products/p1/rates")).status == 204
    stored = versions(configured.shop_id, "rates", "p1")
    assert [doc for _, doc in stored] == [{"level1_bp": 10, "level2_bp": 20, "self_bp": 30}, None]
    assert configured.delete(configured.path("/products/p1/rates")).status == 404
    assert versions(configured.shop_id, "rates", "p1") == stored
    assert rules_at(configured.shop_id, ["p1"], datetime.now(UTC) + timedelta(seconds=1))[2].get("p1") is None


# ---------------------------------------------------------------- WeChat Pay


def _wechatpay(**over: Any) -> dict[str, Any]:
    body = wx.wechatpay_settings()
    body.update(over)
    return {k: v for k, v in body.items() if v is not ...}


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"mchid": "abc"}, "mchid"),
        ({"mchid": 1900000109}, "mchid"),
        ({"appid": "wx"}, "appid"),
        ({"apiv3_key": "k" * 31}, "apiv3_key"),
        ({"apiv3_key": "k" * 33}, "apiv3_key"),
        ({"platform_public_keys": ...}, "platform_public_keys"),
        ({"platform_public_keys": []}, "platform_public_keys"),
        ({"platform_public_keys": [{"serial": "s1", "pem": "not a pem"}]}, "platform_public_keys[0].pem"),
        ({"platform_public_keys": [{"serial": "bad serial!", "pem": "x"}]}, "platform_public_keys[0].serial"),
        ({"merchant_serial": ...}, "merchant_serial"),
        (
            {"merchant_private_key_pem": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"},
            "merchant_private_key_pem",
        ),
        ({"notify_url": "https://x"}, "notify_url"),
    ],
)
def test_bad_wechatpay_settings_are_400_and_change_nothing(
    configured: ShopCaller, over: dict[str, Any], field: str
) -> None:
    path = configured.path("/settings/wechatpay")
    before = configured.get(path).body
    body = _wechatpay(**over)
    answer = configured.put(path, body)
    _rejected(answer, field)
    for secret in (body.get("apiv3_key"), wx.keys().apiv3_key):
        assert not secret or secret not in str(answer.body)
    assert configured.get(path).body == before


def test_wechatpay_needs_an_apiv3_key_the_first_time(shop: ShopCaller) -> None:
    path = shop.path("/settings/wechatpay")
    _rejected(shop.put(path, _wechatpay(apiv3_key=...)), "apiv3_key")
    assert shop.get(path).body == {"configured": False}
    bad_json = shop.put(path, raw=b"{'mchid': 1}")
    assert bad_json.status == 400 and bad_json.error["field"] == "body"
    assert shop.get(path).body == {"configured": False}


# ---------------------------------------------------------------- versions: clock and concurrency


def _keys(stored: list[tuple[str, Any]]) -> list[str]:
    return [effective_at for effective_at, _ in stored]


def test_a_put_after_the_clock_moved_back_is_stored_after_the_newest_version(shop: ShopCaller) -> None:
    from fenxiao import clock
    from fenxiao.service.settings import distribution_at
    from fenxiao.timefmt import from_key

    clock.set_now(clock.now() + timedelta(hours=1))
    assert shop.put(shop.path("/settings/distribution"), {"promotion_rules_text": "ahead"}).status == 200
    clock.set_now(clock.now() - timedelta(hours=1))  # the local clock override moved back
    answer = shop.put(shop.path("/settings/distribution"), {"rates": {"level1_bp": 700}})
    assert answer.status == 200, answer
    # merged with the newest version, not with the one that stood at the earlier clock time
    assert answer.body["promotion_rules_text"] == "ahead" and answer.body["rates"]["level1_bp"] == 700
    stored = versions(shop.shop_id, "distribution")
    assert len(stored) == 2
    first, second = (from_key(k) for k in _keys(stored))
    assert second - first == timedelta(microseconds=1)
    assert distribution_at(shop.shop_id, second).rates.level1_bp == 700
    assert distribution_at(shop.shop_id, first).rates.level1_bp == 0
    # the clock catches up: the GET then shows the change
    clock.set_now(second + timedelta(seconds=1))
    assert shop.get(shop.path("/settings/distribution")).body == answer.body


@pytest.mark.parametrize("kind", ["distribution", "membership"])
def test_two_racing_puts_at_the_same_instant_are_both_stored_in_order(
    shop: ShopCaller, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    from fenxiao.service import settings

    put = settings.put_distribution if kind == "distribution" else settings.put_membership
    first_patch, second_patch = (
        ({"enabled": False}, {"promotion_rules_text": "B"})
        if kind == "distribution"
        else ({"growth_coefficient": "2"}, {"review_growth": 9})
    )
    now = datetime.now(UTC)
    real_head = settings.newest_version
    raced: list[Any] = []

    def head_then_race(ckey: str) -> Any:
        head = real_head(ckey)
        if not raced:  # A has read the newest version; B runs and stores its own before A writes
            raced.append(None)
            raced[0] = put(shop.shop_id, second_patch, now)
        return head

    monkeypatch.setattr(settings, "newest_version", head_then_race)
    result = put(shop.shop_id, first_patch, now)
    monkeypatch.setattr(settings, "newest_version", real_head)

    stored = versions(shop.shop_id, kind)
    keys = _keys(stored)
    assert len(stored) == 2 and keys == sorted(set(keys))
    assert stored[0][1] == raced[0].model_dump(mode="json")
    # A was retried on top of B: both changes are in the newest version, nothing is lost
    newest = stored[1][1]
    assert all(newest[k] == v for k, v in {**first_patch, **second_patch}.items())
    assert result.model_dump(mode="json") == newest
    later = datetime.now(UTC) + timedelta(seconds=1)
    current = settings.distribution_at if kind == "distribution" else settings.membership_at
    assert current(shop.shop_id, later).model_dump(mode="json") == newest


def test_a_put_racing_a_delete_of_product_rates_is_stored_after_it(
    configured: ShopCaller, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fenxiao.service import settings

    now = datetime.now(UTC)
    real_head = settings.newest_version
    raced: list[bool] = []

    def head_then_race(ckey: str) -> Any:
        head = real_head(ckey)
        if not raced:
            raced.append(True)
            settings.delete_product_rates(configured.shop_id, "p1", now)
        return head

    monkeypatch.setattr(settings, "newest_version", head_then_race)
    settings.put_product_rates(configured.shop_id, "p1", {"level1_bp": 1, "level2_bp": 2, "self_bp": 3}, now)
    monkeypatch.setattr(settings, "newest_version", real_head)
    docs = [doc for _, doc in versions(configured.shop_id, "rates", "p1")]
    assert docs == [
        {"level1_bp": 10, "level2_bp": 20, "self_bp": 30},
        None,
        {"level1_bp": 1, "level2_bp": 2, "self_bp": 3},
    ]
    keys = _keys(versions(configured.shop_id, "rates", "p1"))
    assert keys == sorted(set(keys))


def test_a_store_that_never_wins_is_409_not_500(shop: ShopCaller, monkeypatch: pytest.MonkeyPatch) -> None:
    from fenxiao.service import settings

    now = datetime.now(UTC)
    real_head = settings.newest_version
    count = [0]

    def always_raced(ckey: str) -> Any:
        head = real_head(ckey)
        count[0] += 1
        monkeypatch.setattr(settings, "newest_version", real_head)
        settings.put_distribution(shop.shop_id, {"promotion_rules_text": f"other {count[0]}"}, now)
        monkeypatch.setattr(settings, "newest_version", always_raced)
        return head

    monkeypatch.setattr(settings, "newest_version", always_raced)
    from fenxiao.domain.errors import Conflict

    with pytest.raises(Conflict) as raised:
        settings.put_distribution(shop.shop_id, {"enabled": False}, now)
    monkeypatch.setattr(settings, "newest_version", real_head)
    assert raised.value.status == 409
    stored = versions(shop.shop_id, "distribution")
    assert all(doc["enabled"] is True for _, doc in stored)  # the losing PUT stored nothing
    assert len(stored) == count[0]
