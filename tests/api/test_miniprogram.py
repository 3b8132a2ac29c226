"""The distribution centre's mini-program half through the API (SPEC §9): the mini-program settings (the
appsecret write-only and KMS-encrypted), scenes, promotion codes and posters."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.app import ShopCaller

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


def test_every_appsecret_change_is_a_trust_change_in_the_history(
    shop: ShopCaller, caplog: pytest.LogCaptureFixture
) -> None:
    from datetime import timedelta

    from fenxiao import clock

    path, history = shop.path("/settings/miniprogram"), shop.path("/settings/history?document=miniprogram")
    assert shop.put(path, MINIPROGRAM).status == 200
    first = shop.get(history).body["entries"]
    assert [e["fields"] for e in first] == [["appsecret"]]
    for n, body in enumerate(
        ({"appsecret": APPSECRET}, {"env_version": "develop"}, {"appid": "wx0000000000000001"})
    ):
        clock.set_now(clock.now() + timedelta(seconds=n + 1))  # each signed in its own second (no replay)
        assert shop.put(path, body).status == 200
    assert shop.get(history).body["entries"] == first  # the same secret again, or none: no trust change
    clock.set_now(clock.now() + timedelta(seconds=5))
    assert shop.put(path, {"appsecret": "f" * 32}).status == 200
    entries = shop.get(history).body["entries"]
    assert [e["fields"] for e in entries] == [["appsecret"], ["appsecret"]] and entries[1] == first[0]
    warned = [r for r in caplog.records if r.getMessage() == "trust settings changed"]
    assert [getattr(r, "document", None) for r in warned] == ["miniprogram", "miniprogram"]
    assert APPSECRET not in caplog.text and "f" * 32 not in caplog.text


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


# ---------------------------------------------------------------- scenes and promotion codes


class Rig:
    """A shop with the mini-program configured against the stand-in's WeChat, and distributor m1."""

    def __init__(self, shop: ShopCaller, standin: Any, bucket: str) -> None:
        self.shop = shop
        self.standin = standin
        self.desk = standin.miniprogram
        self.bucket = bucket

    def code(self, member_id: str = "m1", purpose: str = "promote") -> Any:
        return self.shop.post(self.shop.path(f"/members/{member_id}/promotion-codes"), {"purpose": purpose})

    def later(self) -> int:
        """A signing time one second on (a write repeated within its second is a replay)."""
        from fenxiao import clock

        return int(clock.unix_now()) + 1

    def objects(self, prefix: str = "") -> list[str]:
        import boto3

        listed = boto3.client("s3").list_objects_v2(Bucket=self.bucket, Prefix=prefix)
        return [o["Key"] for o in listed.get("Contents", [])]

    def object(self, key: str) -> bytes:
        import boto3

        return bytes(boto3.client("s3").get_object(Bucket=self.bucket, Key=key)["Body"].read())


@pytest.fixture
def rig(shop: ShopCaller, monkeypatch: pytest.MonkeyPatch) -> Any:
    import boto3

    from fenxiao import bootstrap
    from fenxiao_local.standin import Standin
    from tests.support import wechatpay as wx

    outputs = boto3.client("cloudformation").describe_stacks(StackName="fenxiao-test")["Stacks"][0]["Outputs"]
    bucket = next(o["OutputValue"] for o in outputs if o["OutputKey"] == "MediaBucketName")
    standin = Standin(wx.keys, "127.0.0.1", 0)
    standin.start()
    monkeypatch.setenv("FENXIAO_WECHAT_API_BASE_URL", standin.url)
    monkeypatch.setenv("FENXIAO_MEDIA_BUCKET", bucket)
    monkeypatch.setenv("FENXIAO_ALLOW_LOOPBACK_IMAGES", "true")
    bootstrap.reset()
    assert shop.put(shop.path("/settings/miniprogram"), MINIPROGRAM).status == 200
    assert shop.put(shop.path("/members/m1/distributor"), {"active": True}).status == 200
    try:
        yield Rig(shop, standin, bucket)
    finally:
        standin.stop()


def _decoded(image: bytes) -> list[str]:
    import io

    import zxingcpp
    from PIL import Image

    return [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(image)))]


