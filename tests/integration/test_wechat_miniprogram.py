"""The mini-program client against the local stand-in over HTTP: tokens shared by one refresher, codes that
decode to their scene, WeChat's errors typed with their errcode, and no secret or token in any error."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator

import pytest
import zxingcpp
from PIL import Image

from fenxiao.adapters import wechat_miniprogram as wx
from fenxiao_local.standin import Standin
from fenxiao_local.standin_miniprogram import MiniProgramDesk
from fenxiao_local.wechatpay_keys import StandinKeys

pytestmark = pytest.mark.integration

APPID, SECRET = "wxminiapp0001", "appsecret-that-must-never-leak-0123"


@pytest.fixture(scope="module")
def keys() -> StandinKeys:
    return StandinKeys.generate()


@pytest.fixture
def standin(keys: StandinKeys) -> Iterator[tuple[Standin, MiniProgramDesk]]:
    server = Standin(lambda: keys, "127.0.0.1", 0)
    desk = server.miniprogram  # every stand-in has its mini-program desk
    desk.timeout_seconds = wx.READ_TIMEOUT_SECONDS + 1
    server.start()
    try:
        yield server, desk
    finally:
        server.stop()


def tokens(server: Standin, store: wx.TokenStore | None = None) -> wx.AccessTokens:
    return wx.AccessTokens(wx.MiniProgramClient(server.url), store or wx.MemoryTokenStore())


def scene_of(image: wx.CodeImage) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(image.body)))]


def test_a_code_decodes_to_its_scene_and_the_token_is_reused(standin) -> None:
    server, desk = standin
    access = tokens(server)
    first = access.code_image(APPID, lambda: SECRET, "pAbc123", "pages/index/index", "release")
    second = access.code_image(APPID, lambda: SECRET, "iXyz789", "pages/invite/index", "trial")
    assert first.content_type == "image/png"
    assert scene_of(first) == ["pAbc123"]
    assert scene_of(second) == ["iXyz789"]
    assert desk.calls == {"stable_token": 1, "getwxacodeunlimit": 2}


def test_twenty_containers_at_once_fetch_one_token(standin) -> None:
    server, desk = standin
    store = wx.MemoryTokenStore()  # shared, like the DynamoDB item; each AccessTokens is one container
    containers = [tokens(server, store) for _ in range(20)]
    got: list[str] = []
    barrier = threading.Barrier(20)

    def first_request(access: wx.AccessTokens) -> None:
        barrier.wait()
        got.append(access.token(APPID, lambda: SECRET))

    threads = [threading.Thread(target=first_request, args=(c,)) for c in containers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 20 and len(set(got)) == 1
    assert desk.calls["stable_token"] == 1


def test_an_invalid_token_is_replaced_and_the_code_fetched_once_more(standin) -> None:
    server, desk = standin
    store = wx.MemoryTokenStore()
    access = tokens(server, store)
    old = access.token(APPID, lambda: SECRET)
    desk.expire_tokens()  # WeChat no longer accepts it: 40001
    image = access.code_image(APPID, lambda: SECRET, "pAfter", "pages/index/index", "release")
    assert scene_of(image) == ["pAfter"]
    new = store.read(APPID)
    assert new is not None and new.token != old
    assert desk.calls == {"stable_token": 2, "getwxacodeunlimit": 2}


@pytest.mark.parametrize("errcode", [45009, -1, 41030])
def test_wechat_errors_carry_their_errcode_and_no_secret(standin, errcode: int) -> None:
    server, desk = standin
    access = tokens(server)
    desk.queue_faults(errcode)
    with pytest.raises(wx.WechatApiError) as err:
        access.code_image(APPID, lambda: SECRET, "pX", "pages/index/index", "release")
    assert err.value.errcode == errcode
    token = access.token(APPID, lambda: SECRET)
    assert SECRET not in str(err.value) and token not in str(err.value)
    assert scene_of(access.code_image(APPID, lambda: SECRET, "pX", "pages/index/index", "release")) == ["pX"]


def test_5xx_and_timeouts_are_unavailable(standin, monkeypatch: pytest.MonkeyPatch) -> None:
    server, desk = standin
    access = tokens(server)
    desk.queue_faults(500)
    with pytest.raises(wx.WechatUnavailable, match="HTTP 500"):
        access.code_image(APPID, lambda: SECRET, "pX", "pages/index/index", "release")
    monkeypatch.setattr(wx, "READ_TIMEOUT_SECONDS", 0.5)
    desk.timeout_seconds = 1.5
    desk.queue_faults("timeout")
    with pytest.raises(wx.WechatUnavailable, match="did not answer"):
        access.code_image(APPID, lambda: SECRET, "pX", "pages/index/index", "release")


def test_a_stale_claim_is_waited_for_then_taken_over(standin) -> None:
    server, desk = standin
    store = wx.MemoryTokenStore()
    now = [1_000_000.0]
    access = wx.AccessTokens(
        wx.MiniProgramClient(server.url),
        store,
        clock=lambda: now[0],
        sleep=lambda s: now.__setitem__(0, now[0] + s),
    )
    assert store.claim(APPID, None, now[0] + wx.CLAIM_SECONDS) == 1  # a container claimed, then died
    token = access.token(APPID, lambda: SECRET)
    assert token and desk.calls["stable_token"] == 1
    assert now[0] >= 1_000_000.0 + wx.CLAIM_SECONDS  # it waited for the claim to lapse, then refreshed


def test_the_standin_serves_test_backgrounds(standin) -> None:
    from fenxiao.adapters.posters import PosterInputError, check_background, fetch_background

    server, _ = standin
    for name in ("background.png", "background.jpg"):
        image = check_background(fetch_background(f"{server.url}/images/{name}", allow_loopback_http=True))
        assert image.size == (750, 1334)
    for name, message in [
        ("not-an-image.png", "not a PNG or JPEG"),
        ("too-large.png", "5 MB"),
        ("too-many-pixels.png", "4096×4096"),
        ("missing.png", "HTTP 404"),
    ]:
        with pytest.raises(PosterInputError, match=message) as err:
            check_background(fetch_background(f"{server.url}/images/{name}", allow_loopback_http=True))
        assert err.value.field == "ui.poster.image_url"
    with pytest.raises(PosterInputError, match="https://"):
        fetch_background(f"{server.url}/images/background.png")


def test_the_dynamodb_store_shares_one_refresh_across_containers(aws_env, standin) -> None:
    from fenxiao import bootstrap
    from fenxiao.adapters.wechat_tokens import DynamoTokenStore, WechatTokenModel, token_key

    bootstrap.container()  # binds the models to the stack's tables
    server, desk = standin
    containers = [tokens(server, DynamoTokenStore()) for _ in range(8)]
    got = [c.token(APPID, lambda: SECRET) for c in containers]
    assert len(set(got)) == 1 and desk.calls["stable_token"] == 1
    item = WechatTokenModel.get(token_key(APPID))
    assert item.token == got[0] and item.claimed_until == 0 and item.expires_at > 0
    store = DynamoTokenStore()
    assert store.claim(APPID, item.version - 1, 1.0) is None  # a stale version never claims
    containers[0].invalidate(APPID, got[0])
    fresh = containers[1].code_image(APPID, lambda: SECRET, "pDyn", "pages/index/index", "release")
    assert scene_of(fresh) == ["pDyn"]
    assert desk.calls["stable_token"] == 1  # the stand-in answers the same token while it is valid


class CountingStore(wx.MemoryTokenStore):
    """The shared store, counting its reads and claims (a container's own cache must spare both)."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0
        self.claims = 0

    def read(self, appid: str) -> wx.StoredToken | None:
        self.reads += 1
        return super().read(appid)

    def claim(self, appid: str, version: int | None, until: float) -> int | None:
        self.claims += 1
        return super().claim(appid, version, until)


def test_a_container_keeps_its_token_and_another_reads_the_shared_one(standin) -> None:
    server, desk = standin
    store = CountingStore()
    first, second = tokens(server, store), tokens(server, store)
    token = first.token(APPID, lambda: SECRET)
    assert (store.reads, store.claims, desk.calls["stable_token"]) == (1, 1, 1)
    for _ in range(5):
        assert first.token(APPID, lambda: SECRET) == token
    assert store.reads == 1  # its own cache: no read of the shared item

    def no_secret() -> str:
        raise AssertionError("a container that does not refresh never decrypts the appsecret")

    assert second.token(APPID, no_secret) == token
    assert (store.reads, store.claims, desk.calls["stable_token"]) == (2, 1, 1)


def test_a_token_is_refreshed_shortly_before_it_expires(standin) -> None:
    server, desk = standin
    store = wx.MemoryTokenStore()
    now = [1_000_000.0]
    access = wx.AccessTokens(wx.MiniProgramClient(server.url), store, clock=lambda: now[0])
    access.token(APPID, lambda: SECRET)
    item = store.read(APPID)
    assert item is not None and item.expires_at == now[0] + 7200  # WeChat's expires_in
    now[0] = item.expires_at - wx.REFRESH_MARGIN_SECONDS - 1  # just outside the margin: still used
    access.token(APPID, lambda: SECRET)
    assert desk.calls["stable_token"] == 1
    now[0] += 2  # inside the margin: refreshed before WeChat would refuse it
    access.token(APPID, lambda: SECRET)
    assert desk.calls["stable_token"] == 2
    refreshed = store.read(APPID)
    # the stand-in answers the same token while it is valid (as WeChat does): its new expiry counts from now
    assert refreshed is not None and refreshed.expires_at > item.expires_at and refreshed.claimed_until == 0


def test_an_expired_token_42001_is_replaced_and_the_code_fetched_once_more(standin) -> None:
    server, desk = standin
    store = wx.MemoryTokenStore()
    access = tokens(server, store)
    access.token(APPID, lambda: SECRET)
    desk.queue_faults(42001)  # WeChat: access_token expired
    image = access.code_image(APPID, lambda: SECRET, "p42001", "pages/index/index", "release")
    assert scene_of(image) == ["p42001"]
    assert desk.calls == {"stable_token": 2, "getwxacodeunlimit": 2}
    item = store.read(APPID)
    assert item is not None and item.expires_at > 0 and item.claimed_until == 0


def test_twenty_containers_on_dynamodb_at_once_refresh_once(aws_env, standin) -> None:
    from fenxiao import bootstrap
    from fenxiao.adapters.wechat_tokens import DynamoTokenStore, WechatTokenModel, token_key
    from tests.support.stack import moto_dynamodb_serialized

    bootstrap.container()  # binds the models to the stack's tables
    server, desk = standin
    containers = [tokens(server, DynamoTokenStore()) for _ in range(20)]
    barrier = threading.Barrier(20)
    got: list[str] = []

    def first_request(access: wx.AccessTokens) -> None:
        barrier.wait()
        got.append(access.token(APPID, lambda: SECRET))

    with moto_dynamodb_serialized():
        threads = [threading.Thread(target=first_request, args=(c,)) for c in containers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(got) == 20 and len(set(got)) == 1
    assert desk.calls["stable_token"] == 1  # one claim won the conditional write; the others waited
    item = WechatTokenModel.get(token_key(APPID))
    assert item.token == got[0] and item.claimed_until == 0
