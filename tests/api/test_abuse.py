"""Abuse of the Shop API, the operator API and the notification endpoint (SPEC §7): signature probes, replays,
stale requests, other shops' paths, oversized and malformed bodies. Every rejection is a 4xx in the SPEC's
error shape (WeChat Pay's own shape on the notification endpoint), never a 5xx, and stores nothing."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from fenxiao import clock
from fenxiao.api.auth import sign
from fenxiao.api.http import MAX_BODY_BYTES
from tests.support import wechatpay as wx
from tests.support.abuse import OPENID, Fingerprint, World, assert_spec_error, build_world
from tests.support.app import Answer, Api, ShopCaller, _answer
from tests.support.stack import OPERATOR_TOKEN, ROOT

pytestmark = pytest.mark.api

DOC: dict[str, Any] = json.loads((ROOT / "docs" / "openapi.json").read_text(encoding="utf-8"))
ROUTES = sorted((path, method.upper()) for path, item in DOC["paths"].items() for method in item)
SHOP_ROUTES = [(p, m) for p, m in ROUTES if p.startswith("/shops/")]
OPERATOR_ROUTES = [(p, m) for p, m in ROUTES if p.startswith("/admin/")]
BODY_ROUTES = [(p, m) for p, m in ROUTES if "requestBody" in DOC["paths"][p][m.lower()]]
NOTIFY = "/wechatpay/notify/{shop_id}"

IDS = {
    "member_id": "m-b",
    "order_id": "o-1",
    "product_id": "p-1",
    "out_refund_no": "r-9",
    "withdrawal_id": "w-1",
    "board": "weekly",
    "job": "audit",
    "scene": "pAbc123",
}

# A valid body of each request model, so that a rejection is for the reason probed and no other.
VALID_BODIES: dict[str, Any] = {
    "CreateShop": {"shop_id": "shop9", "name": "Nine"},
    "RotateSecret": {"overlap_seconds": 60},
    "RunJob": {},
    "DistributionSettings": {"enabled": False, "rates": {"level1_bp": 900, "level2_bp": 400, "self_bp": 100}},
    "ProductRates": {"level1_bp": 100, "level2_bp": 50, "self_bp": 10},
    "MembershipSettings": {"signin_growth": 5},
    "WechatPaySettings": wx.wechatpay_settings(),
    "MiniProgramSettings": {"appid": "wx1234567890abcdef", "appsecret": "s" * 32},
    "InviterIn": {"inviter_id": "m-a"},
    "PromotionCodeIn": {"purpose": "promote"},
    "PosterIn": {"purpose": "invite", "nickname": "小明"},
    "DistributorIn": {"active": False},
    "GrowthEventIn": {"type": "signin"},
    "WithdrawalIn": {"withdrawal_id": "w-9", "amount_fen": 200, "openid": OPENID},
    "OrderIn": {
        "buyer_id": "m-c",
        "lines": [{"line_id": "l1", "product_id": "p-1", "quantity": 1, "paid_fen": 100}],
        "shipping_fen": 0,
        "total_fen": 100,
    },
    "RefundSplitIn": {"lines": [{"line_id": "l1", "refund_fen": 100}]},
    "ApprovalIn": {"approve": False, "reason": "not this time"},
    "EarningsIn": {"member_id": "m-a", "items": [{"product_id": "p-1", "price_fen": 100}]},
}


def model_of(path: str, method: str) -> str | None:
    body = DOC["paths"][path][method.lower()].get("requestBody")
    return (
        None
        if body is None
        else str(body["content"]["application/json"]["schema"]["$ref"]).rsplit("/", 1)[-1]
    )


def concrete(path: str, shop_id: str = "shop1") -> str:
    out = path.replace("{shop_id}", shop_id)
    for name, value in IDS.items():
        out = out.replace("{" + name + "}", value)
    assert "{" not in out, out
    return out


def valid_body(path: str, method: str) -> bytes:
    model = model_of(path, method)
    if model is None:
        return b""
    if model not in VALID_BODIES:
        pytest.fail(f"tests/api/test_abuse.py: no valid example body of {model} in VALID_BODIES")
    return json.dumps(VALID_BODIES[model]).encode()


def request(api: Api, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> Answer:
    return _answer(api.client.http.request(method, path, headers=headers, body=body))


def signed_headers(
    secret: str, method: str, path: str, body: bytes, *, shop_id: str = "shop1", ts: int | None = None
) -> dict[str, str]:
    stamp = str(int(clock.unix_now()) if ts is None else ts)
    return {
        "Content-Type": "application/json",
        "X-Shop-Id": shop_id,
        "X-Timestamp": stamp,
        "X-Signature": sign(secret, stamp, method, path, body),
    }


def operator_headers() -> dict[str, str]:
    return {"Content-Type": "application/json", "Authorization": f"Bearer {OPERATOR_TOKEN}"}


def signed_notification_headers(body: bytes) -> dict[str, str]:
    from fenxiao.adapters.wechatpay_crypto import notification_headers

    keys = wx.keys()
    headers = notification_headers(
        keys.platform_private_key, keys.platform_public_key_id, body, int(clock.unix_now()), "n" * 32
    )
    return {**headers, "Content-Type": "application/json"}


@pytest.fixture
def two_shops(api: Api) -> tuple[ShopCaller, ShopCaller]:
    shop = api.create_shop("shop1")
    assert shop.put(shop.path("/settings/wechatpay"), wx.wechatpay_settings()).status == 200
    return shop, api.create_shop("shop2")


@pytest.fixture
def fingerprint(aws_env: dict[str, str]) -> Fingerprint:
    return Fingerprint(aws_env)


def rejected(answer: Answer, status: int, code: str | None, *context: Any) -> dict[str, Any]:
    assert answer.status == status, (answer.status, answer.body, *context)
    error = assert_spec_error(answer, context)
    if code is not None:
        assert error["code"] == code, (error, *context)
    return error


# ---------------------------------------------------------------- signature probes


def _probes(secret: str, method: str, path: str, body: bytes) -> list[tuple[str, dict[str, str], str]]:
    """(what, headers, expected code) of requests that must be refused with 401."""
    good = signed_headers(secret, method, path, body)
    ts = good["X-Timestamp"]
    mac = good["X-Signature"]
    out: list[tuple[str, dict[str, str], str]] = []
    for i, random_mac in enumerate(["0" * 64, "f" * 64, mac[::-1], "%064x" % (int(mac, 16) ^ 1)]):
        out.append((f"random signature {i}", {**good, "X-Signature": random_mac}, "bad_signature"))
    out += [
        ("truncated signature", {**good, "X-Signature": mac[:-1]}, "bad_signature"),
        ("half a signature", {**good, "X-Signature": mac[:32]}, "bad_signature"),
        ("signature and more", {**good, "X-Signature": mac + "00"}, "bad_signature"),
        ("base64, not hex", {**good, "X-Signature": "c2lnbmF0dXJl"}, "bad_signature"),
        ("non-ASCII signature", {**good, "X-Signature": "é" * 64}, "bad_signature"),
        ("empty signature", {**good, "X-Signature": ""}, "missing_signature"),
        ("no signature", {k: v for k, v in good.items() if k != "X-Signature"}, "missing_signature"),
        ("no timestamp", {k: v for k, v in good.items() if k != "X-Timestamp"}, "missing_signature"),
        ("no shop id", {k: v for k, v in good.items() if k != "X-Shop-Id"}, "missing_signature"),
        ("other secret", signed_headers("not-the-secret", method, path, body), "bad_signature"),
        (
            "other method",
            signed_headers(secret, "PATCH" if method != "PATCH" else "GET", path, body),
            "bad_signature",
        ),
        ("other path", signed_headers(secret, method, path + "x", body), "bad_signature"),
        ("other body", signed_headers(secret, method, path, body + b" "), "bad_signature"),
        ("timestamp not signed", {**good, "X-Timestamp": str(int(ts) - 1)}, "bad_signature"),
        ("timestamp not a number", {**good, "X-Timestamp": "yesterday"}, "bad_timestamp"),
        ("timestamp with a fraction", {**good, "X-Timestamp": ts + ".5"}, "bad_timestamp"),
        ("timestamp of 5000 digits", {**good, "X-Timestamp": "9" * 5000}, "bad_timestamp"),
        ("unknown shop", {**good, "X-Shop-Id": "nobody"}, "bad_signature"),
        ("shop id of 65 characters", {**good, "X-Shop-Id": "s" * 65}, "bad_signature"),
        ("non-ASCII shop id", {**good, "X-Shop-Id": "商店"}, "bad_signature"),
        ("full-width digits in the timestamp", {**good, "X-Timestamp": "１７００"}, "bad_timestamp"),
        ("shop2 named, shop1's secret", {**good, "X-Shop-Id": "shop2"}, "bad_signature"),
    ]
    # Signed over exactly the odd text: int() reads each as the current time, SPEC §10 allows [0-9]{1,12} only.
    arabic_indic = ts.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    for odd in (f"+{ts}", f"{ts[:4]}_{ts[4:]}", f"{ts}.0", f" {ts}", f"{ts} ", arabic_indic, f"0{ts:0>12}"):
        signed = {**good, "X-Timestamp": odd, "X-Signature": sign(secret, odd, method, path, body)}
        out.append((f"timestamp {odd!r}, signed", signed, "bad_timestamp"))
    return out


@pytest.mark.parametrize(
    ("method", "rest", "model"),
    [
        ("GET", "/settings/distribution", None),
        ("PUT", "/orders/o-9", "OrderIn"),
        ("POST", "/members/m-9/inviter", "InviterIn"),
    ],
)
def test_signature_probes_are_401_and_store_nothing(
    api: Api,
    two_shops: tuple[ShopCaller, ShopCaller],
    fingerprint: Fingerprint,
    method: str,
    rest: str,
    model: str | None,
) -> None:
    shop, _ = two_shops
    path = shop.path(rest)
    body = json.dumps(VALID_BODIES[model]).encode() if model else b""
    before = fingerprint.take()
    for what, headers, code in _probes(shop.secret, method, path, body):
        rejected(request(api, method, path, headers, body), 401, code, what)
    assert fingerprint.take() == before
    # the same request, signed right, goes through: the probes were refused for their signature alone
    assert request(api, method, path, signed_headers(shop.secret, method, path, body), body).status in (
        200,
        201,
    )


def test_hex_signature_is_case_insensitive_and_trimmed(
    api: Api, two_shops: tuple[ShopCaller, ShopCaller]
) -> None:
    """auth.py compares the lower-cased, stripped header: upper-case hex is the same MAC, not a new one."""
    shop, _ = two_shops
    path = shop.path("/settings/distribution")
    headers = signed_headers(shop.secret, "GET", path, b"")
    for variant in (headers["X-Signature"].upper(), f"  {headers['X-Signature']}  "):
        assert request(api, "GET", path, {**headers, "X-Signature": variant}).status == 200


def test_stale_and_future_signed_requests_are_401_and_store_nothing(
    api: Api, two_shops: tuple[ShopCaller, ShopCaller], fingerprint: Fingerprint
) -> None:
    shop, _ = two_shops
    mutations = [
        ("PUT", shop.path("/orders/o-9"), json.dumps(VALID_BODIES["OrderIn"]).encode()),
        ("POST", shop.path("/members/m-9/inviter"), json.dumps({"inviter_id": "m-8"}).encode()),
        ("PUT", shop.path("/settings/distribution"), json.dumps({"enabled": False}).encode()),
    ]
    before = fingerprint.take()
    for method, path, body in mutations:
        # each timestamp from the clock as it is when signed: a future one must stay beyond 300 s until checked
        for skew in (-301, -600, -86_400, 305, 3_600):
            headers = signed_headers(shop.secret, method, path, body, ts=int(clock.unix_now()) + skew)
            rejected(request(api, method, path, headers, body), 401, "stale_timestamp", method, path, skew)
    assert fingerprint.take() == before
    for method, path, body in mutations:  # well within the window: accepted
        headers = signed_headers(shop.secret, method, path, body, ts=int(clock.unix_now()) - 290)
        assert request(api, method, path, headers, body).status in (200, 201)


def test_operator_token_probes_are_401_and_store_nothing(api: Api, fingerprint: Fingerprint) -> None:
    body = json.dumps(VALID_BODIES["CreateShop"]).encode()
    before = fingerprint.take()
    for what, value in [
        ("no header", None),
        ("empty", ""),
        ("scheme only", "Bearer"),
        ("basic scheme", f"Basic {OPERATOR_TOKEN}"),
        ("prefix of the token", f"Bearer {OPERATOR_TOKEN[:-1]}"),
        ("token and more", f"Bearer {OPERATOR_TOKEN}x"),
        ("non-ASCII token", "Bearer " + "é" * 36),
        ("upper-cased token", f"Bearer {OPERATOR_TOKEN.upper()}"),
    ]:
        headers = {"Content-Type": "application/json"}
        if value is not None:
            headers["Authorization"] = value
        rejected(request(api, "POST", "/admin/shops", headers, body), 401, None, what)
    assert fingerprint.take() == before


# ---------------------------------------------------------------- replays


@pytest.fixture
def world(api: Api, aws_env: dict[str, str]) -> World:
    return build_world(api, aws_env)


REPLAYED = [
    ("PUT", "/orders/o-9", VALID_BODIES["OrderIn"]),
    ("POST", "/members/m-new/inviter", {"inviter_id": "m-a"}),
    ("POST", "/members/m-a/growth-events", {"type": "signin"}),
    ("POST", "/members/m-a/growth-events", {"type": "review", "ref": "review-1"}),
    ("PUT", "/members/m-c/distributor", {"active": False}),
    ("POST", "/members/m-a/withdrawals", {"withdrawal_id": "w-2", "amount_fen": 200, "openid": OPENID}),
    ("POST", "/withdrawals/w-1/approval", {"approve": False, "reason": "not this time"}),
    ("PUT", "/orders/o-1/refunds/r-1", {"lines": [{"line_id": "l1", "refund_fen": 100}]}),
    ("POST", "/orders/o-1/completion", None),
    ("DELETE", "/products/p-2/rates", None),
]
# Settings are versioned: a replay stores one more version with the same document (the settings in force
# do not change), and the WeChat Pay secrets are encrypted again.
REPLAYED_SETTINGS = [
    ("PUT", "/settings/distribution", {"enabled": False, "promotion_rules_text": "replayed"}),
    ("PUT", "/settings/membership", {"signin_growth": 7}),
    ("PUT", "/products/p-2/rates", {"level1_bp": 10, "level2_bp": 5, "self_bp": 1}),
    ("PUT", "/settings/wechatpay", wx.wechatpay_settings()),
]


def _without_time(view: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in view.items() if k != "updated_at"}


def _tables(fp: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fp.items() if "Queue" not in k}


def test_replayed_signed_requests_have_no_extra_effect(
    api: Api, world: World, fingerprint: Fingerprint
) -> None:
    """The same signed request twice within the window: the second changes nothing that is stored (it may
    nudge the order queue again: a nudge makes the consumer re-read and converge, harmless by design)."""
    shop = world.shop
    for method, rest, payload in REPLAYED:
        path = shop.path(rest)
        body = b"" if payload is None else json.dumps(payload).encode()
        headers = signed_headers(shop.secret, method, path, body)
        first = request(api, method, path, headers, body)
        assert first.status in (200, 201, 202, 204), (method, rest, first.status, first.body)
        after_first = fingerprint.take()
        second = request(api, method, path, headers, body)
        after_second = fingerprint.take()
        assert second.status < 500, (method, rest, second.status, second.body)
        if second.status >= 400:  # a delete replayed: nothing left to delete
            rejected(second, 404, None, method, rest)
        else:  # a create replayed answers as the same request again: 200, or the first answer's status
            assert second.status in (200, first.status), (method, rest, second.status, second.body)
        assert _tables(after_second) == _tables(after_first), (
            method,
            rest,
            Fingerprint.changes(after_first, after_second),
        )


def test_replayed_settings_puts_leave_the_settings_in_force_as_they_were(
    api: Api, world: World, fingerprint: Fingerprint
) -> None:
    shop = world.shop
    for method, rest, payload in REPLAYED_SETTINGS:
        path = shop.path(rest)
        body = json.dumps(payload).encode()
        headers = signed_headers(shop.secret, method, path, body)
        first = request(api, method, path, headers, body)
        assert first.status == 200, (rest, first.body)
        in_force = shop.get(path).body if method == "PUT" and rest.startswith("/settings/") else None
        after_first = fingerprint.take()
        second = request(api, method, path, headers, body)
        after_second = fingerprint.take()
        assert second.status == 200, (rest, second.body)
        assert _without_time(second.body) == _without_time(first.body), rest
        if in_force is not None:
            assert _without_time(shop.get(path).body) == _without_time(in_force), rest
        changed = set(Fingerprint.changes(_tables(after_first), _tables(after_second)))
        assert all("ConfigTable" in t or "ShopsTable" in t for t in changed), changed


def test_replaying_an_older_settings_put_does_not_revert_a_newer_one(
    api: Api, world: World, fingerprint: Fingerprint
) -> None:
    """SPEC §7's signature has no nonce: an eavesdropper may resend a captured request for 300 s. A write to a
    last-writer-wins resource signed before the newest accepted one is refused (fenxiao.api.ordering)."""
    shop = world.shop
    path = shop.path("/settings/distribution")
    old = json.dumps({"enabled": False}).encode()
    old_headers = signed_headers(shop.secret, "PUT", path, old, ts=int(clock.unix_now()) - 10)
    assert request(api, "PUT", path, old_headers, old).status == 200
    assert shop.put(path, {"enabled": True}).status == 200
    before = fingerprint.take()
    replay = request(api, "PUT", path, old_headers, old)  # within the window
    rejected(replay, 409, "stale_request", "PUT", path)
    assert replay.error["field"] == "X-Timestamp"
    assert shop.get(path).body["enabled"] is True
    assert fingerprint.take() == before


@pytest.mark.parametrize(
    ("rest", "older", "newer"),
    [
        ("/members/fan1/distributor", {"active": True}, {"active": False}),
        (
            "/products/p-ordered/rates",
            {"level1_bp": 900, "level2_bp": 0, "self_bp": 0},
            {"level1_bp": 100, "level2_bp": 0, "self_bp": 0},
        ),
    ],
)
def test_every_last_writer_wins_resource_refuses_an_older_signed_write(
    api: Api, world: World, fingerprint: Fingerprint, rest: str, older: dict[str, Any], newer: dict[str, Any]
) -> None:
    shop = world.shop
    path = shop.path(rest)
    now = int(clock.unix_now())

    def put(body: dict[str, Any], ts: int) -> Answer:
        raw = json.dumps(body).encode()
        return request(api, "PUT", path, signed_headers(shop.secret, "PUT", path, raw, ts=ts), raw)

    for body, ts in ((older, now - 20), (newer, now - 5)):
        assert put(body, ts).status in (200, 201)
    before = fingerprint.take()
    rejected(put(older, now - 20), 409, "stale_request", "PUT", path)  # the captured older request again
    assert fingerprint.take() == before
    if "members" in rest:
        assert shop.get(shop.path("/members/fan1")).body["is_distributor"] is False
    # the mall's own request, signed now, applies as usual
    assert put(older, now).status in (200, 201)
    if "members" in rest:
        assert shop.get(shop.path("/members/fan1")).body["is_distributor"] is True


def test_writes_signed_in_the_same_second_apply_in_arrival_order(api: Api, world: World) -> None:
    shop = world.shop
    path = shop.path("/settings/distribution")
    ts = int(clock.unix_now())
    for enabled in (False, True):
        raw = json.dumps({"enabled": enabled}).encode()
        answer = request(api, "PUT", path, signed_headers(shop.secret, "PUT", path, raw, ts=ts), raw)
        assert answer.status == 200, answer
    assert shop.get(path).body["enabled"] is True
    raw = json.dumps({"enabled": False, "promotion_rules_text": "third"}).encode()
    answer = request(api, "PUT", path, signed_headers(shop.secret, "PUT", path, raw, ts=ts), raw)
    assert answer.status == 200, answer
    assert shop.get(path).body["promotion_rules_text"] == "third"


def test_a_body_applied_earlier_in_the_same_second_is_not_applied_again(
    api: Api, world: World, fingerprint: Fingerprint
) -> None:
    """SPEC §10: `A, B, A` signed in one second leaves B; the third is a replay of an applied body (409
    ``stale_request``, nothing stored). The newest body retried answers as it did (200)."""
    shop = world.shop
    path = shop.path("/settings/distribution")
    ts = int(clock.unix_now())
    a = json.dumps({"enabled": False}).encode()
    b = json.dumps({"enabled": True}).encode()
    a_headers = signed_headers(shop.secret, "PUT", path, a, ts=ts)
    b_headers = signed_headers(shop.secret, "PUT", path, b, ts=ts)
    assert request(api, "PUT", path, a_headers, a).status == 200
    first_b = request(api, "PUT", path, b_headers, b)
    assert first_b.status == 200, first_b
    before = fingerprint.take()
    replay = request(api, "PUT", path, a_headers, a)
    rejected(replay, 409, "stale_request", "PUT", path)
    assert replay.error["field"] == "X-Timestamp"
    assert shop.get(path).body["enabled"] is True
    assert fingerprint.take() == before
    again = request(api, "PUT", path, b_headers, b)  # the mall's retry of the write in force
    assert again.status == 200, again
    assert _without_time(again.body) == _without_time(first_b.body)
    assert shop.get(path).body["enabled"] is True


def test_a_delete_between_two_identical_puts_in_one_second_is_not_undone(api: Api, world: World) -> None:
    """The method is part of what was applied: PUT rates, DELETE rates, PUT rates again (a replay) in one
    second leaves the rates deleted."""
    shop = world.shop
    path = shop.path("/products/p-same/rates")
    ts = int(clock.unix_now())
    rates = json.dumps({"level1_bp": 900, "level2_bp": 0, "self_bp": 0}).encode()
    put_headers = signed_headers(shop.secret, "PUT", path, rates, ts=ts)
    assert request(api, "PUT", path, put_headers, rates).status in (200, 201)
    deleted = request(api, "DELETE", path, signed_headers(shop.secret, "DELETE", path, b"", ts=ts))
    assert deleted.status in (200, 204), deleted
    rejected(request(api, "PUT", path, put_headers, rates), 409, "stale_request", "PUT", path)


def test_a_rejected_write_leaves_no_mark(api: Api, world: World, fingerprint: Fingerprint) -> None:
    """A write refused for its content stores nothing, the ordering mark included: the same resource then
    takes a write signed earlier than the refused one."""
    shop = world.shop
    path = shop.path("/settings/distribution")
    now = int(clock.unix_now())
    before = fingerprint.take()
    bad = json.dumps({"rates": {"level1_bp": 10001}}).encode()
    refused = request(api, "PUT", path, signed_headers(shop.secret, "PUT", path, bad, ts=now), bad)
    rejected(refused, 400, None, "PUT", path)
    assert fingerprint.take() == before
    good = json.dumps({"enabled": False}).encode()
    earlier = request(api, "PUT", path, signed_headers(shop.secret, "PUT", path, good, ts=now - 30), good)
    assert earlier.status == 200, earlier


def test_a_clock_moved_back_is_not_held_up_by_marks_from_its_future(api: Api, world: World) -> None:
    """The local stack's clock override may move the clock back by days: a mark written 'in the future' can
    belong to no request that verifies now, so it does not refuse the writes signed at the new time."""
    shop = world.shop
    path = shop.path("/settings/distribution")
    assert shop.put(path, {"enabled": False}).status == 200
    clock.set_now(clock.now() - timedelta(days=1))
    assert shop.put(path, {"enabled": True}).status == 200
    assert shop.get(path).body["enabled"] is True


# ---------------------------------------------------------------- other shops' paths


def test_every_shop_route_under_another_shop_is_403_and_stores_nothing(
    api: Api, world: World, fingerprint: Fingerprint
) -> None:
    assert SHOP_ROUTES
    shop = world.shop
    before = fingerprint.take()
    for path, method in SHOP_ROUTES:
        target = concrete(path, shop_id="shop2")
        body = valid_body(path, method)
        answer = request(api, method, target, signed_headers(shop.secret, method, target, body), body)
        rejected(answer, 403, "not_your_shop", method, target)
        # naming shop2 in X-Shop-Id does not help without shop2's secret
        forged = signed_headers(shop.secret, method, target, body, shop_id="shop2")
        rejected(request(api, method, target, forged, body), 401, "bad_signature", method, target)
    assert fingerprint.take() == before


# ---------------------------------------------------------------- oversized bodies


def _oversized(size: int) -> bytes:
    prefix, suffix = b'{"promotion_rules_text": "', b'"}'
    return prefix + b"x" * (size - len(prefix) - len(suffix)) + suffix


def test_oversized_body_is_400_body_too_large_on_every_route(
    api: Api, two_shops: tuple[ShopCaller, ShopCaller], fingerprint: Fingerprint
) -> None:
    shop, _ = two_shops
    body = _oversized(MAX_BODY_BYTES + 1)
    before = fingerprint.take()
    for path, method in ROUTES:
        target = concrete(path)
        if path == NOTIFY:
            answer = request(api, method, target, signed_notification_headers(body), body)
            assert answer.status == 400 and answer.body["code"] == "FAIL", (target, answer.body)
            continue
        headers = (
            signed_headers(shop.secret, method, target, body)
            if path.startswith("/shops/")
            else operator_headers()
        )
        rejected(request(api, method, target, headers, body), 400, "body_too_large", method, target)
    assert fingerprint.take() == before
    at_limit = _oversized(MAX_BODY_BYTES)
    target = shop.path("/settings/distribution")
    answer = request(api, "PUT", target, signed_headers(shop.secret, "PUT", target, at_limit), at_limit)
    assert rejected(answer, 400, "invalid_field", "at the limit")["field"] == "promotion_rules_text"


# ---------------------------------------------------------------- malformed bodies

DEEP_ARRAY = b"[" * 30_000 + b"]" * 30_000
DEEP_OBJECT = b'{"a":' * 9_000 + b"1" + b"}" * 9_000
MALFORMED: dict[str, tuple[bytes, str | None]] = {
    # name: (body, the error code expected; None: any 400 in the SPEC shape)
    "not UTF-8": (b'{"name": "\xff\xfe"}', "invalid_json"),
    "Latin-1": ('{"name": "café"}'.encode("latin-1"), "invalid_json"),
    "UTF-16": ('{"name": "x"}'.encode("utf-16"), "invalid_json"),
    "byte order mark": (b'\xef\xbb\xbf{"a": 1}', "invalid_json"),
    "duplicate keys": (b'{"a": 1, "a": 2}', "invalid_json"),
    "duplicate nested keys": (b'{"x": {"b": true, "b": false}}', "invalid_json"),
    "deeply nested arrays": (DEEP_ARRAY, "invalid_json"),
    "deeply nested objects": (DEEP_OBJECT, "invalid_json"),
    "a number of 5000 digits": (b'{"a": ' + b"7" * 5000 + b"}", "invalid_json"),
    "NaN": (b'{"a": NaN}', "invalid_json"),
    "Infinity": (b'{"a": Infinity}', "invalid_json"),
    "-Infinity": (b'{"a": -Infinity}', "invalid_json"),
    "1e999": (b'{"a": 1e999}', None),
    "trailing garbage": (b'{"a": 1} {"b": 2}', "invalid_json"),
    "truncated": (b'{"a": [1, 2', "invalid_json"),
    "whitespace only": (b" \n\t ", "invalid_json"),
    "an array": (b"[1, 2, 3]", "invalid_body"),
    "a string": (b'"text"', "invalid_body"),
    "null": (b"null", "invalid_body"),
    "a lone surrogate": (b'{"\\ud800": "\\udfff"}', None),
}


@pytest.mark.parametrize("kind", sorted(MALFORMED))
def test_malformed_bodies_are_400_on_every_body_route_and_store_nothing(
    api: Api, two_shops: tuple[ShopCaller, ShopCaller], fingerprint: Fingerprint, kind: str
) -> None:
    shop, _ = two_shops
    body, code = MALFORMED[kind]
    assert len(body) <= MAX_BODY_BYTES
    before = fingerprint.take()
    for path, method in BODY_ROUTES:
        target = concrete(path)
        if path == NOTIFY:
            answer = request(api, method, target, signed_notification_headers(body), body)
            assert answer.status == 400 and answer.body["code"] == "FAIL", (kind, answer.status, answer.body)
            continue
        headers = (
            signed_headers(shop.secret, method, target, body)
            if path.startswith("/shops/")
            else operator_headers()
        )
        rejected(request(api, method, target, headers, body), 400, code, kind, method, target)
    assert fingerprint.take() == before


def test_empty_body_is_400_where_a_body_is_required(
    api: Api, two_shops: tuple[ShopCaller, ShopCaller], fingerprint: Fingerprint
) -> None:
    shop, _ = two_shops
    before = fingerprint.take()
    for path, method in BODY_ROUTES:
        if path == NOTIFY or not DOC["paths"][path][method.lower()]["requestBody"]["required"]:
            continue
        target = concrete(path)
        headers = (
            signed_headers(shop.secret, method, target, b"")
            if path.startswith("/shops/")
            else operator_headers()
        )
        rejected(request(api, method, target, headers, b""), 400, "invalid_body", method, target)
    assert fingerprint.take() == before


def test_content_type_and_method_errors_are_in_the_spec_shape(
    api: Api, two_shops: tuple[ShopCaller, ShopCaller], fingerprint: Fingerprint
) -> None:
    """Chalice answers these before any route runs; they come out in the same shape as every other error."""
    shop, _ = two_shops
    before = fingerprint.take()
    target = shop.path("/orders/o-9")
    body = json.dumps(VALID_BODIES["OrderIn"]).encode()
    for content_type in (
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ):
        headers = {**signed_headers(shop.secret, "PUT", target, body), "Content-Type": content_type}
        error = rejected(
            request(api, "PUT", target, headers, body), 400, "unsupported_media_type", content_type
        )
        assert error["field"] == "Content-Type"
    answer = request(api, "PATCH", target, signed_headers(shop.secret, "PATCH", target, body), body)
    rejected(answer, 405, "method_not_allowed")
    notify = request(api, "POST", "/wechatpay/notify/shop1", {"Content-Type": "text/xml"}, b"<xml/>")
    assert notify.status == 400 and notify.body["code"] == "FAIL", notify.body
    assert fingerprint.take() == before


def test_path_ids_with_a_trailing_newline_are_refused() -> None:
    """Python's "$" matches before a final newline; API Gateway decodes %0A in path parameters."""
    from fenxiao.api.http import checked_id
    from fenxiao.domain.errors import InvalidInput

    assert checked_id("m-1", "member_id") == "m-1"
    for bad in ("m-1\n", "m-1\r\n", "\nm-1", "m 1", "", "x" * 65):
        with pytest.raises(InvalidInput):
            checked_id(bad, "member_id")


