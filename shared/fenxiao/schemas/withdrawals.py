"""A member's withdrawal request and the shop's review of it (SPEC §4)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from fenxiao.schemas.common import Identifier, Strict


class WithdrawalIn(Strict):
    withdrawal_id: Identifier
    amount_fen: Annotated[int, Field(ge=1, le=10**10)]
    openid: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_\-]{1,128}$")]


class ApprovalIn(Strict):
    approve: bool
    reason: Annotated[str, StringConstraints(max_length=200)] | None = None
