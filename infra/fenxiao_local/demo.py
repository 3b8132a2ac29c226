"""The demo: a shop set up and used end to end over HTTP, as a mall's backend and an operator would.

``STEPS`` is the script, one short line printed per step. A step gets the shared ``Demo`` state, calls the
API, checks every answer's status with ``expect`` (anything unexpected stops the demo: non-zero exit) and
returns what to print. Add a step by writing a function and listing it in ``STEPS``.
"""

from __future__ import annotations

import secrets
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from fenxiao_local.client import OperatorClient, ShopClient, StandinClient


class DemoFailed(Exception):
    """An answer the demo did not expect (status and body in the message)."""


@dataclass
class Demo:
    api: str
    operator: OperatorClient
    standin: StandinClient
    shop_id: str = field(default_factory=lambda: f"demo-{secrets.token_hex(3)}")
    shop: ShopClient | None = None
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def signed(self) -> ShopClient:
        if self.shop is None:
            raise DemoFailed("no shop yet: the create-shop step must run first")
        return self.shop


def expect(answer: tuple[int, Any], status: int, what: str) -> Any:
    got, body = answer
    if got != status:
        raise DemoFailed(f"{what}: expected HTTP {status}, got {got}: {body}")
    return body


def expect_equal(actual: Any, expected: Any, what: str) -> None:
    if actual != expected:
        raise DemoFailed(f"{what}: expected {expected!r}, got {actual!r}")


# ---------------------------------------------------------------- the steps

DISTRIBUTION: dict[str, Any] = {
    "enabled": True,
    "rates": {"level1_bp": 1000, "level2_bp": 500, "self_bp": 200},
    "binding": {"mode": "permanent"},
    # Effective at payment, no freeze, so the demo can settle and withdraw at once (a shop would freeze days).
    "settlement": {"basis": "payment", "freeze_days": 0, "withdraw_min_fen": 100},
    "promotion_rules_text": "邀请好友下单, 得 10% 佣金",
    "leaderboard": {
        "display_count": 10,
        "reward_text": {"weekly": "周榜前三送礼", "monthly": "", "total": ""},
    },
}

MEMBERSHIP: dict[str, Any] = {
    "growth_coefficient": "1",
    "review_growth": 5,
    "signin_growth": 1,
    "profile_growth": 10,
    "levels": [
        {"level": 1, "name": "银卡", "growth_required": 0, "discount_bp": 10000},
        # The demo order (99.00 yuan, coefficient 1) earns 99 growth: one sign-in more crosses 100.
        {"level": 2, "name": "金卡", "growth_required": 100, "discount_bp": 9500},
    ],
}
ORDER_FEN = 9900
ORDER_GROWTH = ORDER_FEN * 1 // 100  # floor(paid_fen × growth_coefficient / 100), coefficient "1"


def create_shop(demo: Demo) -> str:
    body = expect(demo.operator.create_shop(demo.shop_id, "Demo tea house"), 201, "POST /admin/shops")
    secret = body.get("api_secret") if isinstance(body, dict) else None
    if not secret:
        raise DemoFailed(f"POST /admin/shops: no api_secret in {body}")
    demo.shop = ShopClient(demo.api, demo.shop_id, secret)
    return f"shop {demo.shop_id} created (its API secret is shown once, kept by the demo)"


def put_distribution(demo: Demo) -> str:
    shop = demo.signed
    expect(
        shop.request("PUT", shop.path("/settings/distribution"), DISTRIBUTION),
        200,
        "PUT settings/distribution",
    )
    got = expect(shop.request("GET", shop.path("/settings/distribution")), 200, "GET settings/distribution")
    expect_equal(got.get("rates"), DISTRIBUTION["rates"], "distribution rates read back")
    expect_equal(
        got.get("promotion_rules_text"), DISTRIBUTION["promotion_rules_text"], "promotion rules read back"
    )
    rates = DISTRIBUTION["rates"]
    return f"distribution: level1 {rates['level1_bp']} bp, level2 {rates['level2_bp']} bp, self {rates['self_bp']} bp"


def put_membership(demo: Demo) -> str:
    shop = demo.signed
    expect(shop.request("PUT", shop.path("/settings/membership"), MEMBERSHIP), 200, "PUT settings/membership")
    got = expect(shop.request("GET", shop.path("/settings/membership")), 200, "GET settings/membership")
    expect_equal(
        [lv.get("name") for lv in got.get("levels", [])], ["银卡", "金卡"], "membership levels read back"
    )
    return "membership: 银卡 from 0 growth, 金卡 (95 % of the price) from 100 growth; 1 growth per yuan paid"


