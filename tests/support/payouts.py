"""A payout rig: the WeChat Pay stand-in on loopback (real HTTP, real signatures), the stack on moto, the payout
worker fed from the real PayoutQueue, and the stand-in's notifications delivered to the real notify route."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest

from fenxiao import bootstrap, clock
from fenxiao.adapters.withdrawals import WithdrawalModel
from fenxiao_local.standin import Standin
from fenxiao_local.standin_payouts import Bill, PayoutDesk
from tests.support import wechatpay as wx
from tests.support.app import Answer, Api, ShopCaller
from tests.support.money import give_available
from tests.support.stack import moto_dynamodb_serialized, take_messages
from tests.support.wechatpay import OPENID

NOTIFY_BASE = "https://fenxiao.test/Prod"


class PayoutRig:
    def __init__(self, api: Api, shop: ShopCaller, env: dict[str, str], standin: Standin) -> None:
        self.api = api
        self.shop = shop
        self.env = env
        self.standin = standin
        self.desk: PayoutDesk = standin.payouts
        self.desk.deliver = self._deliver
        self.delivered: list[tuple[str, int]] = []  # (path, status) of every notification the stack got
        # chalice's test client keeps the current request on the app: one request at a time.
        self.http_lock = threading.RLock()

    # ------------------------------------------------------------ the stack's side

    def _deliver(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
        path = urlsplit(url).path.removeprefix(urlsplit(NOTIFY_BASE).path)
        with self.http_lock:
            response = self.api.client.http.request("POST", path, headers=headers, body=body)
        self.delivered.append((path, response.status_code))
        raw = response.body.decode() if isinstance(response.body, bytes) else response.body
        return response.status_code, (json.loads(raw) if raw else None)

    def withdraw(self, withdrawal_id: str, amount: int, member: str = "m1") -> Answer:
        body = {"withdrawal_id": withdrawal_id, "amount_fen": amount, "openid": OPENID}
        with self.http_lock:
            return self.shop.post(self.shop.path(f"/members/{member}/withdrawals"), body)

    def view(self, withdrawal_id: str, member: str = "m1") -> dict[str, Any]:
        self.desk.wait_idle()
        with self.http_lock:
            answer = self.shop.get(self.shop.path(f"/members/{member}/withdrawals/{withdrawal_id}"))
        assert answer.status == 200, answer.body
        return dict(answer.body)

    def work(self) -> int:
        """Run the payout worker over every message waiting on PayoutQueue (as Lambda would)."""
        handled = wx.drain(self.env, "FENXIAO_PAYOUT_QUEUE_URL", "on_payout_event")
        self.desk.wait_idle()
        return handled

    def later(self, delta: timedelta) -> datetime:
        clock.set_now(clock.now() + delta)
        return clock.now()

    def check(self) -> int:
        """The scheduled payout-check job (every page), then the worker on what it nudged."""
        from fenxiao.service.payouts import check_page

        cursor: dict[str, Any] | None = None
        nudged = 0
        while True:
            page = check_page(clock.now(), cursor)
            nudged += page.processed
            cursor = page.cursor
            if cursor is None:
                break
        self.work()
        return nudged

    def stored(self, withdrawal_id: str) -> WithdrawalModel:
        return WithdrawalModel.get(f"shop1#{withdrawal_id}", consistent_read=True)

    # ------------------------------------------------------------ WeChat Pay's side

    def bill(self, withdrawal_id: str) -> Bill | None:
        from fenxiao.domain.withdrawals import out_bill_no

        self.desk.wait_idle()
        salt = bootstrap.container().settings.bill_salt
        return self.desk.bills.get((wx.MCHID, out_bill_no("shop1", withdrawal_id, salt)))

    def paid_to(self, openid: str = OPENID) -> int:
        self.desk.wait_idle()
        return sum(b.amount for b in self.desk.bills.values() if b.openid == openid and b.state == "SUCCESS")


@contextmanager
def payout_rig(
    api: Api, shop: ShopCaller, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[PayoutRig]:
    """The rig for one test (use it from a fixture): stand-in started, stack pointed at it, member funded."""
    standin = Standin(wx.keys, "127.0.0.1", 0)
    standin.start()
    monkeypatch.setenv("FENXIAO_WECHATPAY_BASE_URL", standin.url)
    monkeypatch.setenv("FENXIAO_NOTIFY_BASE_URL", NOTIFY_BASE)
    bootstrap.reset()
    clock.set_now(datetime.fromisoformat("2026-11-20T10:00:00+08:00"))
    assert shop.put(shop.path("/settings/wechatpay"), wx.wechatpay_settings()).status == 200
    give_available("shop1", "m1", 10_000)
    rig = PayoutRig(api, shop, env, standin)
    try:
        with moto_dynamodb_serialized():
            yield rig
            rig.desk.wait_idle()
    finally:
        standin.stop()
        bootstrap.container().transfer_clients.clear()


def payout_messages(env: dict[str, str]) -> list[dict[str, Any]]:
    """Take the nudges waiting on PayoutQueue (moto)."""
    return take_messages(env["FENXIAO_PAYOUT_QUEUE_URL"])


def funded_shop(shop: ShopCaller, at: datetime) -> ShopCaller:
    """The shop with WeChat Pay configured, withdrawals from 100 fen, and m1 holding 5 000 fen available, at ``at``."""
    clock.set_now(at)
    assert shop.put(shop.path("/settings/wechatpay"), wx.wechatpay_settings()).status == 200
    assert (
        shop.put(shop.path("/settings/distribution"), {"settlement": {"withdraw_min_fen": 100}}).status == 200
    )
    give_available("shop1", "m1", 5_000)
    return shop
