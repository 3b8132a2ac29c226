"""Withdrawal rules: who must be reviewed, the WeChat Pay bill number, what a transfer state means, retry pacing.

No I/O and no clock: times are arguments.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Final, Literal

Status = Literal["pending_review", "pending", "succeeded", "failed", "rejected"]
PENDING_REVIEW: Final = "pending_review"
FINAL_STATUSES: Final = frozenset({"succeeded", "failed", "rejected"})

# WeChat Pay's merchant transfer (商家转账) states, in the order a bill moves through them.
PENDING_STATES: Final = ("ACCEPTED", "PROCESSING", "WAIT_USER_CONFIRM", "TRANSFERING")
SUCCESS_STATES: Final = ("SUCCESS",)
FAILED_STATES: Final = ("FAIL", "CANCELLED")
_RANK: Final = {state: i for i, state in enumerate((*PENDING_STATES, "SUCCESS", "FAIL", "CANCELLED"))}

# Use with fullmatch; \A and \Z (not ^ and $, which let a trailing "\n" through) keep .match and .search exact too.
OUT_BILL_NO = re.compile(r"\A[A-Za-z0-9]{5,32}\Z")

# WeChat Pay requires the payee's real name (encrypted) from 2000 yuan on; that flow is not offered.
USER_NAME_REQUIRED_FROM_FEN: Final = 2000_00


def out_bill_no(shop_id: str, withdrawal_id: str, salt: str) -> str:
    """The bill number WeChat Pay deduplicates on: ``FX`` + 30 hex digits of sha256("{salt}#{shop}#{withdrawal}").

    A pure function of the withdrawal's identity, so every retry of one withdrawal names the same bill and
    can never pay twice; 120 bits of hash make a collision between two withdrawals of one shop negligible.
    ``salt`` is the stack's own (FENXIAO_BILL_SALT): two deployments on one merchant (staging, production)
    never name the same bill for the same shop and withdrawal id."""
    digest = hashlib.sha256(f"{salt}#{shop_id}#{withdrawal_id}".encode()).hexdigest()
    return "FX" + digest[:30]


# Why a withdrawal waits for the shop whatever its amount (SPEC §10); the first that applies is kept.
PAYEE_CHANGED: Final = "payee_changed"
MERCHANT_CHANGED: Final = "merchant_changed"


def review_reason(pinned_openid: str | None, openid: str) -> str | None:
    """``payee_changed`` when the member's withdrawals are pinned to another openid (no pin yet: none)."""
    return PAYEE_CHANGED if pinned_openid is not None and pinned_openid != openid else None


def needs_review(amount_fen: int, review_above_fen: int | None) -> bool:
    """A withdrawal at or above the shop's review threshold waits for the shop (absent threshold: never)."""
    return review_above_fen is not None and amount_fen >= review_above_fen


def is_known_state(state: str) -> bool:
    return state in _RANK


def is_final_state(state: str) -> bool:
    return state in SUCCESS_STATES or state in FAILED_STATES


def status_of_state(state: str) -> Status:
    """The withdrawal status a transfer state stands for (unknown states count as still pending)."""
    if state in SUCCESS_STATES:
        return "succeeded"
    if state in FAILED_STATES:
        return "failed"
    return "pending"


def moves_forward(current: str | None, new: str) -> bool:
    """Whether ``new`` is news after ``current``: a stale answer (PROCESSING after WAIT_USER_CONFIRM, or any
    pending state after a final one) never moves a bill back."""
    if current is None:
        return True
    if is_final_state(current):
        return False
    return _RANK.get(new, -1) > _RANK.get(current, -1)


@dataclass(frozen=True)
class Pacing:
    """When to try or look again. ``retry_after`` paces calls that got no answer (network, 5xx); ``check_after``
    paces queries of a bill that has no final state yet (the notification is the normal way to hear)."""

    first_retry_seconds: int = 30
    max_retry_seconds: int = 3600
    first_check_seconds: int = 600
    max_check_seconds: int = 6 * 3600

    def retry_after(self, attempts: int) -> timedelta:
        """30 s, 60 s, 120 s ... doubling per attempt already made, at most an hour."""
        seconds = self.first_retry_seconds * 2 ** max(0, min(attempts - 1, 20))
        return timedelta(seconds=min(seconds, self.max_retry_seconds))

    def check_after(self, checks: int) -> timedelta:
        """10 min, 20 min, 40 min ... doubling per query already made, at most six hours."""
        seconds = self.first_check_seconds * 2 ** max(0, min(checks, 20))
        return timedelta(seconds=min(seconds, self.max_check_seconds))


PACING: Final = Pacing()
