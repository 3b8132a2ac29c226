"""Response models: one per answer shape of the HTTP API, the source of docs/openapi.json's answer schemas.

Routes answer ``answer(Model, data)``: the service's result checked against its model and dumped as the
JSON the route sends, so an answer that drifts from its model fails loudly (a 500 and a log line) instead
of reaching a client generated from the document. Models are strict and forbid unknown keys, like the
request models; every key is always present (``null`` when unset) unless the model says otherwise.
Field order is the order of the answer's keys.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, RootModel, model_serializer
from pydantic.json_schema import SkipJsonSchema

from fenxiao.schemas.common import BasisPoints, Identifier, Strict

M = TypeVar("M", bound=BaseModel)


def answer(model: type[M], data: Any) -> dict[str, Any]:
    """``data`` (a dict, or an instance of ``model``) validated into ``model``, as the JSON object to send."""
    dumped: dict[str, Any] = model.model_validate(data).model_dump(mode="json")
    return dumped


class _Root(RootModel[Any]):
    # RootModel refuses ``extra``; its members are Strict models that forbid unknown keys themselves.
    model_config = ConfigDict(strict=True, frozen=True, defer_build=True)


# ---------------------------------------------------------------- building blocks

Timestamp = Annotated[
    str,
    Field(
        pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{6})?\+08:00$",
        description="RFC 3339 in Asia/Shanghai (+08:00); microseconds only when not zero.",
        json_schema_extra={"format": "date-time"},
    ),
]
Count = Annotated[int, Field(ge=0)]
Fen = Annotated[int, Field(description="Integer fen.")]
PositiveFen = Annotated[int, Field(ge=0, description="Integer fen.")]
Cursor = Annotated[
    str | None,
    Field(description="Pass as ?cursor= for the next page; null on the last page."),
]


# ---------------------------------------------------------------- errors


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)  # left out, never null: the published schema shows no default


class ErrorDetail(Strict):
    code: Annotated[str, Field(min_length=1, description="Stable, machine-readable.")]
    message: Annotated[str, Field(min_length=1)]
    # Left out of the answer when no single field is at fault (never null).
    field: (
        Annotated[str, Field(description="The offending field, dotted (rates.level1_bp).")]
        | SkipJsonSchema[None]
    ) = Field(default=None, json_schema_extra=_no_default)
    # WeChat's own code on a 502 wechat_error (SPEC §9), for the mall's support staff; left out otherwise.
    errcode: (
        Annotated[int, Field(description="WeChat's errcode (502 wechat_error only).")] | SkipJsonSchema[None]
    ) = Field(default=None, json_schema_extra=_no_default)

    @model_serializer(mode="wrap")
    def _omit_absent(self, handler: Any) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        return {k: v for k, v in data.items() if not (k in ("field", "errcode") and v is None)}


class Error(Strict):
    """Every error answer of the operator and Shop APIs."""

    error: ErrorDetail


class WechatPayAnswer(Strict):
    """The notification endpoint's answer when it does not answer 204, in WeChat Pay's own shape."""

    code: Literal["FAIL"]
    message: str


# ---------------------------------------------------------------- operator


class ShopCreated(Strict):
    shop_id: Identifier
    name: str
    api_secret: Annotated[str, Field(min_length=1, description="Shown this once: store it.")]


class SecretRotated(Strict):
    shop_id: Identifier
    api_secret: Annotated[str, Field(min_length=1, description="Shown this once: store it.")]
    previous_secret_valid_until: Timestamp


class _JobRun(Strict):
    job: str  # each job's model narrows it (a subclass's field keeps its place: first)
    now: Timestamp
    pages: Count
    processed: Count
    done: Annotated[bool, Field(description="false: work remains; it goes on from the jobs queue.")]


class SettlementRun(_JobRun):
    job: Literal["settlement"]
    released: Count
    skipped: Count
    held: Count


class AuditDifference(Strict):
    shop_id: Identifier
    member_id: Identifier
    field: str
    stored: int
    ledger: int | Literal["negative"]


class CounterDifference(Strict):
    shop_id: Identifier
    field: str
    counters: int  # the shop summary's counters, summed over the shards
    members: (
        int  # what the audit added up over the shop's members (the review queue's length for withdrawals)
    )


class AuditRun(_JobRun):
    job: Literal["audit"]
    differences: list[AuditDifference]
    members_checked: Count
    counter_differences: list[CounterDifference]
    counters_unverified: Annotated[
        list[Identifier],
        Field(description="Shops whose counters moved while the audit read them: checked on a later run."),
    ]


class RolloverRun(_JobRun):
    job: Literal["leaderboard-rollover"]
    shops_rolled: Count
    periods_archived: Count


class PayoutCheckRun(_JobRun):
    job: Literal["payout-check"]
    payouts_nudged: Count


class SummaryRebuildRun(_JobRun):
    job: Literal["summary-rebuild"]
    members_counted: Count
    shops_rebuilt: list[Identifier]
    shops_busy: Annotated[
        list[Identifier],
        Field(description="Shops whose counters moved during the walk: left as they were; run again."),
    ]


class DistributorRecountRun(_JobRun):
    job: Literal["distributor-recount"]
    distributors_added: Count
    distributors_removed: Count


class JobRun(_Root):
    """What a job run now did: its pages and, by job, its own counters."""

    root: Annotated[
        SettlementRun | AuditRun | RolloverRun | PayoutCheckRun | SummaryRebuildRun | DistributorRecountRun,
        Field(discriminator="job"),
    ]


class NotificationRecord(Strict):
    id: str
    event_type: str
    outcome: Annotated[str, Field(description="recorded, or not_applied:<reason>.")]
    summary: Annotated[Any, Field(description="What was read from the notification (JSON).")]
    received_at: Timestamp


class NotificationRecords(Strict):
    shop_id: Identifier
    entries: list[NotificationRecord]
    next_cursor: Cursor


# ---------------------------------------------------------------- settings


class TrustChange(Strict):
    at: Timestamp
    fields: Annotated[list[str], Field(description="The names of the fields that changed, never values.")]


class TrustHistoryPage(Strict):
    entries: list[TrustChange]
    next_cursor: Cursor


class ProductRatesView(Strict):
    """A product's own rates; level1_bp + level2_bp + self_bp is at most 10000."""

    product_id: Identifier
    level1_bp: BasisPoints
    level2_bp: BasisPoints
    self_bp: BasisPoints


