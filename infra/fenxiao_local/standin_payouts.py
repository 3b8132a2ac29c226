"""The stand-in's merchant transfers (商家转账): WeChat Pay's payout API as the payout worker sees it, with faults.

WeChat Pay's routes (requests must carry a valid ``WECHATPAY2-SHA256-RSA2048`` Authorization signed with the
stand-in's merchant key; answers are signed with its platform key, public key mode):

``POST /v3/fund-app/mch-transfer/transfer-bills``
    creates a bill, deduplicated on ``out_bill_no`` (the same number with the same request body, ``notify_url``
    aside, answers the bill as it stands, with ``package_info`` while it waits for the member; any other
    field different: 400 ``INVALID_REQUEST``); ``transfer_amount`` from 2000 yuan on needs
    ``user_name`` (400 ``PARAM_ERROR``). The answer carries the bill as it was created (``ACCEPTED``, or
    ``WAIT_USER_CONFIRM`` with ``package_info``); the final state follows with ``MCHTRANSFER.BILL.FINISHED``,
    signed and encrypted, POSTed to the request's ``notify_url`` (none given: no notification, as WeChat
    Pay; the bill is then learnt by querying it).
``GET /v3/fund-app/mch-transfer/transfer-bills/out-bill-no/{out_bill_no}``
    the bill, or 404 ``NOT_FOUND``. As WeChat Pay's 商户单号查询转账单, the answer has no ``package_info``
    (mch_id, out_bill_no, transfer_bill_no, appid, state, transfer_amount, transfer_remark, fail_reason,
    openid, create_time, update_time): only a create answer carries it.

A bad signature answers 401 ``{"code": "SIGN_ERROR", "message"}``. Local-only control routes:

``POST /standin/payouts/behaviour`` ``{...fields of PayoutBehaviour..., "reset"?: true}``
    how the next transfers go: ``create`` = ``accept`` | ``reject`` (``reject_status``, ``reject_code``) |
    ``error_500`` | ``timeout`` (sleeps ``timeout_seconds`` before answering) for the next ``faults`` create
    requests (0: all of them), ``create_bill_on_fault`` (the faulty answer hides a bill that was created);
    ``outcome`` = ``SUCCESS`` | ``FAIL`` | ``CANCELLED`` | ``WAIT_USER_CONFIRM`` (then waits for the confirm
    route); ``notify`` = ``after`` | ``before_answer`` | ``duplicate`` | ``none``; ``query`` = ``normal`` |
    ``error_500``. Answers the behaviour now in force.
``GET /standin/payouts/bills``
    every bill with its state, its ``package_info`` while waiting, and how many create requests named it
    (``requests``).
``POST /standin/payouts/bills/{out_bill_no}/confirm`` ``{"accept": bool}``
    the member confirms (SUCCESS) or declines (CANCELLED) a bill waiting for them; notifies.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urlencode

from fenxiao import clock
from fenxiao.adapters.wechatpay_crypto import WechatPayCryptoError, notification_headers, verify_authorization
from fenxiao_local.standin import (
    LOCAL_MCHID,
    RawAnswer,
    Standin,
    StandinError,
    StandinRequest,
    build_notification,
    nonce,
    post,
    wechat_time,
)

log = logging.getLogger("fenxiao_local.standin.payouts")

CREATE_PATH = "/v3/fund-app/mch-transfer/transfer-bills"
QUERY_PATH = "/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/{out_bill_no}"
USER_NAME_FROM_FEN = 2000_00
_OUT_BILL_NO = re.compile(r"^[A-Za-z0-9]{5,32}$")
_NOTIFY_PATH = re.compile(r"/wechatpay/notify/([A-Za-z0-9_.:\-]{1,64})$")

Deliver = Callable[[str, bytes, dict[str, str]], tuple[int, Any]]


@dataclass
class PayoutBehaviour:
    create: str = "accept"  # accept | reject | error_500 | timeout
    faults: int = 1  # create requests the fault applies to before accepting again (0: every one)
    reject_status: int = 400
    reject_code: str = "PARAM_ERROR"
    reject_message: str = "参数错误"
    create_bill_on_fault: bool = False
    timeout_seconds: float = 10.0
    outcome: str = "SUCCESS"  # SUCCESS | FAIL | CANCELLED | WAIT_USER_CONFIRM
    fail_reason: str = "PAYEE_ACCOUNT_ABNORMAL"
    notify: str = "after"  # after | before_answer | duplicate | none
    notify_delay_seconds: float = 0.05
    query: str = "normal"  # normal | error_500

    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {
        "create": ("accept", "reject", "error_500", "timeout"),
        "outcome": ("SUCCESS", "FAIL", "CANCELLED", "WAIT_USER_CONFIRM"),
        "notify": ("after", "before_answer", "duplicate", "none"),
        "query": ("normal", "error_500"),
    }


@dataclass
class Bill:
    mchid: str
    appid: str
    out_bill_no: str
    transfer_bill_no: str
    openid: str
    amount: int
    remark: str
    scene_id: str
    notify_url: str | None
    state: str
    create_time: str
    update_time: str
    fail_reason: str | None = None
    package_info: str | None = None
    request: dict[str, Any] = field(default_factory=dict)  # the create body, notify_url aside (dedup)
    requests: int = 1
    notifications: list[int] = field(default_factory=list)  # API answer status of each delivery

    def answer(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "out_bill_no": self.out_bill_no,
            "transfer_bill_no": self.transfer_bill_no,
            "create_time": self.create_time,
            "state": self.state,
        }
        if self.state == "WAIT_USER_CONFIRM" and self.package_info:
            doc["package_info"] = self.package_info
        if self.fail_reason:
            doc["fail_reason"] = self.fail_reason
        return doc

    def document(self) -> dict[str, Any]:
        doc = {
            "mch_id": self.mchid,
            "out_bill_no": self.out_bill_no,
            "transfer_bill_no": self.transfer_bill_no,
            "appid": self.appid,
            "state": self.state,
            "transfer_amount": self.amount,
            "transfer_remark": self.remark,
            "openid": self.openid,
            "create_time": self.create_time,
            "update_time": self.update_time,
        }
        if self.fail_reason:
            doc["fail_reason"] = self.fail_reason
        return doc  # no package_info: WeChat Pay's bill query does not return it

    def notification_resource(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "mchid": self.mchid,
            "out_bill_no": self.out_bill_no,
            "transfer_bill_no": self.transfer_bill_no,
            "state": self.state,
            "transfer_amount": self.amount,
            "openid": self.openid,
            "create_time": self.create_time,
            "update_time": self.update_time,
        }
        if self.fail_reason:
            doc["fail_reason"] = self.fail_reason
        return doc


def _dedup_fields(data: dict[str, Any]) -> dict[str, Any]:
    """What a repeated create must repeat exactly (WeChat Pay: 原单重试 with the original parameters); the
    notify_url may differ."""
    return {k: v for k, v in data.items() if k != "notify_url"}


class PayoutDesk:
    """The payout routes of one stand-in; ``deliver`` sends notifications (replaceable in tests)."""

    def __init__(self, standin: Standin, deliver: Deliver | None = None) -> None:
        self.standin = standin
        self.deliver: Deliver = deliver or (lambda url, body, headers: post(url, body, headers, timeout=10.0))
        self.behaviour = PayoutBehaviour()
        self.bills: dict[tuple[str, str], Bill] = {}
        self._faults_used = 0
        self._lock = threading.RLock()
        self._workers: list[threading.Thread] = []
        standin.add_route("POST", CREATE_PATH, self._create)
        standin.add_route("GET", QUERY_PATH, self._query)
        standin.add_route("POST", "/standin/payouts/behaviour", self._set_behaviour)
        standin.add_route("GET", "/standin/payouts/bills", self._list_bills)
        standin.add_route("POST", "/standin/payouts/bills/{out_bill_no}/confirm", self._confirm)

    # ------------------------------------------------------------ control

    def configure(self, **changes: Any) -> PayoutBehaviour:
        with self._lock:
            if changes.pop("reset", False):
                self.behaviour = PayoutBehaviour()
            known = {f.name: f for f in dataclasses.fields(PayoutBehaviour)}
            for name, value in changes.items():
                if name not in known:
                    raise StandinError(400, "PARAM_ERROR", f"unknown behaviour field {name}")
                choices = PayoutBehaviour.CHOICES.get(name)
                if choices and value not in choices:
                    raise StandinError(400, "PARAM_ERROR", f"{name} must be one of {', '.join(choices)}")
                current = getattr(self.behaviour, name)
                if isinstance(current, bool) and not isinstance(value, bool):
                    raise StandinError(400, "PARAM_ERROR", f"{name} must be a boolean")
                if isinstance(current, int | float) and not isinstance(value, int | float):
                    raise StandinError(400, "PARAM_ERROR", f"{name} must be a number")
                setattr(self.behaviour, name, value)
            self._faults_used = 0
            return dataclasses.replace(self.behaviour)

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Wait until every scheduled finalisation and notification has run (tests)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                alive = [t for t in self._workers if t.is_alive()]
                self._workers = alive
            if not alive or time.monotonic() > deadline:
                return
            alive[0].join(timeout=max(0.0, deadline - time.monotonic()))

    def confirm(self, out_bill_no: str, accept: bool, mchid: str = LOCAL_MCHID) -> Bill:
        with self._lock:
            bill = self.bills.get((mchid, out_bill_no))
            if bill is None:
                raise StandinError(404, "NOT_FOUND", "no such bill")
            if bill.state != "WAIT_USER_CONFIRM":
                raise StandinError(400, "INVALID_REQUEST", f"the bill is {bill.state}")
            self._finish(bill, "SUCCESS" if accept else "CANCELLED")
        self._notify(bill, self.behaviour.notify)
        return bill

    def _set_behaviour(self, request: StandinRequest) -> tuple[int, Any]:
        data = request.json()
        if not isinstance(data, dict):
            raise StandinError(400, "PARAM_ERROR", "expected a JSON object")
        return 200, dataclasses.asdict(self.configure(**data))

    def _list_bills(self, request: StandinRequest) -> tuple[int, Any]:
        with self._lock:
            bills = [
                {
                    **b.document(),
                    "package_info": b.package_info,
                    "requests": b.requests,
                    "notifications": list(b.notifications),
                }
                for b in self.bills.values()
            ]
        return 200, {"bills": bills}

    def _confirm(self, request: StandinRequest) -> tuple[int, Any]:
        data = request.json()
        if not isinstance(data, dict) or not isinstance(data.get("accept"), bool):
            raise StandinError(400, "PARAM_ERROR", "accept must be a boolean")
        mchid = str(data.get("mchid") or LOCAL_MCHID)
        bill = self.confirm(request.params["out_bill_no"], data["accept"], mchid)
        return 200, bill.document()

    # ------------------------------------------------------------ WeChat Pay's routes

    def _create(self, request: StandinRequest) -> tuple[int, Any]:
        try:
            mchid = self._verify(request)
        except StandinError as exc:
            return self._signed(exc.status, {"code": exc.code, "message": exc.message})
        try:
            fields = self._transfer_fields(request)
        except StandinError as exc:
            return self._signed(exc.status, {"code": exc.code, "message": exc.message})
        behaviour = self.behaviour
        fault = self._take_fault()
        if fault in ("reject",):
            return self._signed(
                behaviour.reject_status, {"code": behaviour.reject_code, "message": behaviour.reject_message}
            )
        with self._lock:
            existing = self.bills.get((mchid, fields["out_bill_no"]))
            if existing is not None:
                if existing.request != _dedup_fields(fields):
                    return self._signed(
                        400, {"code": "INVALID_REQUEST", "message": "商户单号重复，且请求参数与原单不一致"}
                    )
                existing.requests += 1
                snapshot = existing.answer()
                bill, created = existing, False
            elif fault in ("error_500", "timeout") and not behaviour.create_bill_on_fault:
                bill, created, snapshot = None, False, {}
            else:
                bill = self._new_bill(mchid, fields)
                self.bills[(mchid, bill.out_bill_no)] = bill
                created, snapshot = True, bill.answer()
        if created and bill is not None:
            self._schedule_outcome(bill, before_answer=behaviour.notify == "before_answer")
        if fault == "error_500":
            return 500, {"code": "SYSTEM_ERROR", "message": "系统繁忙，请稍后重试"}
        if fault == "timeout":
            time.sleep(behaviour.timeout_seconds)
            return 500, {"code": "SYSTEM_ERROR", "message": "timed out"}
        return self._signed(200, snapshot)

    def _query(self, request: StandinRequest) -> tuple[int, Any]:
        try:
            mchid = self._verify(request)
        except StandinError as exc:
            return self._signed(exc.status, {"code": exc.code, "message": exc.message})
        if self.behaviour.query == "error_500":
            return 500, {"code": "SYSTEM_ERROR", "message": "系统繁忙，请稍后重试"}
        with self._lock:
            bill = self.bills.get((mchid, request.params["out_bill_no"]))
            document = bill.document() if bill else None
        if document is None:
            return self._signed(404, {"code": "NOT_FOUND", "message": "记录不存在"})
        return self._signed(200, document)

    def _verify(self, request: StandinRequest) -> str:
        keys = self.standin.keys
        path = request.path + (f"?{urlencode(request.query)}" if request.query else "")
        try:
            return verify_authorization(
                request.headers.get("authorization"),
                request.method,
                path,
                request.body,
                {keys.merchant_serial: keys.merchant_private_key.public_key()},
                None,
                clock.unix_now(),
            )
        except WechatPayCryptoError as exc:
            raise StandinError(401, "SIGN_ERROR", f"签名错误: {exc}") from None

    def _transfer_fields(self, request: StandinRequest) -> dict[str, Any]:
        data = request.json()
        if not isinstance(data, dict):
            raise StandinError(400, "PARAM_ERROR", "请求体不是 JSON 对象")
        for name in ("appid", "out_bill_no", "transfer_scene_id", "openid", "transfer_remark"):
            if not isinstance(data.get(name), str) or not data[name]:
                raise StandinError(400, "PARAM_ERROR", f"{name} 为必填字符串")
        if not _OUT_BILL_NO.match(data["out_bill_no"]):
            raise StandinError(400, "PARAM_ERROR", "out_bill_no 只能由 5-32 位数字和大小写字母组成")
        amount = data.get("transfer_amount")
        if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
            raise StandinError(400, "PARAM_ERROR", "transfer_amount 必须是正整数（分）")
        if amount >= USER_NAME_FROM_FEN and not data.get("user_name"):
            raise StandinError(400, "PARAM_ERROR", "转账金额 >= 2,000元时，user_name 必填")
        if len(data["transfer_remark"]) > 32:
            raise StandinError(400, "PARAM_ERROR", "transfer_remark 最多 32 个字符")
        return data

    def _take_fault(self) -> str:
        with self._lock:
            mode = self.behaviour.create
            if mode == "accept":
                return "accept"
            if self.behaviour.faults and self._faults_used >= self.behaviour.faults:
                return "accept"
            self._faults_used += 1
            return mode

    def _new_bill(self, mchid: str, data: dict[str, Any]) -> Bill:
        now = wechat_time(clock.now())
        waiting = self.behaviour.outcome == "WAIT_USER_CONFIRM"
        return Bill(
            mchid=mchid,
            appid=data["appid"],
            out_bill_no=data["out_bill_no"],
            transfer_bill_no="1330" + "".join(secrets.choice("0123456789") for _ in range(36)),
            openid=data["openid"],
            amount=data["transfer_amount"],
            remark=data["transfer_remark"],
            scene_id=data["transfer_scene_id"],
            notify_url=data.get("notify_url") if isinstance(data.get("notify_url"), str) else None,
            state="WAIT_USER_CONFIRM" if waiting else "ACCEPTED",
            create_time=now,
            update_time=now,
            package_info=("ABBQO+oYAAABAAAAAAB" + nonce(40)) if waiting else None,
            request=_dedup_fields(data),
        )

    # ------------------------------------------------------------ outcomes and notifications

    def _schedule_outcome(self, bill: Bill, before_answer: bool) -> None:
        behaviour = dataclasses.replace(self.behaviour)
        if behaviour.outcome == "WAIT_USER_CONFIRM":
            return  # the member decides, through the confirm route

        def run() -> None:
            if not before_answer:
                time.sleep(behaviour.notify_delay_seconds)
            with self._lock:
                if bill.state in ("SUCCESS", "FAIL", "CANCELLED"):
                    return
                self._finish(bill, behaviour.outcome)
            self._notify(bill, behaviour.notify)

        if before_answer:
            run()
            return
        worker = threading.Thread(target=run, name=f"standin-bill-{bill.out_bill_no}", daemon=True)
        with self._lock:
            self._workers.append(worker)
        worker.start()

    def _finish(self, bill: Bill, state: str) -> None:
        bill.state = state
        bill.update_time = wechat_time(clock.now())
        bill.package_info = None
        if state in ("FAIL", "CANCELLED"):
            bill.fail_reason = self.behaviour.fail_reason if state == "FAIL" else "CANCELLED_BY_USER"

    def _notify(self, bill: Bill, mode: str) -> None:
        if mode == "none":
            return
        url = self._notify_url(bill)
        if url is None:
            log.info("bill %s has no notify_url: not notified", bill.out_bill_no)
            return
        with self._lock:
            resource = bill.notification_resource()
        body, headers, notification_id = build_notification(
            self.standin.keys, "MCHTRANSFER.BILL.FINISHED", resource
        )
        for _ in range(2 if mode == "duplicate" else 1):
            try:
                status, _ = self.deliver(url, body, {**headers, "Content-Type": "application/json"})
            except Exception as exc:  # the API being down is WeChat Pay's retry problem, not a crash
                log.warning("notification %s not delivered: %s", notification_id, exc)
                status = 0
            with self._lock:
                bill.notifications.append(status)

    def _notify_url(self, bill: Bill) -> str | None:
        # As WeChat Pay: a bill created without a notify_url is only ever learnt by querying it.
        return bill.notify_url

    def _signed(self, status: int, document: dict[str, Any]) -> tuple[int, Any]:
        keys = self.standin.keys
        body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        headers = notification_headers(
            keys.platform_private_key, keys.platform_public_key_id, body, int(clock.unix_now()), nonce(32)
        )
        headers["Request-ID"] = f"standin-{secrets.token_hex(8)}"
        return status, RawAnswer(body, headers)
