"""Withdrawals (佣金提现, SPEC §4): request, review, and the views the mall reads.

A request reserves the amount (available -> withdrawing) in ONE transaction with the withdrawal itself: the
withdrawal item is written only if its key is new, and the member's ``available_fen`` is lowered only if it
holds the amount, so no concurrency can overdraw and the same id can never reserve twice. The payout itself
happens later, in the payout worker (service.payouts), never in the HTTP request.

Same withdrawal id and same body again: the same answer (202 and the withdrawal as it stands now). Same id,
different body (another member, amount or openid): 409. A rejected request stores nothing.

Payee (SPEC §10): the member's first withdrawal pins its openid per (shop, appid), in the same transaction (one
held for review: when approved); a
withdrawal to another openid waits for review (``payee_changed``) whatever its amount, and approving it moves
the pin to the new openid (rejecting leaves the old one). For 24 h after a change of the shop's configured
mchid, appid or merchant key, every new withdrawal waits too (``merchant_changed``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fenxiao.adapters import members
from fenxiao.adapters import withdrawals as table
from fenxiao.adapters.shops import ShopModel
from fenxiao.adapters.unit_of_work import UnitOfWork, WriteConflict
from fenxiao.adapters.withdrawals import WithdrawalModel, ledger_entry_key, load
from fenxiao.bootstrap import Container
from fenxiao.domain.errors import Conflict, InvalidInput, NotFound, RuleViolation
from fenxiao.domain.ledger import Movement
from fenxiao.domain.withdrawals import (
    MERCHANT_CHANGED,
    PACING,
    PAYEE_CHANGED,
    PENDING_REVIEW,
    USER_NAME_REQUIRED_FROM_FEN,
    needs_review,
    out_bill_no,
    review_reason,
)
from fenxiao.observability import count
from fenxiao.schemas.withdrawals import ApprovalIn, WithdrawalIn
from fenxiao.service import settings
from fenxiao.service.shops import load_shop
from fenxiao.timefmt import key, rfc3339_from_key


def _body_hash(member_id: str, body: WithdrawalIn) -> str:
    canonical = json.dumps(
        {"member_id": member_id, **body.model_dump(mode="json")}, sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


# ---------------------------------------------------------------- the request


def request_withdrawal(
    c: Container, shop_id: str, member_id: str, body: WithdrawalIn, now: datetime
) -> dict[str, Any]:
    """Reserve the amount and start the payout (or queue the withdrawal for review). Returns its view."""
    digest = _body_hash(member_id, body)
    existing = load(shop_id, body.withdrawal_id)
    if existing is not None:
        return _replay(existing, digest)
    rules = settings.distribution_at(shop_id, now).settlement  # the switch is not read: withdrawals stay open
    if body.amount_fen < rules.withdraw_min_fen:
        raise RuleViolation(
            f"amount_fen: the shop's minimum withdrawal is {rules.withdraw_min_fen} fen",
            code="below_withdraw_min",
            field="amount_fen",
        )
    if body.amount_fen >= USER_NAME_REQUIRED_FROM_FEN:
        raise RuleViolation(
            f"amount_fen: WeChat Pay needs the payee's real name from {USER_NAME_REQUIRED_FROM_FEN} fen on, "
            "which this service does not collect; withdraw less at a time",
            code="amount_needs_user_name",
            field="amount_fen",
        )
    shop = load_shop(shop_id)
    _require_payout_configured(shop)
    assert shop.wx_appid is not None  # checked just above
    for _ in range(3):
        # The member's payee for this appid (SPEC §10): the first withdrawal pins it, another openid waits.
        pin = members.load_payee(shop_id, member_id, shop.wx_appid)
        reason = review_reason(pin.openid if pin is not None else None, body.openid)
        if reason is None and settings.merchant_changed_recently(shop, now):
            reason = MERCHANT_CHANGED
        review = reason is not None or needs_review(body.amount_fen, rules.review_above_fen)
        now_key = key(now)
        item = table.new_withdrawal(
            shop_id,
            body.withdrawal_id,
            member_id=member_id,
            amount_fen=body.amount_fen,
            openid=body.openid,
            body_hash=digest,
            status=PENDING_REVIEW if review else "pending",
            created_at=now_key,
            updated_at=now_key,
            out_bill_no=out_bill_no(shop_id, body.withdrawal_id, c.settings.bill_salt),
            # Pinned: every call for this bill goes to this merchant, whatever the shop's settings become.
            mchid=shop.wx_mchid,
            appid=shop.wx_appid,
            attempts=0,
            checks=0,
            version=0,
        )
        if reason is not None:
            item.review_reason = reason
        if review:
            item.review_queue = table.review_queue(shop_id)
        else:
            # The payout nudge below may be lost (a crash before it is sent): the reconciler finds it here.
            item.check_shard = table.check_shard(body.withdrawal_id)
            item.check_at = key(now + PACING.retry_after(1))
        uow = UnitOfWork(now)
        table.add_new(uow, item)
        if review:
            uow.count(shop_id, "withdrawals_pending_review", 1, body.withdrawal_id)
        if pin is None and not review:
            pinned = members.payee_pin(
                shop_id, member_id, shop.wx_appid, body.openid, now_key, body.withdrawal_id
            )
            uow.save("payee", pinned, condition=members.payee_unchanged(None))
        elif pin is not None:
            # A rewrite of the same openid carrying the condition (UnitOfWork.check cannot address this item).
            uow.update("payee", pin, members.payee_kept(pin), condition=members.payee_unchanged(pin))
        uow.move(
            Movement(
                shop_id,
                member_id,
                ledger_entry_key(body.withdrawal_id, "RESERVE"),
                "withdrawal_reserve",
                ref=body.withdrawal_id,
                available_fen=-body.amount_fen,
                withdrawing_fen=body.amount_fen,
            )
        )
        try:
            uow.commit()
        except WriteConflict as exc:
            failed = exc.failed()
            if "withdrawal" in failed:  # the same id, at the same moment
                raced = load(shop_id, body.withdrawal_id)
                if raced is not None:
                    return _replay(raced, digest)
            if f"member:{member_id}" in failed:
                raise Conflict(
                    "amount_fen: more than the member's available balance",
                    code="insufficient_balance",
                    field="amount_fen",
                ) from None
            if "payee" in failed:
                continue  # pinned (or re-pinned) meanwhile: decide again against the pin as it is now
            raise
        break
    else:
        raise Conflict(
            f"withdrawal {body.withdrawal_id}: the member's payee kept changing; retry",
            code="withdrawal_busy",
        )
    count("WithdrawalsRequested")
    if not review:
        nudge_payout(c, shop_id, body.withdrawal_id)
    return view(item)


def _replay(existing: WithdrawalModel, digest: str) -> dict[str, Any]:
    if existing.body_hash != digest:
        raise Conflict(
            f"withdrawal {existing.withdrawal_id} already exists with a different body",
            code="withdrawal_conflict",
            field="withdrawal_id",
        )
    return view(existing)


def _require_payout_configured(shop: ShopModel) -> None:
    if not shop.wx_mchid or not shop.wx_appid or shop.wx_merchant_key_ct is None:
        raise RuleViolation(
            "the shop has no WeChat Pay merchant configuration (mchid, appid, merchant key) to pay out with",
            code="wechatpay_not_configured",
        )


def nudge_payout(c: Container, shop_id: str, withdrawal_id: str, delay_seconds: int = 0) -> None:
    c.queues.send("payout", {"shop_id": shop_id, "withdrawal_id": withdrawal_id}, delay_seconds=delay_seconds)


# ---------------------------------------------------------------- views


def view(w: WithdrawalModel) -> dict[str, Any]:
    waiting_for_user = w.status == "pending" and w.wx_state == "WAIT_USER_CONFIRM"
    return {
        "withdrawal_id": w.withdrawal_id,
        "member_id": w.member_id,
        "amount_fen": int(w.amount_fen),
        "status": w.status,
        "package_info": w.package_info if waiting_for_user else None,
        "reason": w.review_reason if w.status == PENDING_REVIEW else w.reason,
        "created_at": rfc3339_from_key(w.created_at),
        "updated_at": rfc3339_from_key(w.updated_at),
    }


def get_withdrawal(shop_id: str, member_id: str, withdrawal_id: str) -> dict[str, Any]:
    w = load(shop_id, withdrawal_id)
    if w is None or w.member_id != member_id:
        raise NotFound(f"member {member_id} has no withdrawal {withdrawal_id}", code="withdrawal_not_found")
    return view(w)


@dataclass(frozen=True)
class ReviewPage:
    """One page of a shop's review queue: the withdrawals' views and the key to go on from (None: the end)."""

    entries: list[dict[str, Any]]
    last_key: dict[str, Any] | None


def review_scope(shop_id: str, status: str | None) -> dict[str, str]:
    """What a cursor of the shop's review queue must name; only ``pending_review`` can be listed."""
    if status is not None and status != PENDING_REVIEW:
        raise InvalidInput(
            f"status: only {PENDING_REVIEW} can be listed", code="invalid_field", field="status"
        )
    return table.review_scope(shop_id)