def test_a_distributor_gets_one_code_per_purpose_fetched_once(rig: Rig) -> None:
    from fenxiao.domain.scenes import is_scene

    answer = rig.code()
    assert answer.status == 200, answer
    body = answer.body
    assert set(body) == {"scene", "member_id", "purpose", "page", "image_url", "expires_at"}
    assert body["member_id"] == "m1" and body["purpose"] == "promote"
    assert body["page"] == "pages/goods/index" and is_scene(body["scene"]) and len(body["scene"]) <= 32
    assert body["expires_at"].endswith("+08:00")
    assert (
        body["image_url"].split("?")[0].endswith(rig.objects("codes/")[0])
        and "Signature=" in body["image_url"]
    )
    (key,) = rig.objects("codes/")
    assert _decoded(rig.object(key)) == [body["scene"]]
    assert rig.desk.calls["getwxacodeunlimit"] == 1

    again = rig.code()
    assert again.status == 200 and again.body["scene"] == body["scene"]
    assert rig.desk.calls["getwxacodeunlimit"] == 1 and rig.objects("codes/") == [key]
    assert rig.shop.get(rig.shop.path(f"/scenes/{body['scene']}")).body == {
        "scene": body["scene"],
        "member_id": "m1",
        "purpose": "promote",
    }

    invite = rig.code(purpose="invite")
    assert invite.status == 200 and invite.body["scene"] != body["scene"]
    assert invite.body["page"] == "pages/invite/index"
    assert rig.desk.calls["getwxacodeunlimit"] == 2

    # a new page makes a new code for the same scene
    assert (
        rig.shop.put(rig.shop.path("/settings/miniprogram"), {"pages": {"promote": "pages/a"}}).status == 200
    )
    moved = rig.code()
    assert moved.body["scene"] == body["scene"] and moved.body["page"] == "pages/a"
    assert rig.desk.calls["getwxacodeunlimit"] == 3 and len(rig.objects("codes/")) == 3


def test_a_friend_binds_through_the_scene(rig: Rig) -> None:
    scene = rig.code().body["scene"]
    path = rig.shop.path("/members/f1/inviter")
    bound = rig.shop.post(path, {"scene": scene})
    assert bound.status == 201 and bound.body["inviter_id"] == "m1", bound
    assert rig.shop.post(path, {"scene": scene}).status == 200  # the same pair again
    assert rig.shop.get(rig.shop.path("/members/f1")).body["inviter_id"] == "m1"
    unknown = rig.shop.post(rig.shop.path("/members/f2/inviter"), {"scene": "pUnknown1"})
    assert unknown.status == 404 and unknown.error["code"] == "scene_not_found", unknown
    for body in ({"scene": scene, "inviter_id": "m1"}, {}, {"scene": ""}, {"scene": "a b"}):
        answer = rig.shop.post(rig.shop.path("/members/f3/inviter"), body)
        assert answer.status == 400, (body, answer)
    assert rig.shop.get(rig.shop.path("/members/f3")).status == 404


def test_codes_only_for_known_distributors_of_an_enabled_configured_shop(rig: Rig) -> None:
    shop = rig.shop
    assert shop.get(shop.path("/scenes/pNope")).status == 404
    unknown = rig.code("nobody")
    assert unknown.status == 404 and unknown.error["code"] == "member_not_found", unknown
    bad = shop.post(shop.path("/members/m1/promotion-codes"), {"purpose": "share"})
    assert bad.status == 400 and bad.error["field"] == "purpose", bad
    assert shop.post(shop.path("/members/m1/inviter"), {"inviter_id": "m0"}).status == 201
    assert shop.put(shop.path("/members/m1/distributor"), {"active": False}).status == 200
    refused = rig.code()
    assert refused.status == 422 and refused.error["code"] == "not_a_distributor", refused
    no_poster = _poster(rig)
    assert no_poster.status == 422 and no_poster.error["code"] == "not_a_distributor", no_poster
    # The rig's grant again: signed in a later second, it is not a replay (SPEC §10).
    assert (
        shop.put(shop.path("/members/m1/distributor"), {"active": True}, timestamp=rig.later()).status == 200
    )
    assert shop.put(shop.path("/settings/distribution"), {"enabled": False}).status == 200
    off = rig.code()
    assert off.status == 422 and off.error["code"] == "distribution_disabled", off
    off_poster = _poster(rig)
    assert off_poster.status == 422 and off_poster.error["code"] == "distribution_disabled", off_poster
    assert rig.desk.calls["getwxacodeunlimit"] == 0 and rig.objects() == []