class PlatformKeyView(Strict):
    serial: str
    pem: str


class WechatPayUnset(Strict):
    configured: Literal[False]


class WechatPaySet(Strict):
    configured: Literal[True]
    mchid: str
    appid: str
    merchant_serial: str
    platform_public_keys: list[PlatformKeyView]
    apiv3_key_set: bool
    merchant_private_key_set: bool
    updated_at: Timestamp | None


class WechatPayView(_Root):
    """The WeChat Pay settings without their secrets: whether each secret is set."""

    root: WechatPayUnset | WechatPaySet


class MiniProgramPagesView(Strict):
    promote: str
    invite: str


class MiniProgramSettingsView(Strict):
    """The mini-program settings without the appsecret: whether it is set (unconfigured: appid null)."""

    configured: bool
    appid: str | None
    appsecret_set: bool
    env_version: Literal["release", "trial", "develop"]
    pages: MiniProgramPagesView


# ---------------------------------------------------------------- members


class Fans(Strict):
    level1: Count
    level2: Count


class Balance(Strict):
    frozen_fen: Fen
    available_fen: Fen
    withdrawing_fen: Fen
    withdrawn_fen: Fen


class MemberView(Strict):
    member_id: Identifier
    inviter_id: Identifier | None
    bound_at: Timestamp | None
    is_distributor: bool
    growth: int
    level: Annotated[int, Field(ge=1, le=5)] | None = Field(description="null below every level.")
    level_name: str | None
    discount_bp: Annotated[int, Field(ge=1, le=10000, description="10000: full price (no level).")]
    fans: Fans
    balance: Balance


class BindingView(Strict):
    member_id: Identifier
    inviter_id: Identifier
    bound_at: Timestamp
    created: Annotated[bool, Field(description="false: this binding was already in force (200).")]
    replaced_inviter_id: Identifier | None


class GrowthEventResult(Strict):
    """A growth event's effect. ``ref``: the review id for a review, the Asia/Shanghai day (YYYY-MM-DD) for
    a sign-in, null for the profile; ``added`` is 0 when ``applied`` is false (a repeat)."""

    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                {
                    "if": {"properties": {"type": {"const": "profile"}}},
                    "then": {"properties": {"ref": {"type": "null"}}},
                    "else": {"properties": {"ref": {"type": "string"}}},
                },
                {
                    "if": {"properties": {"applied": {"const": False}}},
                    "then": {"properties": {"added": {"const": 0}}},
                },
            ]
        }
    )

    member_id: Identifier
    type: Literal["review", "signin", "profile"]
    ref: str | None
    applied: bool
    added: Count
    growth: int
    level: Annotated[int, Field(ge=1, le=5)] | None
    level_name: str | None
    discount_bp: Annotated[int, Field(ge=1, le=10000)]


class LeaderboardEntry(Strict):
    rank: Annotated[int, Field(ge=1)]
    member_id: Identifier
    fans: Annotated[int, Field(ge=1)]


class LeaderboardView(Strict):
    """The top ``display_count`` of one period: ranks 1..n, no gaps, no shared ranks."""

    board: Literal["weekly", "monthly", "total"]
    period: Annotated[str, Field(description="2026-W48, 2026-11 or total.")]
    starts_at: Timestamp | None = Field(description="null for the total board.")
    ends_at: Timestamp | None = Field(description="Exclusive; null for the total board.")
    reward_text: str
    entries: list[LeaderboardEntry]