# ---------------------------------------------------------------- verified but unreadable notifications


def test_verified_notification_whose_resource_is_not_an_object_is_400(
    api: Api, two_shops: tuple[ShopCaller, ShopCaller], fingerprint: Fingerprint
) -> None:
    from fenxiao.adapters.wechatpay_crypto import encrypt_resource

    _, body = wx.notification("TRANSACTION.SUCCESS", {"x": 1}, timestamp=int(clock.unix_now()))
    envelope = json.loads(body)
    envelope["resource"] = encrypt_resource(
        b"[1, 2]", wx.keys().apiv3_key, "0123456789ab", "transaction", "transaction"
    )
    body = json.dumps(envelope).encode()
    before = fingerprint.take()
    answer = request(api, "POST", "/wechatpay/notify/shop1", signed_notification_headers(body), body)
    assert fingerprint.take() == before
    assert answer.status == 400, answer


def test_verified_notification_nested_too_deeply_is_400(
    api: Api, two_shops: tuple[ShopCaller, ShopCaller]
) -> None:
    answer = request(
        api, "POST", "/wechatpay/notify/shop1", signed_notification_headers(DEEP_ARRAY), DEEP_ARRAY
    )
    assert answer.status == 400, answer


# ---------------------------------------------------------------- the fingerprint itself


def test_fingerprint_reads_every_table_and_sees_a_write(
    api: Api, two_shops: tuple[ShopCaller, ShopCaller], fingerprint: Fingerprint
) -> None:
    shop, _ = two_shops
    before = fingerprint.take()
    assert {name: count for name, (count, _) in _tables(before).items()} == fingerprint.scan_counts()
    assert shop.put(shop.path("/settings/distribution"), {"enabled": False}).status == 200
    assert "ConfigTable" in " ".join(Fingerprint.changes(before, fingerprint.take()))
    assert len(fingerprint.tables) >= 8 and len(fingerprint.queues) >= 4
