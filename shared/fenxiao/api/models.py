"""Request and response models of the HTTP API (SPEC §7). Every input is parsed by one of these.

Models are strict (no type coercion: ``"5"`` is not an integer) and reject unknown fields, so a typo in a
field name is an error naming that field instead of a silently ignored setting.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from fenxiao.domain.eligibility import Eligibility as Threshold
from fenxiao.domain.eligibility import validate_eligibility
from fenxiao.domain.errors import InvalidInput
from fenxiao.domain.growth import Level, parse_coefficient, validate_levels

Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:\-]{1,64}$")]
"""Ids chosen by the mall (shop, member, order, product, line, refund, withdrawal ids): URL-safe, so the
signed path is the path as sent."""

BasisPoints = Annotated[int, Field(ge=0, le=10000)]
Fen = Annotated[int, Field(ge=0, le=10**12)]
Colour = Annotated[str, StringConstraints(pattern=r"^#[0-9A-Fa-f]{6}$")]
ShortText = Annotated[str, StringConstraints(max_length=40)]
LongText = Annotated[str, StringConstraints(max_length=2000)]
# Documents growth_coefficient's syntax in docs/openapi.json; parse_coefficient is what checks it.
COEFFICIENT_SCHEMA_PATTERN = r"^(0|[1-9][0-9]{0,3})(\.[0-9]{1,4})?$"
HttpsUrl = Annotated[str, StringConstraints(pattern=r"^https://[^\s]{1,500}$", max_length=508)]


class FieldError(ValueError):
    """A model-level check that blames one field (the error names it instead of the whole body)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class Strict(BaseModel):
    # defer_build: each model builds its validator on first use, not at cold start for every model.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, defer_build=True)


# ---------------------------------------------------------------- operator


class CreateShop(Strict):
    shop_id: Identifier
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]


class RotateSecret(Strict):
    overlap_seconds: Annotated[int, Field(ge=0, le=7 * 86400)] = 3600


class RunJob(Strict):
    now: str | None = None


# ---------------------------------------------------------------- distribution settings


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


class RewardText(Strict):
    weekly: LongText = ""
    monthly: LongText = ""
    total: LongText = ""


class Leaderboard(Strict):
    display_count: Annotated[int, Field(ge=1, le=20)] = 10
    reward_text: RewardText = RewardText()


class ButtonStyle(Strict):
    background_colour: Colour = "#E4393C"
    text_colour: Colour = "#FFFFFF"
    text: ShortText = ""


class ShareCard(Strict):
    mode: Literal["default", "custom"] = "default"
    title: ShortText = ""
    image_url: HttpsUrl | None = None

    @model_validator(mode="after")
    def _custom_needs_content(self) -> ShareCard:
        if self.mode == "custom" and not (self.title and self.image_url):
            raise ValueError("a custom share card needs a title and an image_url")
        return self


class CustomImage(Strict):
    mode: Literal["default", "custom"] = "default"
    image_url: HttpsUrl | None = None

    @model_validator(mode="after")
    def _custom_needs_image(self) -> CustomImage:
        if self.mode == "custom" and not self.image_url:
            raise ValueError("custom mode needs an image_url")
        return self


class Ui(Strict):
    """分销界面配置: the distribution pages' look, served back to the mini-program as configured."""

    show_earn_label: bool = True  # 商品详情页【分销赚】
    show_self_purchase_label: bool = True  # 商品详情页【自购返】
    endorse_page: CustomImage = CustomImage()  # 代言界面
    endorse_button: ButtonStyle = ButtonStyle(text="我要代言")
    invite_button: ButtonStyle = ButtonStyle(background_colour="#FF9900", text="邀请好友")
    poster: CustomImage = CustomImage()  # 代言推广海报
    share_card: ShareCard = ShareCard()
    earnings_background: CustomImage = CustomImage()  # 收益流程背景图


class DistributionSettings(Strict):
    enabled: bool = True
    eligibility: Eligibility = Eligibility()
    rates: Rates = Rates()
    binding: Binding = Binding()
    settlement: Settlement = Settlement()
    promotion_rules_text: LongText = ""
    leaderboard: Leaderboard = Leaderboard()
    ui: Ui = Ui()


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


# ---------------------------------------------------------------- WeChat Pay settings

_PEM = re.compile(r"^-----BEGIN [A-Z0-9 ]+-----\r?\n[A-Za-z0-9+/=\r\n]+-----END [A-Z0-9 ]+-----\s*$")


class PlatformPublicKey(Strict):
    serial: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_]{1,64}$")]
    pem: Annotated[str, StringConstraints(max_length=8192)]

    @field_validator("pem")
    @classmethod
    def _pem(cls, pem: str) -> str:
        if not _PEM.match(pem.strip() + "\n"):
            raise ValueError("must be a PEM public key or certificate")
        return pem


class WechatPaySettings(Strict):
    model_config = ConfigDict(
        extra="forbid", strict=True, frozen=True, hide_input_in_errors=True, defer_build=True
    )

    mchid: Annotated[str, StringConstraints(pattern=r"^[0-9]{6,32}$")]
    appid: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_]{6,32}$")]
    apiv3_key: Annotated[str, StringConstraints(pattern=r"^[\x21-\x7e]{32}$")] | None = None
    platform_public_keys: Annotated[list[PlatformPublicKey], Field(min_length=1, max_length=5)]
    merchant_serial: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]{1,64}$")]
    merchant_private_key_pem: Annotated[str, StringConstraints(max_length=8192)] | None = None


# ---------------------------------------------------------------- orders and refunds


class OrderLineIn(Strict):
    line_id: Identifier
    product_id: Identifier
    quantity: Annotated[int, Field(ge=1, le=100000)]
    paid_fen: Fen


class OrderIn(Strict):
    buyer_id: Identifier
    lines: Annotated[list[OrderLineIn], Field(min_length=1, max_length=100)]
    shipping_fen: Fen
    total_fen: Fen

    @model_validator(mode="after")
    def _consistent(self) -> OrderIn:
        ids = [line.line_id for line in self.lines]
        if len(set(ids)) != len(ids):
            raise FieldError("lines", "line_id values must be unique")
        if sum(line.paid_fen for line in self.lines) + self.shipping_fen != self.total_fen:
            raise FieldError("total_fen", "must equal the sum of lines' paid_fen plus shipping_fen")
        return self


class RefundLineIn(Strict):
    line_id: Identifier
    refund_fen: Annotated[int, Field(ge=1, le=10**12)]


class RefundSplitIn(Strict):
    lines: Annotated[list[RefundLineIn], Field(min_length=1, max_length=100)]

    @model_validator(mode="after")
    def _unique(self) -> RefundSplitIn:
        ids = [line.line_id for line in self.lines]
        if len(set(ids)) != len(ids):
            raise FieldError("lines", "line_id values must be unique")
        return self


# ---------------------------------------------------------------- members


class InviterIn(Strict):
    inviter_id: Identifier


class DistributorIn(Strict):
    active: bool


class GrowthEventIn(Strict):
    type: Literal["review", "signin", "profile"]
    ref: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None


class WithdrawalIn(Strict):
    withdrawal_id: Identifier
    amount_fen: Annotated[int, Field(ge=1, le=10**10)]
    openid: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_\-]{1,128}$")]


class ApprovalIn(Strict):
    approve: bool
    reason: Annotated[str, StringConstraints(max_length=200)] | None = None
