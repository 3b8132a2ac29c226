"""The demo: a shop set up and used end to end over HTTP, as a mall's backend and an operator would.

``STEPS`` is the script, one short line printed per step. A step gets the shared ``Demo`` state, calls the
API, checks every answer's status with ``expect`` (anything unexpected stops the demo: non-zero exit) and
returns what to print. Add a step by writing a function and listing it in ``STEPS``.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
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
        {"level": 2, "name": "金卡", "growth_required": 1000, "discount_bp": 9500},
    ],
}


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
    return "membership: 银卡 from 0 growth, 金卡 (95 % of the price) from 1000 growth"


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


def bind_chain(demo: Demo) -> str:
    """member-a invites member-b, who invites member-fan: the fan's orders pay both (level 1 and 2)."""
    shop = demo.signed
    for member, inviter in (("member-b", "member-a"), ("member-fan", "member-b")):
        expect(
            shop.request("POST", shop.path(f"/members/{member}/inviter"), {"inviter_id": inviter}),
            201,
            f"bind {member} to {inviter}",
        )
    view = expect(shop.request("GET", shop.path("/members/member-a")), 200, "GET members/member-a")
    fans = view["fans"]
    return f"member-a <- member-b <- member-fan; member-a has {fans['level1']} level-1 and {fans['level2']} level-2 fan"


def pay_order(demo: Demo) -> str:
    shop = demo.signed
    order_id = f"order-{secrets.token_hex(3)}"
    order = {
        "buyer_id": "member-fan",
        "lines": [{"line_id": "l1", "product_id": "tea-001", "quantity": 2, "paid_fen": 9900}],
        "shipping_fen": 0,
        "total_fen": 9900,
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
        "amount": {"total": 9900, "payer_total": 9900, "currency": "CNY", "payer_currency": "CNY"},
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
    shop = demo.signed
    member = "member-fan"
    events = shop.path(f"/members/{member}/growth-events")
    answers: dict[str, Any] = {}
    for body in ({"type": "signin"}, {"type": "profile"}, {"type": "review", "ref": "review-1"}):
        answers[body["type"]] = got = expect(shop.request("POST", events, body), 200, f"growth-events {body}")
        expect_equal(got.get("applied"), True, f"{body['type']} growth applied")
    again = expect(shop.request("POST", events, {"type": "signin"}), 200, "growth-events signin again")
    if again.get("ref") == answers["signin"].get("ref"):  # unless Shanghai midnight passed in between
        expect_equal(again.get("applied"), False, "a second sign-in the same day")
    view = expect(shop.request("GET", shop.path(f"/members/{member}")), 200, f"GET members/{member}")
    growth = view["growth"]
    expect_equal(view.get("level_name"), "银卡", "level before the level table changes")
    # The shop moves 金卡 down to the member's growth: levels are derived on read, no member is rewritten.
    levels = [MEMBERSHIP["levels"][0], {**MEMBERSHIP["levels"][1], "growth_required": growth}]
    expect(shop.request("PUT", shop.path("/settings/membership"), {"levels": levels}), 200, "PUT levels")
    view = expect(shop.request("GET", shop.path(f"/members/{member}")), 200, f"GET members/{member}")
    expect_equal((view.get("level_name"), view.get("discount_bp")), ("金卡", 9500), "level after the change")
    added = "+".join(str(answers[t]["added"]) for t in ("signin", "profile", "review"))
    return (
        f"{member}: sign-in, profile, review {added} growth (a second sign-in today: +0), growth {growth} 银卡;"
        f" 金卡 moved to {growth} growth -> 金卡 95 % on the next read"
    )


def fan_leaderboard(demo: Demo) -> str:
    """Two more fans for member-a; the binding worker scores them and the weekly board shows it."""
    shop = demo.signed
    for member in ("member-c", "member-d"):
        expect(
            shop.request("POST", shop.path(f"/members/{member}/inviter"), {"inviter_id": "member-a"}),
            201,
            f"bind {member} to member-a",
        )
    # member-a: member-b, member-c, member-d (level 1) and member-fan (level 2); member-b: member-fan
    wanted = [("member-a", 4), ("member-b", 1)]
    deadline = time.monotonic() + 15
    while True:
        got = expect(shop.request("GET", shop.path("/leaderboards/weekly")), 200, "GET leaderboards/weekly")
        entries = [(e["member_id"], e["fans"]) for e in got.get("entries", [])]
        if entries == wanted:
            shown = ", ".join(f"{e['rank']}. {e['member_id']} ({e['fans']})" for e in got["entries"])
            return f"weekly board {got['period']} (from {got['starts_at']}), fans: {shown}; reward: {got['reward_text']}"
        if time.monotonic() > deadline:
            raise DemoFailed(f"the weekly board shows {entries} 15 s after the bindings, not {wanted}")
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


Step = Callable[[Demo], str]
STEPS: list[tuple[str, Step]] = [
    ("create a shop (operator)", create_shop),
    ("distribution settings", put_distribution),
    ("membership settings", put_membership),
    ("WeChat Pay settings from the stand-in", configure_wechatpay),
    ("bind a distributor chain", bind_chain),
    ("register and pay an order", pay_order),
    ("settle and withdraw to WeChat", settle_and_withdraw),
    ("member signs in / completes profile / levels up", member_growth),
    ("fan leaderboard (weekly)", fan_leaderboard),
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