def configure_wechatpay(demo: Demo) -> str:
    keys = expect(demo.standin.keys(), 200, "GET stand-in /standin/keys")
    settings = keys["wechatpay_settings"]
    demo.state["mchid"], demo.state["appid"] = settings["mchid"], settings["appid"]
    shop = demo.signed
    expect(shop.request("PUT", shop.path("/settings/wechatpay"), settings), 200, "PUT settings/wechatpay")
    got = expect(shop.request("GET", shop.path("/settings/wechatpay")), 200, "GET settings/wechatpay")
    expect_equal(got.get("mchid"), settings["mchid"], "wechatpay mchid read back")
    leaked = {"apiv3_key", "merchant_private_key_pem"} & set(got)
    if leaked:
        raise DemoFailed(f"GET settings/wechatpay shows secrets: {sorted(leaked)}")
    return f"WeChat Pay: mchid {settings['mchid']} with the stand-in's keys (local only)"


def bind(demo: Demo, member: str, inviter: str) -> None:
    """Bind ``member`` to ``inviter``; the binding's time is kept for the leaderboard step."""
    shop = demo.signed
    body = expect(
        shop.request("POST", shop.path(f"/members/{member}/inviter"), {"inviter_id": inviter}),
        201,
        f"bind {member} to {inviter}",
    )
    demo.state.setdefault("bindings", []).append((member, inviter, datetime.fromisoformat(body["bound_at"])))


def bind_chain(demo: Demo) -> str:
    """member-a invites member-b, who invites member-fan: the fan's orders pay both (level 1 and 2)."""
    shop = demo.signed
    for member, inviter in (("member-b", "member-a"), ("member-fan", "member-b")):
        bind(demo, member, inviter)
    view = expect(shop.request("GET", shop.path("/members/member-a")), 200, "GET members/member-a")
    fans = view["fans"]
    return f"member-a <- member-b <- member-fan; member-a has {fans['level1']} level-1 and {fans['level2']} level-2 fan"


def pay_order(demo: Demo) -> str:
    shop = demo.signed
    order_id = f"order-{secrets.token_hex(3)}"
    order = {
        "buyer_id": "member-fan",
        "lines": [{"line_id": "l1", "product_id": "tea-001", "quantity": 2, "paid_fen": ORDER_FEN}],
        "shipping_fen": 0,
        "total_fen": ORDER_FEN,
    }
    expect(shop.request("PUT", shop.path(f"/orders/{order_id}"), order), 201, f"PUT orders/{order_id}")
    resource = {
        "mchid": demo.state["mchid"],
        "appid": demo.state["appid"],
        "out_trade_no": order_id,
        "transaction_id": f"4200{secrets.randbelow(10**24):024d}",
        "trade_type": "JSAPI",
        "trade_state": "SUCCESS",
        "trade_state_desc": "支付成功",
        "bank_type": "OTHERS",
        # WeChat Pay's times have whole seconds: round up, so the payment follows the bindings just made
        "success_time": (datetime.now(UTC) + timedelta(seconds=1)).isoformat(timespec="seconds"),
        "payer": {"openid": "oDemoFan"},
        "amount": {"total": ORDER_FEN, "payer_total": ORDER_FEN, "currency": "CNY", "payer_currency": "CNY"},
    }
    sent = expect(demo.standin.notify(demo.shop_id, "TRANSACTION.SUCCESS", resource), 200, "stand-in notify")
    expect_equal(sent.get("status"), 204, "WeChat Pay notification answer")
    deadline = time.monotonic() + 15
    while True:
        got = expect(shop.request("GET", shop.path(f"/orders/{order_id}")), 200, f"GET orders/{order_id}")
        if got.get("status") == "paid":
            earned = ", ".join(
                f"{c['member_id']} {c['tier']} {c['amount_fen'] / 100:.2f} ({c['status']})"
                for c in got["commissions"]
            )
            return (
                f"order {order_id}: 99.00 yuan paid through a signed WeChat Pay notification, now paid;"
                f" commissions: {earned or 'none'}"
            )
        if time.monotonic() > deadline:
            raise DemoFailed(f"order {order_id} is still {got.get('status')!r} 15 s after its payment: {got}")
        time.sleep(0.3)


