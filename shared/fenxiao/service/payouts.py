"""Payouts: a withdrawal paid to the member's WeChat balance through WeChat Pay's merchant transfer (商家转账).

The payout worker (``advance``, run for each PayoutQueue nudge) converges a ``pending`` withdrawal with its
transfer bill at WeChat Pay, whose number (``out_bill_no``) is fixed by the withdrawal id — so whatever is
retried, at most one bill exists and it pays at most once:

1. no bill known yet: record the attempt (so a crash after sending is noticed), then create the bill; a
   later attempt first queries the bill number and creates only if WeChat Pay has none;
2. a verified answer's state is applied: ACCEPTED / PROCESSING / WAIT_USER_CONFIRM / TRANSFERING keep the
   withdrawal ``pending`` (with ``package_info`` while the member must confirm); SUCCESS moves the amount
   withdrawing -> withdrawn; FAIL / CANCELLED return it withdrawing -> available, with the reason;
3. a verified 4xx rejection fails the withdrawal (money returned) only once a query made REFUSAL_SETTLE
   after the last create request still finds no such bill (another create for the bill may have been on
   its way); no answer (network, timeout, 5xx, an answer that does not verify) is retried with backoff on
   the same bill number: a delayed nudge, and the PayoutChecks index as the safety net;
4. every call goes to the merchant pinned on the withdrawal when it was requested: if the shop names
   another merchant since, nothing is sent (a second bill at the new merchant is never risked).

The final state normally arrives with the ``MCHTRANSFER.BILL.FINISHED`` notification (``on_bill_finished``);
bills with no news by their ``check_at`` are queried by the scheduled ``payout-check`` job (``check_page``),
which only nudges the worker. Every change of a withdrawal is conditional on its ``version`` and on it still
being ``pending``, and the money moves with ledger keys ``WD#{id}#PAID`` / ``WD#{id}#RETURN``, so a duplicate
notification, a notification that overtakes the API answer, or a stale answer applies nothing twice and
never moves a bill back.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from fenxiao import clock
from fenxiao.adapters import withdrawals as table
from fenxiao.adapters.shops import ShopModel
from fenxiao.adapters.unit_of_work import UnitOfWork, WriteConflict
from fenxiao.adapters.wechatpay_transfer import (
    CONNECT_TIMEOUT_SECONDS,
    READ_TIMEOUT_SECONDS,
    TransferClient,
    TransferRejected,
    TransferUnavailable,
)
from fenxiao.adapters.withdrawals import CHECK_SHARDS, WithdrawalModel, ledger_entry_key, load
from fenxiao.bootstrap import Container, container
from fenxiao.domain.ledger import Movement
from fenxiao.domain.withdrawals import (
    FAILED_STATES,
    OUT_BILL_NO,
    PACING,
    SUCCESS_STATES,
    is_final_state,
    is_known_state,
    moves_forward,
    status_of_state,
)
from fenxiao.observability import count, logger
from fenxiao.service import settings
from fenxiao.service.jobs import Page
from fenxiao.service.notifications import EVENT_BILL_FINISHED, record
from fenxiao.service.shops import load_shop, platform_keys, wechatpay_secrets
from fenxiao.service.withdrawals import nudge_payout
from fenxiao.timefmt import from_key, key

MAX_APPLY_ATTEMPTS = 5
CHECK_PAGE_SIZE = 100
MAX_SQS_DELAY_SECONDS = 900
# A refusal is trusted only from a query this long after the last create request: by then any request for
# the bill that was on its way (ours timed out, a duplicate worker's) has been answered or given up on.
REFUSAL_SETTLE = timedelta(seconds=CONNECT_TIMEOUT_SECONDS + READ_TIMEOUT_SECONDS + 20)


class BillMismatch(Exception):
    """WeChat Pay's bill does not match the withdrawal (number, amount, openid or appid): nothing is applied,
    ops look."""


# ---------------------------------------------------------------- the worker


def advance(c: Container, shop_id: str, withdrawal_id: str, now: datetime) -> None:
    """One nudge: bring a ``pending`` withdrawal closer to its final state. Anything else is left alone."""
    w = load(shop_id, withdrawal_id)
    if w is None or w.status != "pending":
        return
    shop = load_shop(shop_id)
    if pinned_mchid(shop, w) != shop.wx_mchid:
        _merchant_changed(c, shop, w, now)
        return
    try:
        client = _client(c, shop)
        if w.refusal:
            _confirm_refusal(c, shop, client, w, now)
        elif w.wx_state is None:
            _submit(c, shop, client, w, now)
        else:
            bill = client.query_bill(w.out_bill_no)
            if bill is None:
                raise TransferUnavailable("WeChat Pay no longer finds a bill it reported; will look again")
            _converge(c, shop, client, w, bill, now, queried=True)
    except (TransferUnavailable, TransferRejected) as exc:
        _retry_later(c, shop_id, withdrawal_id, now, exc)
    except BillMismatch as exc:
        _bill_mismatch(w, now, exc)
        _retry_later(c, shop_id, withdrawal_id, now, exc, nudge=False)


def _bill_mismatch(w: WithdrawalModel, now: datetime, exc: BillMismatch) -> None:
    """A bill WeChat Pay answered or reported for the withdrawal's number does not match it (another
    deployment's bill on the same merchant, or a payee or appid other than the withdrawal's): nothing is
    paid or returned; recorded like a notification without effect, logged as an error, counted."""
    summary = {"out_bill_no": w.out_bill_no, "withdrawal_id": w.withdrawal_id, "reason": str(exc)}
    logger().error("transfer bill does not match its withdrawal", extra=summary)
    count("BillMismatch")
    source = {
        "id": f"BILL-{w.out_bill_no}-mismatch",
        "event_type": EVENT_BILL_FINISHED,
        "summary": "bill from WeChat Pay's answer or bill query",
    }
    record(w.shop_id, source, "not_applied:bill_mismatch", now, summary)


def pinned_mchid(shop: ShopModel, w: WithdrawalModel) -> str | None:
    """The merchant the withdrawal's bill belongs to (pinned at request time; older items: the shop's)."""
    return w.mchid or shop.wx_mchid


def _merchant_changed(c: Container, shop: ShopModel, w: WithdrawalModel, now: datetime) -> None:
    """The shop now names another merchant than the one the bill belongs to. A query at the new merchant
    would answer NOT_FOUND and a create there would be a second bill, so nothing is sent: the money stays
    withdrawing, the operator looks (restore the merchant, or settle the bill by hand)."""
    logger().error(
        "the shop's WeChat Pay merchant changed while a payout was unresolved; nothing sent to the new one",
        extra={"shop_id": shop.shop_id, "withdrawal_id": w.withdrawal_id, "pinned_mchid": w.mchid},
    )
    count("PayoutMerchantChanged")
    _retry_later(c, w.shop_id, w.withdrawal_id, now, RuntimeError("merchant changed"), nudge=False)


def _submit(c: Container, shop: ShopModel, client: TransferClient, w: WithdrawalModel, now: datetime) -> None:
    if int(w.attempts or 0) > 0:
        # An earlier attempt may have reached WeChat Pay without us hearing back: ask before sending again.
        bill = client.query_bill(w.out_bill_no)
        if bill is not None:
            _converge(c, shop, client, w, bill, now, queried=True)
            return
    marked = _mark_attempt(w)
    if marked is None:
        return  # changed meanwhile (a notification, another worker): that one carries on
    try:
        bill = client.create_bill(transfer_request(c, shop, marked))
    except TransferRejected as exc:
        logger().warning(
            "transfer refused by WeChat Pay", extra={"withdrawal_id": w.withdrawal_id, "code": exc.code}
        )
        count("PayoutsRefused", code=exc.code)
        found = client.query_bill(marked.out_bill_no)
        if found is not None:
            _converge(c, shop, client, marked, found, now, queried=True)
            return
        _hold_refusal(c, marked, f"{exc.code}: {exc.message}")
        return
    count("PayoutsSubmitted")
    _converge(c, shop, client, marked, bill, now)


def _mark_attempt(w: WithdrawalModel) -> WithdrawalModel | None:
    """Count the attempt before sending: a crash after the request leaves ``attempts > 0`` (query first next
    time) and a ``check_at`` for the reconciler; ``attempted_at`` dates the request a refusal is measured
    from. None when the withdrawal changed since it was read."""
    sent_at = clock.now()  # read now, just before the request goes out (the handler's time may be older)
    attempts = int(w.attempts or 0) + 1
    version = int(w.version or 0)
    actions = [
        WithdrawalModel.attempts.set(attempts),
        WithdrawalModel.version.set(version + 1),
        WithdrawalModel.attempted_at.set(key(sent_at)),
        WithdrawalModel.check_shard.set(table.check_shard(w.withdrawal_id)),
        WithdrawalModel.check_at.set(key(sent_at + PACING.retry_after(attempts))),
    ]
    if not w.submitted_at:
        actions.append(WithdrawalModel.submitted_at.set(key(sent_at)))
    uow = UnitOfWork(sent_at)
    uow.update(
        "withdrawal",
        w,
        actions=actions,
        condition=table.unchanged("pending", version)
        & WithdrawalModel.wx_state.does_not_exist()
        & WithdrawalModel.refusal.does_not_exist(),
    )
    try:
        uow.commit()
    except WriteConflict:
        return None
    return load(w.shop_id, w.withdrawal_id)


# ---------------------------------------------------------------- a refusal, confirmed before money returns


def _hold_refusal(c: Container, w: WithdrawalModel, reason: str) -> None:
    """A verified 4xx and no bill right after: not yet proof. Another create for this bill number may still
    be on its way (a duplicate nudge, the reconciler, a request of ours that timed out), so the refusal is
    kept and the money stays withdrawing until a query made REFUSAL_SETTLE after the last create attempt
    still finds nothing (``_confirm_refusal``). Conditional on the version: if another worker has sent a
    request since, its answer decides, and this refusal is dropped."""
    version = int(w.version or 0)
    attempted = from_key(w.attempted_at) if w.attempted_at else clock.now()
    confirm_at = attempted + REFUSAL_SETTLE
    held = table.update_if(
        w,
        [
            WithdrawalModel.refusal.set(reason[:200]),
            WithdrawalModel.version.set(version + 1),
            WithdrawalModel.check_shard.set(table.check_shard(w.withdrawal_id)),
            WithdrawalModel.check_at.set(key(confirm_at)),
        ],
        table.unchanged("pending", version) & WithdrawalModel.wx_state.does_not_exist(),
    )
    if held:
        _nudge_at(c, w, confirm_at)


def _confirm_refusal(
    c: Container, shop: ShopModel, client: TransferClient, w: WithdrawalModel, now: datetime
) -> None:
    """Query the bill; fail the withdrawal (money returned) only on a verified NOT_FOUND from a query made
    at least REFUSAL_SETTLE after the last create attempt. Never sends a create."""
    attempted = from_key(w.attempted_at) if w.attempted_at else None
    asked_at = clock.now()
    bill = client.query_bill(w.out_bill_no)
    if bill is not None:
        _converge(c, shop, client, w, bill, now, queried=True)  # the bill exists after all: it decides
        return
    confirm_at = (attempted or asked_at) + REFUSAL_SETTLE
    if attempted is None or asked_at < confirm_at:
        _nudge_at(c, w, confirm_at)  # too early to trust the NOT_FOUND: look again once the window passed
        return
    apply_bill(
        w.shop_id,
        w.withdrawal_id,
        {"out_bill_no": w.out_bill_no, "state": "FAIL", "fail_reason": w.refusal},
        now,
        queried=True,
        reported=False,
    )


def _nudge_at(c: Container, w: WithdrawalModel, when: datetime) -> None:
    delay = math.ceil((when - clock.now()).total_seconds()) + 1
    if delay <= MAX_SQS_DELAY_SECONDS:
        nudge_payout(c, w.shop_id, w.withdrawal_id, delay_seconds=max(delay, 0))


# ---------------------------------------------------------------- package_info, when the answer was lost


def _converge(
    c: Container,
    shop: ShopModel,
    client: TransferClient,
    w: WithdrawalModel,
    bill: Mapping[str, Any],
    now: datetime,
    queried: bool = False,
) -> None:
    """Apply the bill; a bill waiting for the member whose ``package_info`` we never got (the create answer
    was lost, and WeChat Pay's bill query does not return it) is asked for it again: the identical create
    request on the same ``out_bill_no``, which WeChat Pay answers with the bill as it stands."""
    applied = apply_bill(w.shop_id, w.withdrawal_id, bill, now, queried=queried)
    if applied is None or applied.status != "pending" or applied.wx_state != "WAIT_USER_CONFIRM":
        return
    if applied.package_info:
        return
    try:
        answer = client.create_bill(transfer_request(c, shop, applied))
    except TransferRejected as exc:
        # Never a reason to fail: the bill exists and waits for the member. The operator looks.
        logger().error(
            "repeating the transfer request for its package_info was refused",
            extra={"withdrawal_id": w.withdrawal_id, "code": exc.code},
        )
        count("PayoutPackageInfoMissing")
        return
    again = apply_bill(w.shop_id, w.withdrawal_id, answer, now)
    if again is not None and again.status == "pending" and not again.package_info:
        logger().error(
            "WeChat Pay's repeated answer carries no package_info", extra={"withdrawal_id": w.withdrawal_id}
        )
        count("PayoutPackageInfoMissing")


def transfer_request(c: Container, shop: ShopModel, w: WithdrawalModel) -> dict[str, Any]:
    """The bill's parameters. Settings are read as they stood when the withdrawal was requested, and the
    appid is the one pinned on the withdrawal, so every retry sends the very same request (WeChat Pay wants
    a repeated bill number with its original fields)."""
    rules = settings.distribution_at(shop.shop_id, from_key(w.created_at)).settlement
    request: dict[str, Any] = {
        "appid": w.appid or shop.wx_appid,
        "out_bill_no": w.out_bill_no,
        "transfer_scene_id": rules.transfer_scene_id,
        "openid": w.openid,
        "transfer_amount": int(w.amount_fen),
        "transfer_remark": rules.transfer_remark,
    }
    base = c.settings.notify_base_url.rstrip("/")
    if base:
        request["notify_url"] = f"{base}/wechatpay/notify/{shop.shop_id}"
    request["transfer_scene_report_infos"] = [
        {"info_type": info.info_type, "info_content": info.info_content}
        for info in rules.transfer_scene_report_infos
    ]
    return request


def _retry_later(
    c: Container, shop_id: str, withdrawal_id: str, now: datetime, exc: Exception, nudge: bool = True
) -> None:
    """No usable answer: look again after a backoff, on the same bill number (delayed nudge + check_at)."""
    w = load(shop_id, withdrawal_id)
    if w is None or w.status != "pending":
        return
    failures = int(w.failures or 0) + 1
    delay = PACING.retry_after(failures)
    logger().warning(
        "payout step failed; retrying later",
        extra={"withdrawal_id": withdrawal_id, "error": str(exc), "retry_in_s": delay.total_seconds()},
    )
    count("PayoutRetries")
    version = int(w.version or 0)
    updated = table.update_if(
        w,
        [
            WithdrawalModel.failures.set(failures),
            WithdrawalModel.version.set(version + 1),
            WithdrawalModel.check_shard.set(table.check_shard(withdrawal_id)),
            WithdrawalModel.check_at.set(key(now + delay)),
        ],
        table.unchanged("pending", version),
    )
    if not updated:
        return  # changed meanwhile: whoever changed it carries on
    if nudge and delay.total_seconds() <= MAX_SQS_DELAY_SECONDS:
        nudge_payout(c, shop_id, withdrawal_id, delay_seconds=int(delay.total_seconds()))


# ---------------------------------------------------------------- applying a bill's state


def apply_bill(
    shop_id: str,
    withdrawal_id: str,
    bill: Mapping[str, Any],
    now: datetime,
    queried: bool = False,
    reported: bool = True,
    envelope: Mapping[str, Any] | None = None,
) -> WithdrawalModel | None:
    """Converge the withdrawal with the bill as WeChat Pay reports it (answer, query or notification).

    Final states move the money exactly once (conditional on ``pending`` and the version, unique ledger key);
    pending states only record what the member must do and when to look again. ``queried`` counts a query
    towards the check backoff; ``reported`` is False for a state we concluded ourselves (a confirmed
    refusal); ``envelope`` is the notification's, when the bill came with one. A final state WeChat Pay
    reports against a withdrawal already final the other way (SUCCESS after failed/rejected) is recorded for
    the operator, never dropped silently. Returns the withdrawal as it stands afterwards."""
    state = str(bill.get("state") or "")
    for _ in range(MAX_APPLY_ATTEMPTS):
        w = load(shop_id, withdrawal_id)
        if w is None:
            return w
        if w.status != "pending":
            if reported:
                _after_final(w, state, bill, now, envelope)
            return w
        _check_matches(w, bill)
        if not is_known_state(state):
            raise BillMismatch(f"unknown transfer state {state[:32]!r}")
        version = int(w.version or 0)
        uow = UnitOfWork(now)
        now_key = key(now)
        actions: list[Any] = [WithdrawalModel.version.set(version + 1)]
        if w.failures:
            actions.append(WithdrawalModel.failures.set(0))  # an answer came: the retry backoff starts over
        if w.refusal and reported:
            actions.append(WithdrawalModel.refusal.remove())  # WeChat Pay has the bill: the refusal is moot
        transfer_bill_no = bill.get("transfer_bill_no")
        if isinstance(transfer_bill_no, str) and transfer_bill_no and not w.transfer_bill_no:
            actions.append(WithdrawalModel.transfer_bill_no.set(transfer_bill_no[:64]))
        checks = int(w.checks or 0) + (1 if queried else 0)
        if queried:
            actions.append(WithdrawalModel.checks.set(checks))
        if is_final_state(state):
            _finish(uow, w, state, bill, actions)
        else:
            package = bill.get("package_info")
            has_package = state == "WAIT_USER_CONFIRM" and isinstance(package, str) and bool(package)
            if moves_forward(w.wx_state, state):
                actions += [WithdrawalModel.wx_state.set(state), WithdrawalModel.updated_at.set(now_key)]
                if has_package:
                    actions.append(WithdrawalModel.package_info.set(str(package)[:2048]))
                elif state != "WAIT_USER_CONFIRM" and w.package_info:
                    actions.append(WithdrawalModel.package_info.remove())
            elif has_package and w.wx_state == state and not w.package_info:
                # Still waiting for the member, and now we have what the mini-program needs to ask them.
                actions += [
                    WithdrawalModel.package_info.set(str(package)[:2048]),
                    WithdrawalModel.updated_at.set(now_key),
                ]
            actions += [
                WithdrawalModel.check_shard.set(table.check_shard(withdrawal_id)),
                WithdrawalModel.check_at.set(key(now + PACING.check_after(checks))),
            ]
        if is_final_state(state):
            actions.append(WithdrawalModel.updated_at.set(now_key))
        uow.update("withdrawal", w, actions=actions, condition=table.unchanged("pending", version))
        try:
            uow.commit()
        except WriteConflict:
            continue  # changed meanwhile (a notification overtaking the answer...): re-read and converge
        if is_final_state(state):
            count("PayoutsSucceeded" if state == "SUCCESS" else "PayoutsFailed")
        return load(shop_id, withdrawal_id)
    raise RuntimeError(f"withdrawal {withdrawal_id} kept changing; the message will be retried")


def _after_final(
    w: WithdrawalModel,
    state: str,
    bill: Mapping[str, Any],
    now: datetime,
    envelope: Mapping[str, Any] | None,
) -> None:
    """WeChat Pay reports a final state that contradicts the withdrawal's final status: SUCCESS for one whose
    money was returned (failed, rejected), or FAIL/CANCELLED for one counted as paid. Nothing can be applied
    (the money already moved); it is recorded like a notification without effect
    (``not_applied:after_final``), logged as an error and counted (``PayoutAfterFinal``) for the operator."""
    paid_after_return = state in SUCCESS_STATES and w.status in ("failed", "rejected")
    failed_after_paid = state in FAILED_STATES and w.status == "succeeded"
    if not (paid_after_return or failed_after_paid):
        return
    summary = {
        "out_bill_no": w.out_bill_no,
        "transfer_bill_no": bill.get("transfer_bill_no"),
        "state": state,
        "withdrawal_id": w.withdrawal_id,
        "withdrawal_status": w.status,
    }
    logger().error("WeChat Pay reports a final state against a final withdrawal", extra=summary)
    count("PayoutAfterFinal", state=state)
    source = envelope or {
        "id": f"BILL-{w.out_bill_no}-{state}",
        "event_type": EVENT_BILL_FINISHED,
        "summary": "bill state from WeChat Pay's answer or bill query",
    }
    record(w.shop_id, source, "not_applied:after_final", now, summary)


def _finish(
    uow: UnitOfWork, w: WithdrawalModel, state: str, bill: Mapping[str, Any], actions: list[Any]
) -> None:
    amount = int(w.amount_fen)
    status = status_of_state(state)
    actions += [
        WithdrawalModel.status.set(status),
        WithdrawalModel.wx_state.set(state),
        WithdrawalModel.package_info.remove(),
        WithdrawalModel.check_shard.remove(),
        WithdrawalModel.check_at.remove(),
    ]
    if status == "succeeded":
        movement = Movement(
            w.shop_id,
            w.member_id,
            ledger_entry_key(w.withdrawal_id, "PAID"),
            "withdrawal_paid",
            ref=w.withdrawal_id,
            withdrawing_fen=-amount,
            withdrawn_fen=amount,
        )
    else:
        reason = str(bill.get("fail_reason") or state)[:200]
        actions.append(WithdrawalModel.reason.set(reason))
        movement = Movement(
            w.shop_id,
            w.member_id,
            ledger_entry_key(w.withdrawal_id, "RETURN"),
            "withdrawal_return",
            ref=w.withdrawal_id,
            withdrawing_fen=-amount,
            available_fen=amount,
        )
    uow.move(movement)


def _check_matches(w: WithdrawalModel, bill: Mapping[str, Any]) -> None:
    number = bill.get("out_bill_no")
    if number is not None and number != w.out_bill_no:
        raise BillMismatch(f"bill {str(number)[:32]!r} is not the withdrawal's {w.out_bill_no}")
    amount = bill.get("transfer_amount")
    if amount is not None and amount != int(w.amount_fen):
        raise BillMismatch(f"bill amount {amount!r} differs from the withdrawal's {int(w.amount_fen)}")
    # A bill of this number paying someone else, or under another mini-program, is not this withdrawal's.
    openid = bill.get("openid")
    if openid is not None and openid != w.openid:
        raise BillMismatch("bill openid differs from the withdrawal's")
    appid = bill.get("appid")
    if appid is not None and w.appid is not None and appid != w.appid:
        raise BillMismatch(f"bill appid {str(appid)[:32]!r} differs from the withdrawal's {w.appid}")


# ---------------------------------------------------------------- the notification


def on_bill_finished(
    c: Container, shop: ShopModel, data: dict[str, Any], envelope: dict[str, Any], now: datetime
) -> None:
    """``MCHTRANSFER.BILL.FINISHED`` (verified and decrypted by service.notifications)."""
    number = str(data.get("out_bill_no") or "")
    ids = {
        "out_bill_no": number,
        "transfer_bill_no": data.get("transfer_bill_no"),
        "state": data.get("state"),
    }
    mchid = str(data.get("mchid", data.get("mch_id", "")))
    if not OUT_BILL_NO.match(number):
        record(shop.shop_id, envelope, "not_applied:bad_identifiers", now, ids)
        return
    withdrawal_id = table.withdrawal_of_bill(shop.shop_id, number)
    if withdrawal_id is None:
        kind = "merchant_mismatch" if mchid != shop.wx_mchid else "unknown_bill"
        record(shop.shop_id, envelope, f"not_applied:{kind}", now, ids)
        return
    w = load(shop.shop_id, withdrawal_id)
    if w is None or mchid != pinned_mchid(shop, w):  # the bill's merchant is the one pinned on the withdrawal
        record(shop.shop_id, envelope, "not_applied:merchant_mismatch", now, ids)
        return
    try:
        apply_bill(shop.shop_id, withdrawal_id, data, now, envelope=envelope)
    except BillMismatch as exc:
        logger().error("transfer notification does not match its withdrawal", extra={"reason": str(exc)})
        count("BillMismatch")
        record(shop.shop_id, envelope, "not_applied:bill_mismatch", now, {**ids, "reason": str(exc)})


# ---------------------------------------------------------------- the reconciler job


def check_page(now: datetime, cursor: dict[str, Any] | None) -> Page:
    """``payout-check``: nudge the worker for every pending payout whose ``check_at`` has passed (sparse,
    sharded PayoutChecks index; cost follows what is due). The worker does the WeChat Pay calls."""
    now_key = key(now)
    shard = int((cursor or {}).get("shard", 0))
    start: dict[str, Any] | None = (cursor or {}).get("start")
    messages: list[dict[str, Any]] = []
    while shard < CHECK_SHARDS and len(messages) < CHECK_PAGE_SIZE:
        due, start = table.due_checks(shard, now_key, start, CHECK_PAGE_SIZE - len(messages))
        messages += [{"shop_id": shop_id, "withdrawal_id": withdrawal_id} for shop_id, withdrawal_id in due]
        if start is None:
            shard += 1
    if messages:
        container().queues.send_many("payout", messages)
    next_cursor = {"shard": shard, "start": start} if shard < CHECK_SHARDS else None
    return Page(processed=len(messages), details={"payouts_nudged": len(messages)}, cursor=next_cursor)


# ---------------------------------------------------------------- the shop's transfer client, cached briefly

_CLIENT_TTL_SECONDS = 60.0


def _client(c: Container, shop: ShopModel) -> TransferClient:
    """The shop's client (merchant key decrypted with KMS once a minute at most, per container); built anew
    at once when the shop's WeChat Pay settings or the WeChat Pay base URL changed."""
    stamp = shop.wx_updated_at or ""
    base_url = c.settings.wechatpay_base_url

    def still_good(hit: tuple[str, TransferClient]) -> bool:
        return hit[0] == stamp and hit[1].base_url == base_url

    return c.transfer_clients.get(
        shop.shop_id, _CLIENT_TTL_SECONDS, lambda: (stamp, _new_client(c, shop)), still_good
    )[1]


def _new_client(c: Container, shop: ShopModel) -> TransferClient:
    from fenxiao.adapters.wechatpay_crypto import load_private_key

    _, merchant_pem = wechatpay_secrets(c, shop)
    if not merchant_pem or not shop.wx_mchid or not shop.wx_merchant_serial:
        raise TransferRejected(0, "NOT_CONFIGURED", "the shop has no merchant key to sign transfers with")
    return TransferClient(
        c.settings.wechatpay_base_url,
        shop.wx_mchid,
        shop.wx_merchant_serial,
        load_private_key(merchant_pem),
        platform_keys(shop),
        now_unix=clock.unix_now,
    )
