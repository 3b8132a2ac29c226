"""The settings documents of a shop (SPEC §7): distribution, membership, WeChat Pay, product rates.

Each document is versioned by ``service.settings``; the domain's checks are called from the models, so a
shop can never store a document that a later payment would fail on.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints, field_validator, model_validator

from fenxiao.domain import commission
from fenxiao.domain.eligibility import Eligibility as Threshold
from fenxiao.domain.eligibility import validate_eligibility
from fenxiao.domain.errors import InvalidInput
from fenxiao.domain.growth import Level, parse_coefficient, validate_levels
from fenxiao.schemas.common import (
    COEFFICIENT_SCHEMA_PATTERN,
    BasisPoints,
    Colour,
    Fen,
    FieldError,
    HttpsUrl,
    Identifier,
    LongText,
    ShortText,
    Strict,
    documented_as,
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


# ---------------------------------------------------------------- the poster's layout (SPEC §9)

# The local stand-in serves test backgrounds over plain http on the loopback address; such a URL may be
# stored anywhere but is fetched only where FENXIAO_ALLOW_LOOPBACK_IMAGES is set (the local stack), so in AWS
# a poster with it is refused (422 ui.poster.image_url) and nothing is fetched.
BackgroundUrl = Annotated[
    str,
    StringConstraints(pattern=r"^(https://[^\s]+|http://127\.0\.0\.1:[0-9]{1,5}/[^\s]*)$", max_length=508),
    *documented_as(
        r"^(https://[^\s]{1,500}|http://127\.0\.0\.1:[0-9]{1,5}/[^\s]{0,400})$",
        # the loopback URL's path (after the port's "/") holds at most 400 characters
        bounded=lambda url: url.startswith("https://") or len(url) - url.index("/", 7) - 1 <= 400,
    ),
]


class PosterCode(Strict):
    """The mini-program code's box on the background: top-left corner and side, in pixels."""

    x: Annotated[int, Field(ge=0, le=4096)] = 215
    y: Annotated[int, Field(ge=0, le=4096)] = 830
    size: Annotated[int, Field(ge=120, le=1280)] = 320


class PosterNickname(Strict):
    x: Annotated[int, Field(ge=0, le=4096)]
    y: Annotated[int, Field(ge=0, le=4096)]
    font_size: Annotated[int, Field(ge=12, le=200)] = 40
    colour: Colour = "#333333"


class PosterSettings(CustomImage):
    """The poster: the default background (with its own layout) or a custom one with the code placed at
    ``code`` and the nickname, if the layout has a place for it, at ``nickname``."""

    image_url: BackgroundUrl | None = None
    code: PosterCode = PosterCode()
    nickname: PosterNickname | None = None


class Ui(Strict):
    """分销界面配置: the distribution pages' look, served back to the mini-program as configured."""

    show_earn_label: bool = True  # 商品详情页【分销赚】
    show_self_purchase_label: bool = True  # 商品详情页【自购返】
    endorse_page: CustomImage = CustomImage()  # 代言界面
    endorse_button: ButtonStyle = ButtonStyle(text="我要代言")
    invite_button: ButtonStyle = ButtonStyle(background_colour="#FF9900", text="邀请好友")
    poster: PosterSettings = PosterSettings()  # 代言推广海报
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

_PEM = re.compile(r"-----BEGIN [A-Z0-9 ]+-----\r?\n[A-Za-z0-9+/=\r\n]+-----END [A-Z0-9 ]+-----\s*")


class PlatformPublicKey(Strict):
    serial: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_]{1,64}$")]
    pem: Annotated[str, StringConstraints(max_length=8192)]

    @field_validator("pem")
    @classmethod
    def _pem(cls, pem: str) -> str:
        if not _PEM.fullmatch(pem.strip() + "\n"):
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


# ---------------------------------------------------------------- mini-program settings (SPEC §9)

# A mini-program page path: 1-128 characters of A-Z a-z 0-9 _ / -, not starting with "/".
MiniProgramPage = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-][A-Za-z0-9_/-]{0,127}$")]


class MiniProgramPages(Strict):
    promote: MiniProgramPage = "pages/index/index"
    invite: MiniProgramPage = "pages/index/index"


class MiniProgramSettings(Strict):
    """``appsecret`` is write-only: a PUT may leave it out to keep the stored one (the service encrypts it)."""

    model_config = ConfigDict(
        extra="forbid", strict=True, frozen=True, hide_input_in_errors=True, defer_build=True
    )

    appid: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_]{6,32}$")]
    appsecret: Annotated[str, StringConstraints(pattern=r"^[\x21-\x7e]{16,128}$")] | None = None
    env_version: Literal["release", "trial", "develop"] = "release"
    pages: MiniProgramPages = MiniProgramPages()