def member_growth(demo: Demo) -> str:
    """member-fan earns its way into 金卡: the paid order's growth, then a sign-in, the profile, a review."""
    shop = demo.signed
    member = "member-fan"
    view = poll(
        lambda: expect(shop.request("GET", shop.path(f"/members/{member}")), 200, f"GET members/{member}"),
        lambda got: got.get("growth") == ORDER_GROWTH,
        f"{member}'s growth from the paid order",
    )
    expect_equal(view.get("level_name"), "银卡", "level after the order (99 growth, 金卡 from 100)")
    before = f"growth {view['growth']} {view['level_name']} ({view['discount_bp'] / 100:g} %)"
    events = shop.path(f"/members/{member}/growth-events")
    answers: dict[str, Any] = {}
    for body in ({"type": "signin"}, {"type": "profile"}, {"type": "review", "ref": "review-1"}):
        answers[body["type"]] = got = expect(shop.request("POST", events, body), 200, f"growth-events {body}")
        expect_equal(got.get("applied"), True, f"{body['type']} growth applied")
    expect_equal(answers["signin"].get("level_name"), "金卡", "level after the sign-in (100 growth)")
    again = expect(shop.request("POST", events, {"type": "signin"}), 200, "growth-events signin again")
    if again.get("ref") == answers["signin"].get("ref"):  # unless Shanghai midnight passed in between
        expect_equal(again.get("applied"), False, "a second sign-in the same day")
    view = expect(shop.request("GET", shop.path(f"/members/{member}")), 200, f"GET members/{member}")
    expect_equal((view.get("level_name"), view.get("discount_bp")), ("金卡", 9500), "level after the events")
    added = ", ".join(f"{t} +{answers[t]['added']}" for t in ("signin", "profile", "review"))
    return (
        f"{member}: {before} after the {ORDER_FEN / 100:.2f} yuan order; {added}"
        f" -> growth {view['growth']} {view['level_name']} ({view['discount_bp'] / 100:g} %)"
    )


def fan_leaderboard(demo: Demo) -> str:
    """Two more fans for member-a; the binding worker scores them and the weekly board shows it.

    What the board should show is worked out from the period the API answers with (its starts_at and
    ends_at) and the bindings' times, so a demo that runs across Monday 00:00 Asia/Shanghai still checks
    the right numbers (the earlier bindings then belong to last week's board)."""
    shop = demo.signed
    for member in ("member-c", "member-d"):
        bind(demo, member, "member-a")
    bindings: list[tuple[str, str, datetime]] = demo.state["bindings"]
    inviter_of = {member: inviter for member, inviter, _ in bindings}

    def expected(board: dict[str, Any]) -> dict[str, int]:
        starts, ends = datetime.fromisoformat(board["starts_at"]), datetime.fromisoformat(board["ends_at"])
        fans: dict[str, int] = {}
        for _, inviter, at in bindings:
            if starts <= at < ends:  # level 1, and level 2 for the inviter's inviter (all distributors)
                for scored in (inviter, inviter_of.get(inviter)):
                    if scored is not None:
                        fans[scored] = fans.get(scored, 0) + 1
        return fans

    got = poll(
        lambda: expect(
            shop.request("GET", shop.path("/leaderboards/weekly")), 200, "GET leaderboards/weekly"
        ),
        lambda board: {e["member_id"]: e["fans"] for e in board.get("entries", [])} == expected(board),
        "the weekly board after the bindings",
    )
    # Without a week change: member-a 4 (member-b, -c, -d and member-fan at level 2), member-b 1.
    shown = ", ".join(f"{e['rank']}. {e['member_id']} ({e['fans']})" for e in got["entries"]) or "none yet"
    return (
        f"weekly board {got['period']} (from {got['starts_at']}), fans: {shown}; reward: {got['reward_text']}"
    )


def poll(read: Callable[[], Any], done: Callable[[Any], bool], what: str, seconds: float = 15) -> Any:
    """Read until ``done`` (the stack's consumers are asynchronous); the last answer, or DemoFailed."""
    deadline = time.monotonic() + seconds
    while True:
        got = read()
        if done(got):
            return got
        if time.monotonic() > deadline:
            raise DemoFailed(f"{what}: still {got} after {seconds:g} s")
        time.sleep(0.3)


