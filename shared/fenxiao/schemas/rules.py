"""The parts of a shop's settings documents every payment and binding is computed with: the distribution
rules (eligibility, rates, binding, settlement), product rates and the membership document. Apart from the
pages' look, posters, mini-program and WeChat Pay documents (``schemas.settings``), so the order worker
validates what it reads without building those models.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import Field, StringConstraints, field_validator, model_validator

from fenxiao.domain import commission
from fenxiao.domain.eligibility import Eligibility as Threshold
from fenxiao.domain.eligibility import validate_eligibility
from fenxiao.domain.errors import InvalidInput
from fenxiao.domain.growth import Level, parse_coefficient, validate_levels
from fenxiao.schemas.common import (
    COEFFICIENT_SCHEMA_PATTERN,
    BasisPoints,
    Fen,
    FieldError,
    Identifier,
    Strict,
)


class Eligibility(Strict):
    mode: Literal["none", "purchases", "product"] = "none"
    min_orders: Annotated[int, Field(ge=0, le=100000)] = 1
    min_amount_fen: Fen = 0
    product_ids: Annotated[list[Identifier], Field(max_length=200)] = []

    @model_validator(mode="after")
    def _domain_rules(self) -> Eligibility:
        threshold = Threshold(self.mode, self.min_orders, self.min_amount_fen, frozenset(self.product_ids))
        try:
            validate_eligibility(threshold)
        except InvalidInput as exc:
            raise FieldError((exc.field or "eligibility").removeprefix("eligibility."), exc.message) from None
        return self


class Rates(Strict):
    level1_bp: BasisPoints = 0
    level2_bp: BasisPoints = 0
    self_bp: BasisPoints = 0

    @model_validator(mode="after")
    def _total(self) -> Rates:
        try:
            commission.validate_rates(commission.Rates(self.level1_bp, self.level2_bp, self.self_bp))
        except InvalidInput as exc:
            raise FieldError((exc.field or "rates").removeprefix("rates."), exc.message) from None
        # The sum error names its last term, here and in product rates alike (rates.self_bp, self_bp).
        if self.level1_bp + self.level2_bp + self.self_bp > 10000:
            raise FieldError("self_bp", "level1_bp + level2_bp + self_bp must not exceed 10000")
        return self


class ProductRates(Rates):
    level1_bp: BasisPoints
    level2_bp: BasisPoints
    self_bp: BasisPoints


class Binding(Strict):
    mode: Literal["permanent", "protection", "last_touch"] = "permanent"
    protection_days: Annotated[int, Field(ge=0, le=3650)] = 15


class SceneReportInfo(Strict):
    info_type: Annotated[str, StringConstraints(min_length=1, max_length=15)]
    info_content: Annotated[str, StringConstraints(min_length=1, max_length=32)]


class Settlement(Strict):
    basis: Literal["completion", "payment"] = "completion"
    freeze_days: Annotated[int, Field(ge=0, le=365)] = 7
    withdraw_min_fen: Annotated[int, Field(ge=1, le=10**10)] = 100
    review_above_fen: Annotated[int, Field(ge=1, le=10**12)] | None = None
    # Merchant transfer (商家转账) fields sent with every payout.
    transfer_scene_id: Annotated[str, StringConstraints(pattern=r"^[0-9]{4}$")] = "1005"
    transfer_remark: Annotated[str, StringConstraints(min_length=1, max_length=32)] = "分销佣金提现"
    transfer_scene_report_infos: Annotated[list[SceneReportInfo], Field(max_length=10)] = []


class DistributionRules(Strict):
    """The distribution document's rules (``schemas.settings.DistributionSettings`` adds the rest)."""

    enabled: bool = True
    eligibility: Eligibility = Eligibility()
    rates: Rates = Rates()
    binding: Binding = Binding()
    settlement: Settlement = Settlement()

    @classmethod
    def of(cls, document: dict[str, Any] | None) -> Self:
        """A stored distribution document (validated whole when it was stored) as this model: its fields
        alone are read (``DistributionRules``: the rules; ``DistributionSettings``: everything)."""
        return cls.model_validate({k: v for k, v in (document or {}).items() if k in cls.model_fields})


# ---------------------------------------------------------------- membership settings


class LevelIn(Strict):
    level: Annotated[int, Field(ge=1, le=5)]
    name: Annotated[str, StringConstraints(min_length=1, max_length=20)]
    growth_required: Annotated[int, Field(ge=0, le=10**12)]
    discount_bp: Annotated[int, Field(ge=1, le=10000)]


class MembershipSettings(Strict):
    # The payment code reads it with parse_coefficient; the same function checks it here, so a shop can
    # never store a coefficient that every later payment would then fail on.
    growth_coefficient: Annotated[
        str,
        StringConstraints(max_length=16),
        Field(
            description='A decimal string from "0" to "1000", at most 4 decimals, no leading zeros.',
            json_schema_extra={"pattern": COEFFICIENT_SCHEMA_PATTERN},
        ),
    ] = "1"
    review_growth: Annotated[int, Field(ge=0, le=10**6)] = 0
    signin_growth: Annotated[int, Field(ge=0, le=10**6)] = 0
    profile_growth: Annotated[int, Field(ge=0, le=10**6)] = 0
    levels: Annotated[list[LevelIn], Field(max_length=5)] = []

    @field_validator("growth_coefficient")
    @classmethod
    def _coefficient(cls, text: str) -> str:
        try:
            parse_coefficient(text)
        except InvalidInput as exc:
            raise ValueError(exc.message.removeprefix("growth_coefficient ")) from None
        return text

    @model_validator(mode="after")
    def _levels(self) -> MembershipSettings:
        levels = [Level(lv.level, lv.name, lv.growth_required, lv.discount_bp) for lv in self.levels]
        try:
            validate_levels(levels)
        except InvalidInput as exc:
            raise FieldError(exc.field or "levels", exc.message) from None
        for i in range(1, len(levels)):
            if levels[i].level <= levels[i - 1].level:
                raise FieldError(f"levels[{i}].level", "level must be greater than the previous level's")
        return self