def test_a_shop_without_a_mini_program_gets_422(api: Any, rig: Rig) -> None:
    other = api.create_shop("shop2")
    assert other.put(other.path("/members/m1/distributor"), {"active": True}).status == 200
    answer = other.post(other.path("/members/m1/promotion-codes"), {"purpose": "promote"})
    assert answer.status == 422 and answer.error["code"] == "miniprogram_not_configured", answer
    assert "field" not in answer.error


@pytest.mark.parametrize("errcode", [45009, -1, 41030])
def test_wechat_errors_answer_502_store_nothing_and_a_retry_works(rig: Rig, errcode: int) -> None:
    rig.desk.queue_faults(errcode, errcode)
    failed = rig.code()
    assert failed.status == 502, failed
    assert failed.error["code"] == "wechat_error" and failed.error["errcode"] == errcode, failed
    no_poster = _poster(rig)  # a poster needs the code: the same 502, nothing rendered or stored
    assert no_poster.status == 502 and no_poster.error["errcode"] == errcode, no_poster
    assert rig.objects() == []
    retried = rig.code()
    assert retried.status == 200, retried
    assert retried.body["scene"]  # the scene was kept: it is the member's forever
    assert len(rig.objects("codes/")) == 1 and rig.desk.calls["getwxacodeunlimit"] == 3