def settle_and_withdraw(demo: Demo) -> str:
    """Settlement makes member-b's commission available; member-b withdraws it to WeChat (the stand-in pays)."""
    shop = demo.signed
    released, deadline = 0, time.monotonic() + 10
    while True:  # the payment's success time is a whole second: it may be due a moment from now
        report = expect(demo.operator.run_job("settlement"), 200, "POST /admin/jobs/settlement")
        released += int(report.get("processed", 0))
        view = expect(shop.request("GET", shop.path("/members/member-b")), 200, "GET members/member-b")
        available = view["balance"]["available_fen"]
        if available >= 100:
            break
        if time.monotonic() > deadline:
            raise DemoFailed(f"member-b has {available} fen available after settlement: {view['balance']}")
        time.sleep(0.5)
    body = {"withdrawal_id": f"wd-{secrets.token_hex(3)}", "amount_fen": available, "openid": "oDemoMemberB"}
    path = shop.path("/members/member-b/withdrawals")
    expect(shop.request("POST", path, body), 202, "POST withdrawals")
    deadline = time.monotonic() + 20
    while True:
        got = expect(shop.request("GET", f"{path}/{body['withdrawal_id']}"), 200, "GET withdrawal")
        if got.get("status") in ("succeeded", "failed", "rejected"):
            break
        if time.monotonic() > deadline:
            raise DemoFailed(f"withdrawal still {got.get('status')!r} after 20 s: {got}")
        time.sleep(0.3)
    expect_equal(got.get("status"), "succeeded", "withdrawal paid by the stand-in")
    balance = expect(shop.request("GET", shop.path("/members/member-b")), 200, "GET members/member-b")[
        "balance"
    ]
    return (
        f"settlement released {released} commission(s); member-b withdrew"
        f" {available / 100:.2f} yuan to WeChat: withdrawn {balance['withdrawn_fen'] / 100:.2f}, available"
        f" {balance['available_fen'] / 100:.2f}"
    )


MINIPROGRAM: dict[str, Any] = {
    # Local values in WeChat's formats: the stand-in issues a token for any appid and appsecret.
    "appid": "wxd678efh567hg6787",
    "appsecret": "local-demo-appsecret-not-a-real-one",
    "env_version": "develop",
    "pages": {"promote": "pages/index/index", "invite": "pages/invite/index"},
}


def distributor_poster(demo: Demo) -> str:
    """member-a's 代言推广海报: the mini-program settings, then the poster (the stand-in draws the code);
    the image is fetched through its presigned URL and written to a file whose path is printed."""
    shop = demo.signed
    expect(
        shop.request("PUT", shop.path("/settings/miniprogram"), MINIPROGRAM), 200, "PUT settings/miniprogram"
    )
    body = {"purpose": "promote", "nickname": "小明的好物分享"}
    poster = expect(shop.request("POST", shop.path("/members/member-a/posters"), body), 200, "POST posters")
    with urllib.request.urlopen(poster["image_url"], timeout=10) as answer:  # noqa: S310 - the stack's own URL
        image = answer.read()
    suffix = ".png" if poster["content_type"] == "image/png" else ".jpg"
    path = Path(tempfile.gettempdir()) / f"fenxiao-demo-poster-{demo.shop_id}{suffix}"
    path.write_bytes(image)
    demo.state["poster_path"] = path
    return f"member-a's poster ({poster['width']}×{poster['height']}, {len(image) // 1024} KB): {path}"


Step = Callable[[Demo], str]
STEPS: list[tuple[str, Step]] = [
    ("create a shop (operator)", create_shop),
    ("distribution settings", put_distribution),
    ("membership settings", put_membership),
    ("WeChat Pay settings from the stand-in", configure_wechatpay),
    ("bind a distributor chain", bind_chain),
    ("register and pay an order", pay_order),
    ("settle and withdraw to WeChat", settle_and_withdraw),
    ("member earns growth (order, sign-in, profile, review) and levels up", member_growth),
    ("fan leaderboard (weekly)", fan_leaderboard),
    ("member-a's promotion poster", distributor_poster),
]


def default_standin_url(api: str) -> str:
    """The stand-in listens on the API's port + 1 unless told otherwise (``fenxiao local up``)."""
    parts = urlsplit(api)
    port = (parts.port or 80) + 1
    return urlunsplit((parts.scheme, f"{parts.hostname}:{port}", "", "", ""))


def run(api: str, operator_token: str, standin: str | None = None, out: Callable[[str], None] = print) -> int:
    demo = Demo(
        api.rstrip("/"),
        OperatorClient(api, operator_token),
        StandinClient(standin or default_standin_url(api)),
    )
    out(f"[demo] against {demo.api} (WeChat Pay stand-in {demo.standin.base_url})")
    for number, (title, step) in enumerate(STEPS, start=1):
        try:
            line = step(demo)
        except (DemoFailed, OSError, KeyError, TypeError, ValueError) as exc:
            out(f"[demo] {number}/{len(STEPS)} {title}: FAILED: {type(exc).__name__}: {exc}")
            return 1
        out(f"[demo] {number}/{len(STEPS)} {title}: {line}")
    out(f"[demo] done: shop {demo.shop_id}")
    return 0
