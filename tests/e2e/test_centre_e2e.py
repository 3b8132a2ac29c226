"""The distribution centre over the local stack (SPEC §9): a distributor gets a code and a poster through
presigned URLs served over HTTP by the stack's S3 stand-in, the poster's QR code decodes to the member's
scene, a friend binds through the scene, and a repeat request fetches and renders nothing."""

from __future__ import annotations

import io
import urllib.request
from typing import Any
from urllib.parse import urlsplit

import pytest

from fenxiao_local.client import OperatorClient, ShopClient, http_request
from tests.support.e2e import TOKEN, Running, ok

pytestmark = pytest.mark.e2e

MINIPROGRAM = {
    "appid": "wxe2e0000000000002",
    "appsecret": "e2e-centre-appsecret-0000",
    "env_version": "trial",
}


def _fetch(url: str) -> bytes:
    assert url.startswith("http://127.0.0.1:"), url  # the local stack's own S3 endpoint
    with urllib.request.urlopen(url, timeout=10) as answer:
        assert answer.status == 200
        return bytes(answer.read())


def _decoded(image: bytes) -> list[str]:
    import zxingcpp
    from PIL import Image

    return [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(image)))]


def _object_count(image_url: str) -> int:
    """Objects in the stack's media bucket, listed at the S3 endpoint the presigned URL points at."""
    import boto3

    parts = urlsplit(image_url)
    bucket = parts.path.split("/")[1]
    s3 = boto3.client(
        "s3",
        endpoint_url=f"{parts.scheme}://{parts.netloc}",
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    return int(s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0))


def test_a_distributor_shares_a_poster_and_a_friend_binds_through_its_code(stack: Running) -> None:
    api = stack.api
    standin = api.rsplit(":", 1)[0] + ":" + str(int(api.rsplit(":", 1)[1]) + 1)
    secret = ok(OperatorClient(api, TOKEN).create_shop("centre", "Centre shop"), 201)["api_secret"]
    shop = ShopClient(api, "centre", secret)

    def calls() -> dict[str, Any]:
        return dict(ok(http_request("GET", standin + "/standin/miniprogram/calls")))

    ok(shop.request("PUT", shop.path("/settings/miniprogram"), MINIPROGRAM))
    background = {"mode": "custom", "image_url": f"{standin}/images/background.png"}
    poster_layout = {**background, "code": {"x": 175, "y": 600, "size": 400}}
    ok(shop.request("PUT", shop.path("/settings/distribution"), {"ui": {"poster": poster_layout}}))
    ok(shop.request("PUT", shop.path("/members/m1/distributor"), {"active": True}))

    code = ok(shop.request("POST", shop.path("/members/m1/promotion-codes"), {"purpose": "promote"}))
    scene = code["scene"]
    assert _decoded(_fetch(code["image_url"])) == [scene]
    poster = ok(
        shop.request("POST", shop.path("/members/m1/posters"), {"purpose": "promote", "nickname": "小明"})
    )
    assert (poster["width"], poster["height"], poster["content_type"]) == (750, 1334, "image/png")
    image = _fetch(poster["image_url"])
    assert _decoded(image) == [scene]
    seen = calls()
    assert seen.get("getwxacodeunlimit") == 1 and seen.get("images") == 1, seen
    objects = _object_count(poster["image_url"])
    assert objects == 3  # the code, the fetched background, the poster

    # the repeat: the same code and poster, nothing fetched, nothing rendered
    again = ok(
        shop.request("POST", shop.path("/members/m1/posters"), {"purpose": "promote", "nickname": "小明"})
    )
    assert _fetch(again["image_url"]) == image
    assert (
        ok(shop.request("POST", shop.path("/members/m1/promotion-codes"), {"purpose": "promote"}))["scene"]
        == scene
    )
    assert calls() == seen and _object_count(poster["image_url"]) == objects

    # the friend scans it: the mall reads the scene and binds
    assert ok(shop.request("GET", shop.path(f"/scenes/{scene}"))) == {
        "scene": scene,
        "member_id": "m1",
        "purpose": "promote",
    }
    bound = ok(shop.request("POST", shop.path("/members/friend/inviter"), {"scene": scene}), 201)
    assert bound["inviter_id"] == "m1"
    assert ok(shop.request("GET", shop.path("/members/m1")))["fans"]["level1"] == 1

    # WeChat's rate limit: 502 with its errcode, nothing stored, and the retry works
    ok(
        http_request(
            "POST",
            standin + "/standin/miniprogram/faults",
            b'{"codes": [45009]}',
            {"Content-Type": "application/json"},
        )
    )
    ok(shop.request("PUT", shop.path("/members/m2/distributor"), {"active": True}))
    failed = shop.request("POST", shop.path("/members/m2/promotion-codes"), {"purpose": "invite"})
    assert failed[0] == 502 and failed[1]["error"]["errcode"] == 45009, failed
    assert _object_count(poster["image_url"]) == objects
    ok(shop.request("POST", shop.path("/members/m2/promotion-codes"), {"purpose": "invite"}))
