"""Request models of the HTTP API that belong to no schema of their own (SPEC §7): the operator's and the
member routes' bodies. The settings, order and withdrawal documents live in ``fenxiao.schemas``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from fenxiao.schemas.common import Fen, FieldError, Identifier, Strict

# ---------------------------------------------------------------- operator


class CreateShop(Strict):
    shop_id: Identifier
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]


class RotateSecret(Strict):
    overlap_seconds: Annotated[int, Field(ge=0, le=7 * 86400)] = 3600


class RunJob(Strict):
    now: str | None = None


# ---------------------------------------------------------------- members


class InviterIn(Strict):
    """Exactly one of ``inviter_id`` and ``scene`` (the scene of the code the member scanned, SPEC §9)."""

    inviter_id: Identifier | None = None
    scene: Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z!#$&'()*+,/:;=?@\-._~]{1,32}$")] | None = (
        None
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> InviterIn:
        if (self.inviter_id is None) == (self.scene is None):
            raise FieldError("inviter_id", "give exactly one of inviter_id and scene")
        return self


class PromotionCodeIn(Strict):
    purpose: Literal["promote", "invite"]


class PosterIn(Strict):
    purpose: Literal["promote", "invite"]
    nickname: Annotated[str, StringConstraints(min_length=1, max_length=20)] | None = None


class DistributorIn(Strict):
    active: bool


class GrowthEventIn(Strict):
    type: Literal["review", "signin", "profile"]
    ref: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None


# ---------------------------------------------------------------- the distribution centre


class EarningsItemIn(Strict):
    product_id: Identifier
    price_fen: Fen


class EarningsIn(Strict):
    member_id: Identifier
    items: Annotated[list[EarningsItemIn], Field(min_length=1, max_length=50)]