def list_for_review(shop_id: str, start: dict[str, Any] | None, limit: int) -> ReviewPage:
    """The shop's review queue, oldest first (sparse ReviewQueue index), one page from ``start``."""
    found, last_key = table.review_page(shop_id, start, limit)
    return ReviewPage([view(w) for w in found], last_key)


# ---------------------------------------------------------------- review


def decide(c: Container, shop_id: str, withdrawal_id: str, body: ApprovalIn, now: datetime) -> dict[str, Any]:
    """The shop approves (the payout starts) or rejects (the money returns) a withdrawal waiting for review.

    Approving again, or rejecting again, is a no-op that answers the withdrawal as it stands; approving a
    rejected one or rejecting an approved one is 409. Never a second payout: approval is one conditional
    write from ``pending_review``, and the payout's bill number is fixed by the withdrawal id."""
    reason = (body.reason or "").strip()
    if not body.approve and not reason:
        raise InvalidInput("reason: a rejection needs a reason", code="missing_field", field="reason")
    for _ in range(3):
        w = load(shop_id, withdrawal_id)
        if w is None:
            raise NotFound(f"no withdrawal {withdrawal_id}", code="withdrawal_not_found")
        if w.status != PENDING_REVIEW:
            return _decided_already(w, body.approve)
        version = int(w.version or 0)
        now_key = key(now)
        uow = UnitOfWork(now)
        common = [
            WithdrawalModel.review_queue.remove(),
            WithdrawalModel.reviewed_at.set(now_key),
            WithdrawalModel.updated_at.set(now_key),
            WithdrawalModel.version.set(version + 1),
        ]
        condition = table.unchanged(PENDING_REVIEW, version)
        # It leaves review, once: guarded by ``condition`` on the withdrawal's update below.
        uow.count(shop_id, "withdrawals_pending_review", -1, withdrawal_id)
        if body.approve:
            uow.update(
                "withdrawal",
                w,
                actions=[
                    *common,
                    WithdrawalModel.status.set("pending"),
                    WithdrawalModel.check_shard.set(table.check_shard(withdrawal_id)),
                    WithdrawalModel.check_at.set(key(now + PACING.retry_after(1))),
                ],
                condition=condition,
            )
            if w.appid and (
                w.review_reason == PAYEE_CHANGED or members.load_payee(shop_id, w.member_id, w.appid) is None
            ):
                # The shop vouches for the new openid: it is the member's payee from now on (SPEC §10).
                uow.save(
                    "payee",
                    members.payee_pin(shop_id, w.member_id, w.appid, w.openid, now_key, withdrawal_id),
                )
        else:
            uow.update(
                "withdrawal",
                w,
                actions=[*common, WithdrawalModel.status.set("rejected"), WithdrawalModel.reason.set(reason)],
                condition=condition,
            )
            uow.move(
                Movement(
                    shop_id,
                    w.member_id,
                    ledger_entry_key(withdrawal_id, "RETURN"),
                    "withdrawal_return",
                    ref=withdrawal_id,
                    withdrawing_fen=-int(w.amount_fen),
                    available_fen=int(w.amount_fen),
                )
            )
        try:
            uow.commit()
        except WriteConflict:
            continue  # decided concurrently: re-read and answer as it stands
        count("WithdrawalsApproved" if body.approve else "WithdrawalsRejected")
        if body.approve:
            nudge_payout(c, shop_id, withdrawal_id)
        fresh = load(shop_id, withdrawal_id)
        assert fresh is not None
        return view(fresh)
    raise Conflict(f"withdrawal {withdrawal_id} kept changing; retry", code="withdrawal_busy")


def _decided_already(w: WithdrawalModel, approve: bool) -> dict[str, Any]:
    if approve and w.status == "rejected":
        raise Conflict(f"withdrawal {w.withdrawal_id} was rejected", code="withdrawal_rejected")
    if not approve and w.status != "rejected":
        raise Conflict(
            f"withdrawal {w.withdrawal_id} was approved and is {w.status}", code="withdrawal_approved"
        )
    return view(w)


def member_withdrawals(
    shop_id: str, member_id: str, start: dict[str, Any] | None, limit: int
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The member's withdrawals, newest first, as the single GET shows them: one page (WithdrawalsByMember)
    and the key to go on from (None: the end)."""
    found, last_key = table.member_page(shop_id, member_id, start, limit)
    return [view(w) for w in found], last_key
