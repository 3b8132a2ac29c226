"""The distribution centre over the local stack (SPEC §9): a distributor gets a code and a poster through
presigned URLs served over HTTP by the stack's S3 stand-in, the poster's QR code decodes to the member's
scene, a friend binds through the scene, and a repeat request fetches and renders nothing; the preview equals
what the friend's order then earns, the centre's lists add up to the balances, and twenty first requests for a
code make one scene and one WeChat call."""

from __future__ import annotations

import io
import json
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest

from fenxiao_local.client import OperatorClient, ShopClient, StandinClient, http_request
from tests.support.e2e import TOKEN, Running, ok, transaction_success, wait_until

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


# ---------------------------------------------------------------- the centre's money, end to end


def _metric_total(running: Running, name: str, shop_id: str) -> int:
    """What the stack's embedded-metric-format lines (its stdout) counted of ``name`` for ``shop_id``."""
    total = 0
    for line in list(running.stdout):
        if not line.startswith("{") or f'"{name}"' not in line:
            continue
        blob = json.loads(line)
        if blob.get("shop_id") == shop_id:
            value = blob[name]
            total += int(sum(value) if isinstance(value, list) else value)
    return total


def _all_pages(shop: ShopClient, path: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = "&".join(p for p in ("limit=2", f"cursor={cursor}" if cursor else "") if p)
        page = ok(shop.request("GET", f"{path}{'&' if '?' in path else '?'}{query}"))
        entries += page["entries"]
        cursor = page["next_cursor"]
        if cursor is None:
            return entries


def test_a_poster_earns_what_its_preview_said_and_the_lists_add_up(stack: Running) -> None:
    from concurrent.futures import ThreadPoolExecutor

    operator = OperatorClient(stack.api, TOKEN)
    standin_url = stack.api.rsplit(":", 1)[0] + ":" + str(int(stack.api.rsplit(":", 1)[1]) + 1)
    standin = StandinClient(standin_url)
    offset = {"seconds": 0.0}  # the mall's clock follows the stack's (moved past the freeze below)
    secret = ok(operator.create_shop("earn", "Earning shop"), 201)["api_secret"]
    shop = ShopClient(stack.api, "earn", secret, clock=lambda: time.time() + offset["seconds"])

    def calls() -> dict[str, Any]:
        return dict(ok(http_request("GET", standin_url + "/standin/miniprogram/calls")))

    keys = ok(standin.keys())["wechatpay_settings"]
    ok(shop.request("PUT", shop.path("/settings/wechatpay"), keys))
    ok(shop.request("PUT", shop.path("/settings/miniprogram"), MINIPROGRAM))
    rules = {
        "rates": {"level1_bp": 1000, "level2_bp": 500, "self_bp": 300},
        "eligibility": {"mode": "purchases"},  # distributors only by grant here
        "settlement": {"basis": "payment", "freeze_days": 7, "withdraw_min_fen": 100},
    }
    ok(shop.request("PUT", shop.path("/settings/distribution"), rules))
    ok(
        shop.request(
            "PUT", shop.path("/products/tea/rates"), {"level1_bp": 1500, "level2_bp": 0, "self_bp": 500}
        )
    )
    ok(shop.request("PUT", shop.path("/members/d1/distributor"), {"active": True}))

    # the distributor's poster: the QR in the fetched image is d1's scene
    before = calls()
    poster_body = {"purpose": "promote", "nickname": "代言人"}
    poster = ok(shop.request("POST", shop.path("/members/d1/posters"), poster_body))
    assert (poster["width"], poster["height"], poster["content_type"]) == (750, 1334, "image/png")
    image = _fetch(poster["image_url"])
    (scene,) = _decoded(image)
    code = ok(shop.request("POST", shop.path("/members/d1/promotion-codes"), {"purpose": "promote"}))
    assert code["scene"] == scene and _decoded(_fetch(code["image_url"])) == [scene]
    made = calls()
    assert made.get("getwxacodeunlimit", 0) - before.get("getwxacodeunlimit", 0) == 1, (before, made)
    assert _metric_total(stack, "PosterRendered", "earn") == 1
    assert _metric_total(stack, "MiniProgramCodeFetched", "earn") == 1

    # 分销赚 / 自购返 as the product page shows them, before anyone buys
    items = [{"product_id": "tea", "price_fen": 12345}, {"product_id": "cup", "price_fen": 999}]
    preview = ok(shop.request("POST", shop.path("/earnings"), {"member_id": "d1", "items": items}))
    share = {i["product_id"]: i["share_earn_fen"] for i in preview["items"]}
    own = {i["product_id"]: i["self_earn_fen"] for i in preview["items"]}
    assert all(share.values()) and all(own.values()), preview

    # a friend scans it and binds; the friend buys one of each, d1 buys a tea
    assert ok(shop.request("GET", shop.path(f"/scenes/{scene}")))["member_id"] == "d1"
    bound = ok(shop.request("POST", shop.path("/members/friend/inviter"), {"scene": scene}), 201)
    assert bound["inviter_id"] == "d1"
    orders = {
        "o1": ("friend", [("l1", "tea", 12345), ("l2", "cup", 999)]),
        "o2": ("d1", [("l1", "tea", 12345)]),
    }
    paid_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    for n, (order_id, (buyer, lines)) in enumerate(orders.items()):
        total = sum(price for _, _, price in lines)
        body = {
            "buyer_id": buyer,
            "lines": [{"line_id": i, "product_id": p, "quantity": 1, "paid_fen": f} for i, p, f in lines],
            "shipping_fen": 0,
            "total_fen": total,
        }
        ok(shop.request("PUT", shop.path(f"/orders/{order_id}"), body), 201)
        paid = transaction_success(keys, order_id, f"42000000000000000000000{n:05d}", total, paid_at)
        ok(standin.notify("earn", "TRANSACTION.SUCCESS", paid))

    def commissions(order_id: str) -> Any:
        view = ok(shop.request("GET", shop.path(f"/orders/{order_id}")))
        return view["commissions"] if view["status"] == "paid" else None

    earned = {o: wait_until(lambda o=o: commissions(o), f"order {o} paid") for o in orders}
    d1_level1 = sum(c["amount_fen"] for c in earned["o1"] if c["member_id"] == "d1" and c["tier"] == "level1")
    d1_self = sum(c["amount_fen"] for c in earned["o2"] if c["member_id"] == "d1" and c["tier"] == "self")
    assert d1_level1 == share["tea"] + share["cup"]
    assert d1_self == own["tea"]

    # settled past the freeze, part withdrawn through the stand-in
    due = paid_at + timedelta(days=7, seconds=1)
    ok(operator.run_job("settlement", due.isoformat()))
    offset["seconds"] = due.timestamp() - time.time()
    total_earned = d1_level1 + d1_self
    member = ok(shop.request("GET", shop.path("/members/d1")))
    assert member["balance"]["available_fen"] == total_earned, member
    withdrawal = {"withdrawal_id": "w1", "amount_fen": 500, "openid": "oD1"}
    ok(shop.request("POST", shop.path("/members/d1/withdrawals"), withdrawal), 202)

    def withdrawn() -> Any:
        got = ok(shop.request("GET", shop.path("/members/d1/withdrawals/w1")))
        return got if got["status"] == "succeeded" else None

    single = wait_until(withdrawn, "withdrawal w1 paid by the stand-in")

    # the centre's lists agree with the member's balances
    balance = ok(shop.request("GET", shop.path("/members/d1")))["balance"]
    assert balance == {
        "frozen_fen": 0,
        "available_fen": total_earned - 500,
        "withdrawing_fen": 0,
        "withdrawn_fen": 500,
    }
    ledger = _all_pages(shop, shop.path("/members/d1/ledger"))
    sums = {bucket: 0 for bucket in balance}
    for entry in ledger:
        sums[entry["bucket"]] += entry["amount_fen"]
    assert sums == balance, ledger
    assert [e["member_id"] for e in _all_pages(shop, shop.path("/members/d1/fans?level=1"))] == ["friend"]
    assert _all_pages(shop, shop.path("/members/d1/fans?level=2")) == []
    assert _all_pages(shop, shop.path("/members/d1/withdrawals")) == [single]

    # the repeat: the same poster and code, nothing fetched from WeChat, nothing rendered
    seen = calls()
    again = ok(shop.request("POST", shop.path("/members/d1/posters"), poster_body))
    assert _fetch(again["image_url"]) == image
    assert (
        ok(shop.request("POST", shop.path("/members/d1/promotion-codes"), {"purpose": "promote"}))["scene"]
        == scene
    )
    assert calls() == seen
    assert _metric_total(stack, "PosterRendered", "earn") == 1
    assert _metric_total(stack, "MiniProgramCodeFetched", "earn") == 1

    # twenty first requests at once for another distributor's code: one scene, one WeChat call
    ok(shop.request("PUT", shop.path("/members/d2/distributor"), {"active": True}))
    first = calls()
    path = shop.path("/members/d2/promotion-codes")
    barrier = threading.Barrier(20)

    def first_request(_: int) -> tuple[int, Any]:
        barrier.wait(timeout=30)
        for attempt in range(6):
            try:
                return shop.request("POST", path, {"purpose": "invite"})
            except OSError:  # the local server's listen backlog is small: 20 connects at once overflow it
                # Safe to send again: a repeat answers the same scene and stored code.
                time.sleep(0.1 * (attempt + 1))
        return shop.request("POST", path, {"purpose": "invite"})

    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(first_request, range(20)))
    assert {status for status, _ in answers} == {200}, answers
    assert len({body["scene"] for _, body in answers}) == 1
    after = calls()
    assert after["getwxacodeunlimit"] - first["getwxacodeunlimit"] == 1, (first, after)
    assert _metric_total(stack, "MiniProgramCodeFetched", "earn") == 2
    assert ok(operator.run_job("audit"))["differences"] == []


def test_the_demo_writes_the_demo_members_poster_and_prints_its_path(stack: Running) -> None:
    import re
    from pathlib import Path

    from tests.support.e2e import run_demo

    demo = run_demo(stack.api, TOKEN)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    (line,) = [line for line in demo.stdout.splitlines() if "member-a's poster" in line]
    found = re.search(r"\(750×1334, \d+ KB\): (\S+\.png)$", line)
    assert found, line
    image = Path(found.group(1)).read_bytes()
    (scene,) = _decoded(image)
    shop_id = demo.stdout.rsplit("[demo] done: shop ", 1)[1].split()[0]
    assert Path(found.group(1)).name == f"fenxiao-demo-poster-{shop_id}.png"
    assert len(scene) <= 32 and image.startswith(b"\x89PNG")
