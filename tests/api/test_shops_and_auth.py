"""Operator API and Shop API authentication (SPEC §7)."""

from __future__ import annotations

import math

import pytest

from tests.support.app import Api, ShopCaller

pytestmark = pytest.mark.api


def test_create_shop_returns_secret_once_and_stores_only_ciphertext(api: Api) -> None:
    answer = api.operator("POST", "/admin/shops", {"shop_id": "s-1", "name": "Tea house"})
    assert answer.status == 201
    assert answer.body["shop_id"] == "s-1"
    secret = answer.body["api_secret"]
    assert len(secret) >= 40
    from fenxiao.adapters.shops import ShopModel

    stored = ShopModel.get("s-1")
    assert secret.encode() not in bytes(stored.api_secret_ct)
    again = api.operator("POST", "/admin/shops", {"shop_id": "s-1", "name": "Tea house"})
    assert again.status == 409
    assert again.error["code"] == "shop_exists"
    assert "api_secret" not in str(again.body)


@pytest.mark.parametrize("token", [None, "wrong-token", ""])
def test_operator_token_required(api: Api, token: str | None) -> None:
    answer = api.operator("POST", "/admin/shops", {"shop_id": "s-2", "name": "x"}, token=token)
    assert answer.status == 401
    assert set(answer.body["error"]) >= {"code", "message"}
    # nothing stored: the shop can still be created with the right token
    assert api.operator("POST", "/admin/shops", {"shop_id": "s-2", "name": "x"}).status == 201


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x"}, "shop_id"),
        ({"shop_id": "s3"}, "name"),
        ({"shop_id": "has space", "name": "x"}, "shop_id"),
        ({"shop_id": 5, "name": "x"}, "shop_id"),
        ({"shop_id": "s3", "name": "x", "extra": 1}, "extra"),
    ],
)
def test_create_shop_bad_input_names_field(api: Api, body: dict[str, object], field: str) -> None:
    answer = api.operator("POST", "/admin/shops", body)
    assert answer.status == 400
    assert answer.error["field"] == field
    assert field in answer.error["message"]


def test_signed_request_accepted(shop: ShopCaller) -> None:
    answer = shop.get(shop.path("/settings/distribution"))
    assert answer.status == 200
    assert answer.body["enabled"] is True


def test_bad_signature_401(shop: ShopCaller) -> None:
    answer = shop.get(shop.path("/settings/distribution"), secret="not-the-secret")
    assert answer.status == 401
    assert answer.error["code"] == "bad_signature"


def test_signature_over_other_path_401(shop: ShopCaller) -> None:
    answer = shop.get(shop.path("/settings/distribution"), signed_path=shop.path("/settings/membership"))
    assert answer.status == 401


def test_stale_timestamp_401(shop: ShopCaller) -> None:
    from fenxiao import clock

    answer = shop.get(shop.path("/settings/distribution"), timestamp=int(clock.unix_now()) - 301)
    assert answer.status == 401
    assert answer.error["code"] == "stale_timestamp"
    # rounded up, and a second of margin: the handler reads the clock a moment after the test does
    future = shop.get(shop.path("/settings/distribution"), timestamp=math.ceil(clock.unix_now()) + 302)
    assert future.status == 401
    within = shop.get(shop.path("/settings/distribution"), timestamp=int(clock.unix_now()) - 290)
    assert within.status == 200


def test_missing_headers_401(api: Api, shop: ShopCaller) -> None:
    response = api.client.http.request("GET", shop.path("/settings/distribution"), headers={})
    assert response.status_code == 401


def test_unknown_shop_401(shop: ShopCaller) -> None:
    answer = shop.get("/shops/nobody/settings/distribution", shop_header="nobody")
    assert answer.status == 401


def test_other_shops_path_403(api: Api, shop: ShopCaller) -> None:
    api.create_shop("shop2")
    answer = shop.get("/shops/shop2/settings/distribution")
    assert answer.status == 403
    assert answer.error["code"] == "not_your_shop"
    put = shop.put("/shops/shop2/settings/distribution", {"enabled": False})
    assert put.status == 403


def test_stage_prefixed_path_signature_accepted(shop: ShopCaller) -> None:
    # Behind API Gateway the mall calls /Prod/shops/...; chalice's test client has no stage, so the staged
    # and base-path forms are sent as API Gateway proxy events in tests/unit/test_auth.py; here the
    # unstaged form must verify.
    answer = shop.get(shop.path("/settings/distribution"), signed_path=shop.path("/settings/distribution"))
    assert answer.status == 200


def test_oversized_body_400(shop: ShopCaller) -> None:
    answer = shop.put(
        shop.path("/settings/distribution"), raw=b'{"promotion_rules_text": "' + b"x" * 70000 + b'"}'
    )
    assert answer.status == 400
    assert answer.error["code"] == "body_too_large"


def test_secret_rotation_keeps_the_old_secret_for_the_overlap_only(api: Api, shop: ShopCaller) -> None:
    from datetime import timedelta

    from fenxiao import clock

    old = shop.secret
    rotated = api.operator("POST", "/admin/shops/shop1/secret", {"overlap_seconds": 600})
    assert rotated.status == 201
    new = rotated.body["api_secret"]
    assert new != old
    assert shop.get(shop.path("/settings/distribution"), secret=new).status == 200
    assert shop.get(shop.path("/settings/distribution"), secret=old).status == 200  # within the overlap
    clock.set_now(clock.now() + timedelta(seconds=601))
    assert shop.get(shop.path("/settings/distribution"), secret=old).status == 401
    assert shop.get(shop.path("/settings/distribution"), secret=new).status == 200
    assert api.operator("POST", "/admin/shops/nobody/secret").status == 404
    assert api.operator("POST", "/admin/shops/shop1/secret", token="x").status == 401
    assert api.operator("POST", "/admin/shops/shop1/secret", {"overlap_seconds": -1}).status == 400