# ---------------------------------------------------------------- orders and commissions


class Commission(Strict):
    order_id: Identifier
    member_id: Identifier
    tier: Literal["level1", "level2", "self"]
    amount_fen: PositiveFen
    status: Literal["frozen", "available", "reversed"]
    effective_at: Timestamp | None = Field(description="When it becomes available; null until known.")


class CommissionPage(Strict):
    entries: list[Commission]
    next_cursor: Cursor


class OrderView(Strict):
    order_id: Identifier
    buyer_id: Identifier
    status: Literal["registered", "paid", "completed"]
    total_fen: PositiveFen
    paid_fen: PositiveFen | None = Field(description="What WeChat Pay reported as paid; null until paid.")
    refunded_fen: PositiveFen
    paid_at: Timestamp | None
    completed_at: Timestamp | None
    flags: Annotated[
        list[str],
        Field(description="Sorted: duplicate_payment, refund_exceeds_paid, amount_mismatch, late_refund."),
    ]
    commissions: Annotated[list[Commission], Field(description="level1, level2, self.")]


class RefundLine(Strict):
    line_id: Identifier
    refund_fen: Annotated[int, Field(ge=1)]


class RefundSplitView(Strict):
    order_id: Identifier
    out_refund_no: Identifier
    lines: list[RefundLine]
    status: Literal["registered", "succeeded"]


# ---------------------------------------------------------------- withdrawals


class Withdrawal(Strict):
    """``package_info`` is set only while WeChat Pay waits for the member to confirm (pass it to the
    mini-program's requestMerchantTransfer); ``reason`` is the rejection's or the failure's."""

    model_config = ConfigDict(
        json_schema_extra={
            "if": {"properties": {"status": {"const": "rejected"}}},
            "then": {"properties": {"reason": {"type": "string"}}},
        }
    )

    withdrawal_id: Identifier
    member_id: Identifier
    amount_fen: Annotated[int, Field(ge=1)]
    status: Literal["pending_review", "pending", "succeeded", "failed", "rejected"]
    package_info: str | None
    reason: str | None
    created_at: Timestamp
    updated_at: Timestamp


class WithdrawalPage(Strict):
    entries: list[Withdrawal]
    next_cursor: Cursor


# ---------------------------------------------------------------- the distribution centre


class Fan(Strict):
    member_id: Identifier
    bound_at: Timestamp


class FansPage(Strict):
    entries: list[Fan]
    next_cursor: Cursor


class LedgerLine(Strict):
    """One ledger entry's movement of one money bucket; ``order_id`` or ``withdrawal_id`` names its cause."""

    at: Timestamp
    kind: str
    amount_fen: Fen
    bucket: Literal["frozen_fen", "available_fen", "withdrawing_fen", "withdrawn_fen"]
    order_id: Identifier | SkipJsonSchema[None] = Field(default=None, json_schema_extra=_no_default)
    withdrawal_id: Identifier | SkipJsonSchema[None] = Field(default=None, json_schema_extra=_no_default)

    @model_serializer(mode="wrap")
    def _omit_absent_ref(self, handler: Any) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        return {k: v for k, v in data.items() if not (k in ("order_id", "withdrawal_id") and v is None)}


class LedgerPage(Strict):
    entries: list[LedgerLine]
    next_cursor: Cursor


# Sums of counters: never negative once counted from the shop's start (rebuilt by the summary-rebuild job for
# a shop with data from before the counters), so not constrained here: a wrong sum is the audit's finding.
class ShopSummary(Strict):
    members: int
    distributors: int
    balances: Balance
    withdrawals_pending_review: int
    orders_flagged: int


class EarningsItem(Strict):
    product_id: Identifier
    price_fen: PositiveFen
    share_earn_fen: PositiveFen
    self_earn_fen: PositiveFen


class EarningsView(Strict):
    items: list[EarningsItem]
    show_earn_label: bool
    show_self_purchase_label: bool


Scene = Annotated[
    str,
    Field(pattern=r"^[0-9A-Za-z!#$&'()*+,/:;=?@\-._~]{1,32}$", description="What the member's code carries."),
]
Purpose = Literal["promote", "invite"]
ImageUrl = Annotated[str, Field(min_length=1, description="A presigned GET URL, valid until expires_at.")]


class SceneView(Strict):
    scene: Scene
    member_id: Identifier
    purpose: Purpose


class PromotionCodeView(Strict):
    scene: Scene
    member_id: Identifier
    purpose: Purpose
    page: str
    image_url: ImageUrl
    expires_at: Timestamp


class PosterView(Strict):
    image_url: ImageUrl
    expires_at: Timestamp
    width: Annotated[int, Field(ge=1)]
    height: Annotated[int, Field(ge=1)]
    content_type: Literal["image/png", "image/jpeg"]
