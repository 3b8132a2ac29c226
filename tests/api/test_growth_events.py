"""POST /shops/{s}/members/{m}/growth-events (SPEC §6, §7): review, sign-in and profile growth, once each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fenxiao import clock
from tests.support.app import Answer, Api, ShopCaller

pytestmark = pytest.mark.api

MEMBERSHIP = {
    "review_growth": 5,
    "signin_growth": 2,
    "profile_growth": 10,
    "levels": [
        {"level": 1, "name": "银卡", "growth_required": 0, "discount_bp": 10000},
        {"level": 2, "name": "金卡", "growth_required": 15, "discount_bp": 9500},
    ],
}
# 2026-11-25 23:59:59 in Asia/Shanghai (UTC+8)
BEFORE_MIDNIGHT = datetime(2026, 11, 25, 15, 59, 59, tzinfo=UTC)


def configure(shop: ShopCaller, **changes: Any) -> None:
    answer = shop.put(shop.path("/settings/membership"), {**MEMBERSHIP, **changes})
    assert answer.status == 200, answer


def event(shop: ShopCaller, member: str, body: Any) -> Answer:
    return shop.post(shop.path(f"/members/{member}/growth-events"), body)


def growth_of(shop: ShopCaller, member: str) -> int:
    answer = shop.get(shop.path(f"/members/{member}"))
    assert answer.status == 200, answer
    return int(answer.body["growth"])


def ledger_keys(shop_id: str, member: str) -> list[str]:
    from fenxiao.adapters.ledger import LedgerEntryModel

    return [e.entry_key for e in LedgerEntryModel.query(f"{shop_id}#{member}", consistent_read=True)]


def test_each_event_applies_once_and_repeats_change_nothing(shop: ShopCaller) -> None:
    configure(shop)
    first = event(shop, "m1", {"type": "review", "ref": "rev-1"})
    assert first.status == 200, first
    assert first.body == {
        "member_id": "m1",
        "type": "review",
        "ref": "rev-1",
        "applied": True,
        "added": 5,
        "growth": 5,
        "level": 1,
        "level_name": "银卡",
        "discount_bp": 10000,
    }
    again = event(shop, "m1", {"type": "review", "ref": "rev-1"})
    assert again.status == 200
    assert (again.body["applied"], again.body["added"], again.body["growth"]) == (False, 0, 5)

    signin = event(shop, "m1", {"type": "signin"})
    assert (signin.status, signin.body["applied"], signin.body["growth"]) == (200, True, 7)
    assert event(shop, "m1", {"type": "signin"}).body["applied"] is False

    profile = event(shop, "m1", {"type": "profile"})
    assert (profile.status, profile.body["applied"], profile.body["growth"]) == (200, True, 17)
    assert (profile.body["level"], profile.body["level_name"], profile.body["discount_bp"]) == (
        2,
        "金卡",
        9500,
    )
    repeat = event(shop, "m1", {"type": "profile", "ref": "anything"})
    assert (repeat.body["applied"], repeat.body["growth"]) == (False, 17)

    assert growth_of(shop, "m1") == 17
    assert sorted(ledger_keys(shop.shop_id, "m1")) == [
        "GROWTH#PROFILE",
        "GROWTH#REVIEW#rev-1",
        f"GROWTH#SIGNIN#{signin.body['ref']}",
    ]


def test_distinct_review_ids_each_count_once(shop: ShopCaller) -> None:
    configure(shop)
    for ref in ("r1", "r2", "r3"):
        assert event(shop, "m1", {"type": "review", "ref": ref}).body["applied"] is True
    for ref in ("r1", "r3"):
        assert event(shop, "m1", {"type": "review", "ref": ref}).body["applied"] is False
    # the same review id for another member is that member's own review
    assert event(shop, "m2", {"type": "review", "ref": "r1"}).body["applied"] is True
    assert growth_of(shop, "m1") == 15
    assert growth_of(shop, "m2") == 5


def test_signin_counts_once_per_shanghai_day(shop: ShopCaller) -> None:
    clock.set_now(BEFORE_MIDNIGHT - timedelta(minutes=1))  # the settings in force before the first sign-in
    configure(shop)
    # Each sign-in is set to its second just before it is signed: a loaded machine may take over a second
    # between two requests, and the day is the signed second's.
    clock.set_now(BEFORE_MIDNIGHT)
    first = event(shop, "m1", {"type": "signin", "ref": "ignored"})
    assert (first.body["applied"], first.body["ref"], first.body["growth"]) == (True, "2026-11-25", 2)
    clock.set_now(BEFORE_MIDNIGHT)
    assert event(shop, "m1", {"type": "signin"}).body["applied"] is False

    clock.set_now(BEFORE_MIDNIGHT + timedelta(seconds=1))  # 00:00:00 on the 26th in Shanghai
    second = event(shop, "m1", {"type": "signin"})
    assert (second.body["applied"], second.body["ref"], second.body["growth"]) == (True, "2026-11-26", 4)

    # 08:00 in Shanghai: a new UTC day, still the same Shanghai day
    clock.set_now(datetime(2026, 11, 26, 0, 0, 1, tzinfo=UTC))
    assert event(shop, "m1", {"type": "signin"}).body["applied"] is False
    # 23:59:59 the same Shanghai day, then the next day
    clock.set_now(BEFORE_MIDNIGHT + timedelta(days=1))
    assert event(shop, "m1", {"type": "signin"}).body["applied"] is False
    clock.set_now(BEFORE_MIDNIGHT + timedelta(days=1, seconds=1))
    third = event(shop, "m1", {"type": "signin"})
    assert (third.body["applied"], third.body["ref"], third.body["growth"]) == (True, "2026-11-27", 6)


def test_signin_counts_on_the_shanghai_day_of_its_x_timestamp(shop: ShopCaller) -> None:
    """SPEC §10: a sign-in signed at 23:58 and replayed at 00:02 (within the window) earns no second
    sign-in; the answer names the signed day."""
    clock.set_now(BEFORE_MIDNIGHT - timedelta(minutes=2))  # 23:57:59 in Shanghai
    configure(shop)
    path = shop.path("/members/m1/growth-events")
    signed_at = int(clock.unix_now())
    first = shop.post(path, {"type": "signin"}, timestamp=signed_at)
    assert (first.body["applied"], first.body["ref"], first.body["growth"]) == (True, "2026-11-25", 2)
    clock.set_now(BEFORE_MIDNIGHT + timedelta(minutes=2))  # 00:01:59 on the 26th, 240 s later
    replay = shop.post(path, {"type": "signin"}, timestamp=signed_at)
    assert replay.status == 200, replay
    assert (replay.body["applied"], replay.body["ref"], replay.body["growth"]) == (False, "2026-11-25", 2)
    fresh = shop.post(path, {"type": "signin"})  # signed now: the 26th
    assert (fresh.body["applied"], fresh.body["ref"], fresh.body["growth"]) == (True, "2026-11-26", 4)


def test_zero_amount_is_recorded_and_stays_once_only(shop: ShopCaller) -> None:
    configure(shop, profile_growth=0)
    first = event(shop, "m1", {"type": "profile"})
    assert first.status == 200, first
    assert (first.body["applied"], first.body["added"], first.body["growth"]) == (True, 0, 0)
    assert growth_of(shop, "m1") == 0  # the member came into being
    configure(shop, profile_growth=10)  # raising the amount later does not pay the profile again
    assert event(shop, "m1", {"type": "profile"}).body["applied"] is False
    assert growth_of(shop, "m1") == 0


def test_amount_is_the_setting_in_force_at_the_event(shop: ShopCaller) -> None:
    configure(shop)
    assert event(shop, "m1", {"type": "review", "ref": "r1"}).body["added"] == 5
    configure(shop, review_growth=8)
    assert event(shop, "m1", {"type": "review", "ref": "r2"}).body["added"] == 8
    assert growth_of(shop, "m1") == 13


def test_level_follows_the_level_table_on_next_read(shop: ShopCaller) -> None:
    configure(shop)
    assert event(shop, "m1", {"type": "profile"}).body["growth"] == 10
    view = shop.get(shop.path("/members/m1")).body
    assert (view["level"], view["level_name"], view["discount_bp"]) == (1, "银卡", 10000)
    configure(
        shop,
        levels=[
            {"level": 1, "name": "铜", "growth_required": 5, "discount_bp": 9900},
            {"level": 2, "name": "银", "growth_required": 10, "discount_bp": 9800},
        ],
    )
    view = shop.get(shop.path("/members/m1")).body
    assert (view["growth"], view["level"], view["level_name"], view["discount_bp"]) == (10, 2, "银", 9800)
    configure(shop, levels=[])
    view = shop.get(shop.path("/members/m1")).body
    assert (view["level"], view["level_name"], view["discount_bp"]) == (None, None, 10000)


# ---------------------------------------------------------------- rejected requests store nothing


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({}, 400, "type"),
        ({"ref": "r1"}, 400, "type"),
        ({"type": "like"}, 400, "type"),
        ({"type": "REVIEW", "ref": "r1"}, 400, "type"),
        ({"type": 1}, 400, "type"),
        ({"type": None}, 400, "type"),
        ({"type": "review"}, 400, "ref"),
        ({"type": "review", "ref": None}, 400, "ref"),
        ({"type": "review", "ref": ""}, 400, "ref"),
        ({"type": "review", "ref": 17}, 400, "ref"),
        ({"type": "review", "ref": "r" * 65}, 400, "ref"),
        ({"type": "review", "ref": "a#b"}, 400, "ref"),
        ({"type": "review", "ref": "has space"}, 400, "ref"),
        ({"type": "signin", "extra": 1}, 400, "extra"),
        ({"type": "profile", "ref": "x" * 65}, 400, "ref"),
        (["signin"], 400, "body"),
        ("signin", 400, "body"),
    ],
)
def test_bad_input_is_400_naming_the_field_and_stores_nothing(
    shop: ShopCaller, body: Any, status: int, field: str
) -> None:
    configure(shop)
    answer = event(shop, "m1", body)
    assert answer.status == status, answer
    assert answer.error["field"] == field
    assert shop.get(shop.path("/members/m1")).status == 404
    assert ledger_keys(shop.shop_id, "m1") == []


def test_malformed_json_and_bad_member_id_store_nothing(shop: ShopCaller) -> None:
    configure(shop)
    answer = shop.post(shop.path("/members/m1/growth-events"), raw=b'{"type": "signin"')
    assert (answer.status, answer.error["code"]) == (400, "invalid_json")
    answer = event(shop, "bad%23id", {"type": "signin"})
    assert answer.status in (400, 404), answer
    assert shop.get(shop.path("/members/m1")).status == 404
    assert ledger_keys(shop.shop_id, "m1") == []


def test_another_shops_path_is_403_and_stores_nothing(api: Api, shop: ShopCaller) -> None:
    other = api.create_shop("shop2")
    configure(other)
    answer = shop.post(f"/shops/{other.shop_id}/members/m1/growth-events", {"type": "profile"})
    assert (answer.status, answer.error["code"]) == (403, "not_your_shop")
    assert other.get(other.path("/members/m1")).status == 404
    assert ledger_keys(other.shop_id, "m1") == []


def test_bad_signature_and_stale_timestamp_are_401_and_store_nothing(shop: ShopCaller) -> None:
    configure(shop)
    path = shop.path("/members/m1/growth-events")
    assert shop.post(path, {"type": "profile"}, secret="not-the-secret").status == 401
    # signed over another path than the one called
    assert (
        shop.post(path, {"type": "profile"}, signed_path=shop.path("/members/m2/growth-events")).status == 401
    )
    stale = int(clock.unix_now()) - 301
    assert shop.post(path, {"type": "profile"}, timestamp=stale).status == 401
    assert shop.post(path, {"type": "profile"}, headers={"X-Signature": ""}).status == 401
    assert shop.get(shop.path("/members/m1")).status == 404
    assert ledger_keys(shop.shop_id, "m1") == []


def test_audit_reports_no_difference_after_growth_events(api: Api, shop: ShopCaller) -> None:
    clock.set_now(BEFORE_MIDNIGHT)
    configure(shop)
    for member in ("m1", "m2", "m3"):
        event(shop, member, {"type": "signin"})
        event(shop, member, {"type": "profile"})
        event(shop, member, {"type": "review", "ref": f"{member}-r1"})
        event(shop, member, {"type": "review", "ref": f"{member}-r1"})
    clock.set_now(BEFORE_MIDNIGHT + timedelta(seconds=1))
    event(shop, "m1", {"type": "signin"})
    answer = api.operator("POST", "/admin/jobs/audit")
    assert answer.status == 200, answer
    assert (answer.body["done"], answer.body["differences"]) == (True, [])
    assert answer.body["members_checked"] >= 3
    assert growth_of(shop, "m1") == 19
