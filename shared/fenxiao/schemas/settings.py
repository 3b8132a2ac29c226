"""The settings documents of a shop (SPEC §7): distribution, membership, WeChat Pay, product rates, the
mini-program's. The parts payments are computed with live in ``schemas.rules`` (the membership document and
product rates whole); this module adds the pages' look, posters, the mini-program and WeChat Pay.

Each document is versioned by ``service.settings``; the domain's checks are called from the models, so a
shop can never store a document that a later payment would fail on.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints, field_validator, model_validator

from fenxiao.schemas.common import (
    Colour,
    HttpsUrl,
    LongText,
    ShortText,
    Strict,
    documented_as,
)
from fenxiao.schemas.rules import DistributionRules


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


class DistributionSettings(DistributionRules):
    promotion_rules_text: LongText = ""
    leaderboard: Leaderboard = Leaderboard()
    ui: Ui = Ui()


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
