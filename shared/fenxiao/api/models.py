"""Request models of the HTTP API that belong to no schema of their own (SPEC §7): the operator's and the
member routes' bodies. The settings, order and withdrawal documents live in ``fenxiao.schemas``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from fenxiao.schemas.common import Fen, Identifier, Strict

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
    inviter_id: Identifier


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