def test_a_wechat_timeout_or_5xx_answers_502_unavailable(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    from fenxiao.adapters import wechat_miniprogram

    monkeypatch.setattr(wechat_miniprogram, "READ_TIMEOUT_SECONDS", 0.5)
    rig.desk.timeout_seconds = 1.5
    rig.desk.queue_faults("timeout", 500)
    for _ in range(2):
        failed = rig.code()
        assert failed.status == 502 and failed.error["code"] == "wechat_unavailable", failed
        assert "errcode" not in failed.error
    assert rig.objects() == []
    assert rig.code().status == 200


def test_an_expired_token_is_refreshed_once_and_the_code_fetched(rig: Rig) -> None:
    assert rig.code().status == 200
    rig.desk.expire_tokens()
    answer = rig.code("m1", "invite")
    assert answer.status == 200, answer
    assert rig.desk.calls["stable_token"] == 2


def test_twenty_first_requests_make_one_scene_and_one_wechat_call(rig: Rig) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from fenxiao import clock
    from fenxiao.bootstrap import container
    from fenxiao.service import centre
    from tests.support.stack import moto_dynamodb_serialized

    c = container()
    with moto_dynamodb_serialized(), ThreadPoolExecutor(20) as pool:
        codes = list(
            pool.map(lambda _: centre.promotion_code(c, "shop1", "m1", "promote", clock.now()), range(20))
        )
    assert len({code.scene for code in codes}) == 1
    assert sum(code.made for code in codes) == 1
    assert rig.desk.calls["getwxacodeunlimit"] == 1 and len(rig.objects("codes/")) == 1
    from fenxiao.adapters.members import MemberItem, member_key

    left = [i.sk for i in MemberItem.query(member_key("shop1", "m1"), consistent_read=True)]
    assert not [sk for sk in left if sk.startswith("CODE#")], left  # every claim was dropped
    assert "SCENE#promote" in left


# ---------------------------------------------------------------- posters


def _poster(rig: Rig, nickname: str | None = "小明", member_id: str = "m1") -> Any:
    body: dict[str, Any] = {"purpose": "promote"}
    if nickname is not None:
        body["nickname"] = nickname
    return rig.shop.post(rig.shop.path(f"/members/{member_id}/posters"), body)


def _poster_object(rig: Rig, answer: Any) -> bytes:
    key = "posters/" + answer.body["image_url"].split("?")[0].rsplit("/posters/", 1)[1]
    return rig.object(key)


@pytest.fixture
def renders(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts every poster rendered."""
    from fenxiao.adapters import posters

    calls: list[int] = []
    original = posters.render_poster

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(posters, "render_poster", counted)
    return calls


def test_the_default_poster_carries_the_members_code_and_is_rendered_once(
    rig: Rig, renders: list[int]
) -> None:
    answer = _poster(rig)
    assert answer.status == 200, answer
    assert set(answer.body) == {"image_url", "expires_at", "width", "height", "content_type"}
    assert (answer.body["width"], answer.body["height"]) == (750, 1334)
    assert answer.body["content_type"] == "image/png"
    image = _poster_object(rig, answer)
    assert len(image) <= 1_000_000
    scene = rig.code().body["scene"]
    assert _decoded(image) == [scene]
    assert renders == [1]
    again = _poster(rig)
    assert again.status == 200 and renders == [1] and len(rig.objects("posters/")) == 1
    other = _poster(rig, nickname="小红")
    assert other.status == 200 and renders == [1, 1] and len(rig.objects("posters/")) == 2
    assert rig.desk.calls["getwxacodeunlimit"] == 1  # one code under every poster


def test_a_custom_background_is_fetched_once_per_settings_version(rig: Rig, renders: list[int]) -> None:
    shop = rig.shop
    url = f"{rig.standin.url}/images/background.jpg"
    layout = {
        "mode": "custom",
        "image_url": url,
        "code": {"x": 100, "y": 700, "size": 500},
        "nickname": {"x": 40, "y": 60, "font_size": 36, "colour": "#FFFFFF"},
    }
    assert shop.put(shop.path("/settings/distribution"), {"ui": {"poster": layout}}).status == 200
    first = _poster(rig)
    assert first.status == 200, first
    assert (first.body["width"], first.body["height"]) == (750, 1334)
    assert _decoded(_poster_object(rig, first)) == [rig.code().body["scene"]]
    assert _poster(rig, nickname="b").status == 200
    assert rig.desk.calls["images"] == 1 and len(renders) == 2
    # a new settings version fetches it again (once) and renders again
    assert shop.put(shop.path("/settings/distribution"), {"promotion_rules_text": "v2"}).status == 200
    assert _poster(rig).status == 200 and _poster(rig).status == 200
    assert rig.desk.calls["images"] == 2 and len(renders) == 3


@pytest.mark.parametrize(
    ("poster", "field"),
    [
        ({"image_url": "{standin}/images/not-an-image.png"}, "ui.poster.image_url"),
        ({"image_url": "{standin}/images/too-large.png"}, "ui.poster.image_url"),
        ({"image_url": "{standin}/images/too-many-pixels.png"}, "ui.poster.image_url"),
        ({"image_url": "{standin}/images/missing.png"}, "ui.poster.image_url"),
        (
            {"image_url": "{standin}/images/background.png", "code": {"x": 700, "y": 0, "size": 200}},
            "ui.poster.code",
        ),
    ],
)
def test_an_unusable_background_is_422_naming_the_field_and_stores_no_poster(
    rig: Rig, poster: dict[str, Any], field: str
) -> None:
    shop = rig.shop
    poster = {"mode": "custom", **poster, "image_url": poster["image_url"].format(standin=rig.standin.url)}
    assert shop.put(shop.path("/settings/distribution"), {"ui": {"poster": poster}}).status == 200
    answer = _poster(rig)
    assert answer.status == 422, answer
    assert answer.error["field"] == field and answer.error["code"] == "invalid_poster_settings", answer
    assert rig.objects("posters/") == []
    if field == "ui.poster.image_url":  # an unusable background is not kept; a usable one is, once
        assert rig.objects("backgrounds/") == []


def test_loopback_http_backgrounds_are_refused_unless_the_stack_is_local(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fenxiao import bootstrap

    monkeypatch.setenv("FENXIAO_ALLOW_LOOPBACK_IMAGES", "false")
    bootstrap.reset()
    shop = rig.shop
    poster = {"mode": "custom", "image_url": f"{rig.standin.url}/images/background.png"}
    assert shop.put(shop.path("/settings/distribution"), {"ui": {"poster": poster}}).status == 200
    answer = _poster(rig)
    assert answer.status == 422 and answer.error["field"] == "ui.poster.image_url", answer
    assert "https" in answer.error["message"] and rig.desk.calls["images"] == 0
    for bad in ("http://example.com/a.png", "ftp://x/a.png"):
        put = shop.put(shop.path("/settings/distribution"), {"ui": {"poster": {**poster, "image_url": bad}}})
        assert put.status == 400 and put.error["field"].startswith("ui.poster.image_url"), put


def test_bad_poster_requests_are_400_or_404(rig: Rig) -> None:
    assert _poster(rig, nickname="长" * 21).status == 400
    assert _poster(rig, nickname="长" * 20).status == 200
    assert _poster(rig, member_id="nobody").status == 404
    bad = rig.shop.post(rig.shop.path("/members/m1/posters"), {"purpose": "x"})
    assert bad.status == 400 and bad.error["field"] == "purpose"
    for size in (119, 1281):
        put = rig.shop.put(
            rig.shop.path("/settings/distribution"), {"ui": {"poster": {"code": {"size": size}}}}
        )
        assert put.status == 400 and put.error["field"] == "ui.poster.code.size", put


def test_the_access_token_is_cut_out_of_urllib3s_request_log(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    with caplog.at_level(logging.DEBUG, logger="urllib3.connectionpool"):
        assert rig.code().status == 200
    tokens = list(rig.desk.tokens)
    lines = [r.getMessage() for r in caplog.records if r.name == "urllib3.connectionpool"]
    assert tokens and any("/wxa/getwxacodeunlimit?access_token=***" in line for line in lines), lines
    assert not any(token in line for token in tokens for line in lines)


def test_the_appsecret_and_access_tokens_never_reach_a_log_or_an_answer(
    rig: Rig, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    """The whole flow with the function's loggers at DEBUG (LogLevel=DEBUG: the service's own; urllib3's, whose
    request lines name the URL), its errors included: every log record (message and extras), everything printed
    (JSON logs, metrics) and every answer is searched for the appsecret and every token issued."""
    import json
    import logging
    from datetime import timedelta

    from fenxiao import clock

    secret = "s3cr3t-" + "9f8e7d6c" * 4
    answers: list[Any] = []
    tokens: set[str] = set()

    def step(answer: Any) -> Any:
        answers.append(answer)
        tokens.update(rig.desk.tokens)
        return answer

    shop, path = rig.shop, rig.shop.path("/settings/miniprogram")
    with caplog.at_level(logging.DEBUG, "fenxiao-svc"), caplog.at_level(logging.DEBUG, "urllib3"):
        clock.set_now(clock.now() + timedelta(seconds=1))
        assert step(shop.put(path, {"appsecret": secret})).status == 200
        bad = step(shop.put(path, {"appsecret": secret + " x"}))  # a space is not allowed: 400, not echoed
        assert bad.status == 400 and bad.error["field"] == "appsecret", bad
        assert step(rig.code()).status == 200
        assert step(_poster(rig)).status == 200
        rig.desk.queue_faults(45009)
        assert step(rig.code(purpose="invite")).status == 502
        rig.desk.queue_faults(500)
        assert step(rig.code(purpose="invite")).status == 502
        rig.desk.expire_tokens()  # the next code call is answered 40001 and the token replaced
        assert step(rig.code(purpose="invite")).status == 200
        assert step(shop.get(path)).body["appsecret_set"] is True
        assert step(shop.get(shop.path("/settings/history?document=miniprogram"))).status == 200
    assert rig.desk.calls["stable_token"] >= 2 and len(tokens) >= 2  # a token before and after 40001
    printed = capsys.readouterr()
    logged = [caplog.text] + [json.dumps(vars(r), default=str) for r in caplog.records]
    answered = [json.dumps([a.status, a.body, a.headers], ensure_ascii=False) for a in answers]
    assert any("getwxacodeunlimit" in line for line in logged)  # the calls were logged, just not the token
    for text in [*logged, printed.out, printed.err, *answered]:
        assert secret not in text
        for token in tokens:
            assert token not in text
