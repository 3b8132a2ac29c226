"""The API's OpenAPI 3.1 document, built from the Chalice app's routes and the request models (SPEC §7).

    python -m fenxiao.api.openapi > docs/openapi.json

``OPERATIONS`` below says, for each route, what the routes themselves cannot: its summary, who may call
it, its request body model, its query parameters and its main answers. ``build(app.routes)`` walks the
app's routes and fails on a route without an entry, so a new route cannot be published undescribed;
tests/lint/test_openapi.py checks that docs/openapi.json is exactly what ``build`` makes today.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from pydantic.json_schema import models_json_schema

from fenxiao.api import cursor
from fenxiao.api.auth import MAX_SKEW_SECONDS
from fenxiao.api.http import MAX_BODY_BYTES
from fenxiao.api.models import (
    CreateShop,
    DistributorIn,
    EarningsIn,
    GrowthEventIn,
    InviterIn,
    PosterIn,
    PromotionCodeIn,
    RotateSecret,
    RunJob,
)
from fenxiao.api.ordering import is_ordered
from fenxiao.api.responses import (
    BindingView,
    CommissionPage,
    EarningsView,
    Error,
    FansPage,
    GrowthEventResult,
    JobRun,
    LeaderboardView,
    LedgerPage,
    MemberView,
    MiniProgramSettingsView,
    NotificationRecords,
    OrderView,
    PosterView,
    ProductRatesView,
    PromotionCodeView,
    RefundSplitView,
    SceneView,
    SecretRotated,
    ShopCreated,
    ShopSummary,
    TrustHistoryPage,
    WechatPayAnswer,
    WechatPayView,
    Withdrawal,
    WithdrawalPage,
)
from fenxiao.domain.ids import ID_SCHEMA_PATTERN
from fenxiao.schemas.orders import OrderIn, RefundSplitIn
from fenxiao.schemas.rules import MembershipSettings, ProductRates
from fenxiao.schemas.settings import DistributionSettings, MiniProgramSettings, WechatPaySettings
from fenxiao.schemas.withdrawals import ApprovalIn, WithdrawalIn

IDENTIFIER_PATTERN = ID_SCHEMA_PATTERN
METHOD_ORDER = ("GET", "PUT", "POST", "PATCH", "DELETE")
Auth = Literal["shop", "operator", "wechatpay"]


# ---------------------------------------------------------------- WeChat Pay's own format (documentation only)


class EncryptedResource(BaseModel):
    """``resource`` of a notification: AEAD_AES_256_GCM under the shop's APIv3 key."""

    model_config = ConfigDict(extra="allow")
    algorithm: Literal["AEAD_AES_256_GCM"]
    ciphertext: str
    nonce: str
    associated_data: str = ""
    original_type: str = ""


class WechatPayNotification(BaseModel):
    """A WeChat Pay API v3 notification as WeChat Pay sends it. Not used for parsing: the endpoint verifies
    the raw bytes' signature before it reads anything."""

    model_config = ConfigDict(extra="allow")
    id: str
    create_time: str
    event_type: str
    resource_type: str
    summary: str = ""
    resource: EncryptedResource


# ---------------------------------------------------------------- the registry


@dataclass(frozen=True)
class Operation:
    """What the document says about one route. ``answers`` are its main status codes besides the ones its
    ``auth`` adds: 401 always, 400 for shop and operator routes (the body limit), 403 for shop routes."""

    summary: str
    auth: Auth
    answers: tuple[int, ...]
    body: type[BaseModel] | None = None
    body_required: bool = True
    query: tuple[str, ...] = ()
    response: type[BaseModel] | None = None
    description: str = ""


OPERATIONS: dict[tuple[str, str], Operation] = {
    # operator
    ("POST", "/admin/shops"): Operation(
        "Create a shop; answers its api_secret, shown this once",
        "operator",
        (201, 409),
        CreateShop,
        response=ShopCreated,
    ),
    ("POST", "/admin/shops/{shop_id}/secret"): Operation(
        "Rotate a shop's api_secret; the previous one stays valid for overlap_seconds",
        "operator",
        (201, 404),
        RotateSecret,
        body_required=False,
        response=SecretRotated,
    ),
    ("POST", "/admin/jobs/{job}"): Operation(
        "Run a job now (settlement, leaderboard-rollover, audit, payout-check, summary-rebuild)",
        "operator",
        (200, 404, 422),
        RunJob,
        body_required=False,
        description='Where clock override is allowed (local only), {"now": "<RFC 3339>"} sets the clock first.',
        response=JobRun,
    ),
    ("GET", "/admin/notifications"): Operation(
        "WeChat Pay notifications of a shop that had no effect (by notification id; each with received_at)",
        "operator",
        (200,),
        query=("shop_id", "cursor", "limit"),
        response=NotificationRecords,
    ),
    # settings
    ("GET", "/shops/{shop_id}/settings/distribution"): Operation(
        "The distribution settings in force", "shop", (200,), response=DistributionSettings
    ),
    ("PUT", "/shops/{shop_id}/settings/distribution"): Operation(
        "Change the distribution settings (fields left out keep their value)",
        "shop",
        (200,),
        DistributionSettings,
        response=DistributionSettings,
    ),
    ("PUT", "/shops/{shop_id}/products/{product_id}/rates"): Operation(
        "Set a product's own commission rates",
        "shop",
        (200,),
        ProductRates,
        response=ProductRatesView,
    ),
    ("DELETE", "/shops/{shop_id}/products/{product_id}/rates"): Operation(
        "Remove a product's own rates (the shop's defaults apply again)", "shop", (204, 404)
    ),
    ("GET", "/shops/{shop_id}/settings/membership"): Operation(
        "The membership settings in force", "shop", (200,), response=MembershipSettings
    ),
    ("PUT", "/shops/{shop_id}/settings/membership"): Operation(
        "Change the membership settings (fields left out keep their value)",
        "shop",
        (200,),
        MembershipSettings,
        response=MembershipSettings,
    ),
    ("GET", "/shops/{shop_id}/settings/wechatpay"): Operation(
        "The WeChat Pay settings without secrets: which secrets are set",
        "shop",
        (200,),
        response=WechatPayView,
    ),
    ("PUT", "/shops/{shop_id}/settings/wechatpay"): Operation(
        "Set the WeChat Pay settings; secrets are write-only (left out: kept)",
        "shop",
        (200, 409),
        WechatPaySettings,
        response=WechatPayView,
        description=(
            "Every accepted change is kept in the settings history (the names of the fields that changed). "
            "A change of an already configured mchid, appid, merchant_serial or merchant key makes every new "
            "withdrawal wait for review for 24 hours (reason merchant_changed)."
        ),
    ),
    ("GET", "/shops/{shop_id}/settings/history"): Operation(
        "The trust changes of a settings document, newest first: {entries: [{at, fields}], next_cursor}",
        "shop",
        (200,),
        query=("document", "cursor", "limit"),
        response=TrustHistoryPage,
        description="Field names only, never their values.",
    ),
    ("GET", "/shops/{shop_id}/settings/miniprogram"): Operation(
        "The mini-program settings without the appsecret: whether it is set",
        "shop",
        (200,),
        response=MiniProgramSettingsView,
    ),
    ("PUT", "/shops/{shop_id}/settings/miniprogram"): Operation(
        "Set the mini-program settings (fields left out keep their value; the appsecret is write-only)",
        "shop",
        (200,),
        MiniProgramSettings,
        response=MiniProgramSettingsView,
    ),
    # members
    ("POST", "/shops/{shop_id}/members/{member_id}/inviter"): Operation(
        "Bind a member to an inviter, or to the member of a scene (the same pair again: 200)",
        "shop",
        (200, 201, 404, 409, 422),
        InviterIn,
        response=BindingView,
    ),
    ("PUT", "/shops/{shop_id}/members/{member_id}/distributor"): Operation(
        "Grant or revoke distributor status",
        "shop",
        (200,),
        DistributorIn,
        response=MemberView,
    ),
    ("GET", "/shops/{shop_id}/members/{member_id}"): Operation(
        "A member: inviter, distributor status, growth, level, fans, balance",
        "shop",
        (200, 404),
        response=MemberView,
    ),
    ("GET", "/shops/{shop_id}/members/{member_id}/commissions"): Operation(
        "A member's commissions, newest first",
        "shop",
        (200,),
        query=("cursor", "limit"),
        response=CommissionPage,
    ),
    ("POST", "/shops/{shop_id}/members/{member_id}/growth-events"): Operation(
        "Record a growth event (review once per ref, sign-in once a day, profile once)",
        "shop",
        (200, 409),
        GrowthEventIn,
        response=GrowthEventResult,
    ),
    ("POST", "/shops/{shop_id}/members/{member_id}/withdrawals"): Operation(
        "Ask to withdraw available commission (withdrawal_id is the idempotency key)",
        "shop",
        (202, 404, 409, 422),
        WithdrawalIn,
        response=Withdrawal,
        description=(
            "The member's first withdrawal pins its openid. It waits for review (status pending_review) at or "
            "above review_above_fen, or whatever its amount with reason payee_changed (another openid than the "
            "pinned one; approving it pins the new one) or merchant_changed (within 24 hours of a change of the "
            "shop's mchid, appid or merchant key)."
        ),
    ),
    ("GET", "/shops/{shop_id}/members/{member_id}/withdrawals/{withdrawal_id}"): Operation(
        "A withdrawal's status",
        "shop",
        (200, 404),
        response=Withdrawal,
    ),
    # the distribution centre (SPEC §9)
    ("GET", "/shops/{shop_id}/scenes/{scene}"): Operation(
        "The member and purpose a scene (of a scanned mini-program code) stands for",
        "shop",
        (200, 404),
        response=SceneView,
    ),
    ("POST", "/shops/{shop_id}/members/{member_id}/promotion-codes"): Operation(
        "The member's mini-program code for a purpose: its scene and a presigned image URL",
        "shop",
        (200, 404, 409, 422, 502),
        PromotionCodeIn,
        response=PromotionCodeView,
        description="WeChat's errors answer 502 with code wechat_error and WeChat's errcode (nothing is"
        " stored; retry), or wechat_unavailable.",
    ),
    ("POST", "/shops/{shop_id}/members/{member_id}/posters"): Operation(
        "The member's poster: the code on the shop's default or custom background, with the nickname",
        "shop",
        (200, 404, 409, 422, 502),
        PosterIn,
        response=PosterView,
        description="A background that cannot be used answers 422 naming ui.poster.image_url (or"
        " ui.poster.code); the same member, purpose, settings version and nickname answer the stored image.",
    ),
    # leaderboards
    ("GET", "/shops/{shop_id}/leaderboards/{board}"): Operation(
        "A fan leaderboard: the current period, or an archived one",
        "shop",
        (200, 404),
        query=("period",),
        response=LeaderboardView,
    ),
    # orders
    ("PUT", "/shops/{shop_id}/orders/{order_id}"): Operation(
        "Register an order (the same body again: 200; a different one: 409)",
        "shop",
        (200, 201, 409),
        OrderIn,
        response=OrderView,
    ),
    ("GET", "/shops/{shop_id}/orders/{order_id}"): Operation(
        "An order with its payment, refunds, flags and commissions",
        "shop",
        (200, 404),
        response=OrderView,
    ),
    ("POST", "/shops/{shop_id}/orders/{order_id}/completion"): Operation(
        "The buyer confirmed receipt",
        "shop",
        (200, 404, 422),
        response=OrderView,
    ),
    ("PUT", "/shops/{shop_id}/orders/{order_id}/refunds/{out_refund_no}"): Operation(
        "Register the line split of a refund before WeChat Pay reports it",
        "shop",
        (200, 201, 404, 409, 422),
        RefundSplitIn,
        response=RefundSplitView,
    ),
    # withdrawal review
    ("GET", "/shops/{shop_id}/withdrawals"): Operation(
        "The shop's review queue of withdrawals, oldest first",
        "shop",
        (200,),
        query=("status", "cursor", "limit"),
        response=WithdrawalPage,
    ),
    ("POST", "/shops/{shop_id}/withdrawals/{withdrawal_id}/approval"): Operation(
        "Approve (the payout starts) or reject (with a reason) a withdrawal waiting for review",
        "shop",
        (200, 404, 409),
        ApprovalIn,
        response=Withdrawal,
    ),
    # the distribution centre
    ("GET", "/shops/{shop_id}/members/{member_id}/fans"): Operation(
        "A member's current level-1 or level-2 fans {member_id, bound_at}, newest binding first",
        "shop",
        (200,),
        query=("level", "cursor", "limit"),
        response=FansPage,
        description="An unknown member has no fans (an empty list, like the other member lists). Level 2 is"
        " eventually consistent after a level-1 fan rebinds.",
    ),
    ("GET", "/shops/{shop_id}/members/{member_id}/withdrawals"): Operation(
        "A member's withdrawals as the single GET shows them, newest first",
        "shop",
        (200,),
        query=("cursor", "limit"),
        response=WithdrawalPage,
    ),
    ("GET", "/shops/{shop_id}/members/{member_id}/ledger"): Operation(
        "收益明细: a member's money movements {at, kind, amount_fen, bucket, order_id|withdrawal_id}, newest first",
        "shop",
        (200,),
        query=("cursor", "limit"),
        response=LedgerPage,
        description="One entry per ledger entry and money bucket it moves (per bucket they add up to the"
        " balance); a page holds the movements of up to limit ledger entries. Growth is not listed.",
    ),
    ("GET", "/shops/{shop_id}/summary"): Operation(
        "The shop's members, distributors, balances by bucket, withdrawals waiting for review, flagged orders",
        "shop",
        (200,),
        response=ShopSummary,
        description="Sums of counters kept in the same transactions as the facts they count, spread over"
        " shards (no scan): exact as of the read. distributors counts the members who are distributors"
        " (SPEC §2), those made one by eligibility mode none included; after a settings change that switches"
        " the mode to none, the members it made distributors are counted by a job the change enqueues"
        " (seconds to minutes, by the shop's size).",
    ),
    ("POST", "/shops/{shop_id}/earnings"): Operation(
        "分销赚/自购返: what the member would earn now on one of each item (1-50 items)",
        "shop",
        (200,),
        EarningsIn,
        response=EarningsView,
    ),
    # WeChat Pay
    ("POST", "/wechatpay/notify/{shop_id}"): Operation(
        "WeChat Pay API v3 notifications (payments, refunds, transfers)",
        "wechatpay",
        (204, 400, 500),
        WechatPayNotification,
        description='Answers in WeChat Pay\'s own shape: 204 with no body, or {"code": "FAIL", "message"}'
        " (401 unverifiable, 400 verified but unreadable, 5xx a failure on our side so that WeChat Pay"
        " retries).",
        response=WechatPayAnswer,
    ),
}


class MissingOperation(LookupError):
    """A route has no entry in ``OPERATIONS``."""


# ---------------------------------------------------------------- parameters


_STRING_ID = {"type": "string", "pattern": IDENTIFIER_PATTERN}

PATH_PARAMETERS: dict[str, dict[str, Any]] = {
    "shop_id": {"description": "The shop's id; under /shops/, the calling shop's own (else 403)."},
    "board": {"description": "weekly, monthly or total.", "schema": {"enum": ["weekly", "monthly", "total"]}},
    "job": {
        "description": "settlement, leaderboard-rollover, audit, payout-check or summary-rebuild (other names: 404)."
    },
}

QUERY_PARAMETERS: dict[str, dict[str, Any]] = {
    "cursor": {
        "description": "The next_cursor of the previous page (opaque).",
        "schema": {"type": "string", "pattern": r"^[A-Za-z0-9_\-]{1,4096}$"},
    },
    "limit": {
        "description": f"Entries per page (default {cursor.DEFAULT_LIMIT}).",
        "schema": {"type": "integer", "minimum": 1, "maximum": cursor.MAX_LIMIT},
    },
    "period": {
        "description": "An ended period: 2026-W48 (weekly), 2026-11 (monthly); absent: the current one.",
        "schema": {"type": "string", "pattern": r"^[0-9]{4}-(W[0-9]{2}|[0-9]{2})$"},
    },
    "level": {"description": "1 (default): level-1 fans; 2: level-2 fans.", "schema": {"enum": ["1", "2"]}},
    "status": {"description": "Only pending_review can be listed.", "schema": {"enum": ["pending_review"]}},
    "document": {
        "description": "The settings document whose trust changes are listed.",
        "schema": {"enum": ["wechatpay", "miniprogram"]},
    },
    "shop_id": {
        "description": "The shop whose notifications to list.",
        "required": True,
        "schema": _STRING_ID,
    },
}


def _path_parameters(path: str) -> list[dict[str, Any]]:
    out = []
    for name in re.findall(r"{([^}]+)}", path):
        extra = PATH_PARAMETERS.get(name, {})
        out.append(
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": extra.get("schema", _STRING_ID),
                **({"description": extra["description"]} if "description" in extra else {}),
            }
        )
    return out


def _query_parameters(names: tuple[str, ...]) -> list[dict[str, Any]]:
    unknown = [n for n in names if n not in QUERY_PARAMETERS]
    if unknown:
        raise MissingOperation(f"query parameters without a description in QUERY_PARAMETERS: {unknown}")
    return [{"$ref": f"#/components/parameters/{n}"} for n in names]


# ---------------------------------------------------------------- answers

_REASONS = {
    200: "OK",
    201: "Created",
    202: "Accepted: the payout runs asynchronously",
    204: "No content",
    400: "Malformed or invalid input; the error names the field",
    401: "Missing or bad signature, token or timestamp",
    403: "Not yours: another shop's path",
    404: "Not found",
    409: "Conflicts with the current state (bound elsewhere, insufficient balance, same id, other body)",
    422: "Well-formed, but not allowed by the rules",
    500: "A failure on our side",
    502: "WeChat answered with an error (wechat_error, with its errcode) or not at all; nothing was stored",
}

_ERROR_RESPONSES = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    422: "Unprocessable",
    500: "InternalError",
    502: "BadGateway",
}


def _statuses(op: Operation, method: str, path: str) -> list[int]:
    statuses = {*op.answers, 401}
    if is_ordered(method, path):
        statuses.add(409)  # stale_request: a write signed later was already applied (fenxiao.api.ordering)
    if op.auth in ("shop", "operator"):
        statuses.add(400)  # a body over the limit, or one that is not the JSON object asked for
    if op.auth == "shop":
        statuses.add(403)
    return sorted(statuses)


def _responses(op: Operation, method: str, path: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for status in _statuses(op, method, path):
        answer: dict[str, Any] = {"description": _REASONS[status]}
        if status == 204:
            pass
        elif op.auth == "wechatpay":
            answer["content"] = {"application/json": {"schema": {"$ref": _ref(WechatPayAnswer)}}}
        elif status >= 400:
            out[str(status)] = {"$ref": f"#/components/responses/{_ERROR_RESPONSES[status]}"}
            continue
        else:
            if op.response is None:
                raise MissingOperation(
                    f"{method} {path} answers {status} but its entry names no response model"
                )
            answer["content"] = {"application/json": {"schema": {"$ref": _ref(op.response)}}}
        out[str(status)] = answer
    return out


# ---------------------------------------------------------------- the document


def _ref(model: type[BaseModel]) -> str:
    return f"#/components/schemas/{model.__name__}"


# Secrets a GET never shows: marked writeOnly in the published schema.
WRITE_ONLY = {
    "WechatPaySettings": ("apiv3_key", "merchant_private_key_pem"),
    "MiniProgramSettings": ("appsecret",),
}

SECURITY_SCHEMES: dict[str, Any] = {
    "ShopId": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Shop-Id",
        "description": "The calling shop's id.",
    },
    "ShopTimestamp": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Timestamp",
        "description": f"Unix seconds, within {MAX_SKEW_SECONDS} s of the API's clock.",
    },
    "ShopSignature": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Signature",
        "description": 'hex(HMAC-SHA256(api_secret, "{timestamp}\\n{METHOD}\\n{path?query}\\n{body}")): the path'
        " as requested (with a stage or base path, if any), the query as name=value pairs in the order sent,"
        " each percent-encoded per RFC 3986 (only A-Z a-z 0-9 - _ . ~ unescaped), the body as its exact bytes.",
    },
    "OperatorBearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "The operator token from the stack's configuration.",
    },
    "WechatPaySignature": {
        "type": "apiKey",
        "in": "header",
        "name": "Wechatpay-Signature",
        "description": 'base64 RSA-SHA256 over "{Wechatpay-Timestamp}\\n{Wechatpay-Nonce}\\n{body}\\n", verified'
        " with the shop's platform public key named by Wechatpay-Serial.",
    },
}

_SECURITY: dict[Auth, list[dict[str, list[str]]]] = {
    "shop": [{"ShopId": [], "ShopTimestamp": [], "ShopSignature": []}],
    "operator": [{"OperatorBearer": []}],
    "wechatpay": [{"WechatPaySignature": []}],
}


# Rules between fields that the models check and JSON Schema cannot say (sums, uniqueness by a member):
# described on the model's schema; where JSON Schema can say it (if/then), also said.
_SUM_OF_RATES = "level1_bp + level2_bp + self_bp must not exceed 10000 (else 400 naming self_bp)."
_UNIQUE_LINES = "line_id values are unique within lines."
CROSS_FIELD_RULES: dict[str, dict[str, Any]] = {
    "OrderIn": {
        "description": "total_fen must equal the sum of lines[].paid_fen plus shipping_fen (else 400 naming"
        f" total_fen). {_UNIQUE_LINES}"
    },
    "RefundSplitIn": {
        "description": f"{_UNIQUE_LINES} Each refund_fen is at most what its line has left after the refunds"
        " that took effect (else 422 refund_exceeds_line)."
    },
    "Rates": {"description": _SUM_OF_RATES},
    "ProductRates": {"description": _SUM_OF_RATES},
    "ProductRatesView": {"description": _SUM_OF_RATES.split(" (")[0] + "."},
    "GrowthEventIn": {
        "description": "ref is required for a review (the review id, a mall id; once per ref). A sign-in"
        " counts once per Asia/Shanghai day of the request and a profile once per member: their ref is"
        " ignored.",
        "if": {"properties": {"type": {"const": "review"}}, "required": ["type"]},
        "then": {
            "required": ["ref"],
            "properties": {"ref": {"type": "string", "pattern": IDENTIFIER_PATTERN}},
        },
    },
    "ApprovalIn": {
        "description": "A rejection (approve: false) needs a reason that is not blank.",
        "if": {"properties": {"approve": {"const": False}}, "required": ["approve"]},
        "then": {"required": ["reason"], "properties": {"reason": {"type": "string", "pattern": r"\S"}}},
    },
    "ShareCard": {
        "description": "A custom share card (mode: custom) needs a title and an image_url.",
        "if": {"properties": {"mode": {"const": "custom"}}, "required": ["mode"]},
        "then": {
            "required": ["title", "image_url"],
            "properties": {"title": {"minLength": 1}, "image_url": {"type": "string"}},
        },
    },
    "CustomImage": {
        "description": "mode: custom needs an image_url.",
        "if": {"properties": {"mode": {"const": "custom"}}, "required": ["mode"]},
        "then": {"required": ["image_url"], "properties": {"image_url": {"type": "string"}}},
    },
}


def _with_rules(schema: dict[str, Any], rules: dict[str, Any]) -> dict[str, Any]:
    out = dict(schema)
    for name, value in rules.items():
        if name == "description" and out.get("description"):
            out["description"] = f"{out['description']} {value}"
        elif name in out:
            raise ValueError(f"{name} is already in the schema")  # a model-level rule would be overwritten
        else:
            out[name] = value
    return out


def _schemas() -> dict[str, Any]:
    models = sorted(
        {m for op in OPERATIONS.values() for m in (op.body, op.response) if m is not None} | {Error},
        key=lambda m: m.__name__,
    )
    _, defs = models_json_schema(
        [(m, "validation") for m in models], ref_template="#/components/schemas/{model}"
    )
    schemas: dict[str, Any] = dict(sorted(defs.get("$defs", {}).items()))
    for name, fields in WRITE_ONLY.items():
        for field in fields:
            schemas[name]["properties"][field]["writeOnly"] = True
    for name, rules in CROSS_FIELD_RULES.items():
        schemas[name] = _with_rules(schemas[name], rules)
    return schemas


def operation_for(method: str, path: str) -> Operation:
    try:
        return OPERATIONS[(method, path)]
    except KeyError:
        raise MissingOperation(
            f"{method} {path} is a route of functions/app.py but has no entry in "
            "fenxiao.api.openapi.OPERATIONS: add one (summary, auth, answers, body model), then regenerate "
            "docs/openapi.json with `python -m fenxiao.api.openapi > docs/openapi.json`"
        ) from None


def build(routes: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The OpenAPI document of ``routes`` (a Chalice app's ``app.routes``: path -> method -> entry)."""
    paths: dict[str, Any] = {}
    for path in sorted(routes):
        methods = sorted(routes[path], key=lambda m: (*METHOD_ORDER, m).index(m))
        item: dict[str, Any] = {}
        for method in methods:
            op = operation_for(method, path)
            entry = routes[path][method]
            parameters = _path_parameters(path) + _query_parameters(op.query)
            operation: dict[str, Any] = {
                "operationId": getattr(entry, "view_name", None) or f"{method.lower()}_{path}",
                "summary": op.summary,
                "tags": [_tag(path)],
            }
            if op.description:
                operation["description"] = op.description
            if parameters:
                operation["parameters"] = parameters
            if op.body is not None:
                operation["requestBody"] = {
                    "required": op.body_required,
                    "content": {"application/json": {"schema": {"$ref": _ref(op.body)}}},
                }
            operation["responses"] = _responses(op, method, path)
            operation["security"] = _SECURITY[op.auth]
            item[method.lower()] = operation
        paths[path] = item
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "fenxiao",
            "version": "1",
            "description": "The distribution programme (分销) API of a WeChat mini-program mall: the operator API,"
            " the Shop API (HMAC-signed, server to server) and the WeChat Pay notification endpoint. Money is"
            " integer fen (*_fen), rates integer basis points (*_bp). Every error answers"
            ' {"error": {"code", "message", "field"?}}; nothing is stored for a rejected request. Bodies are'
            f" UTF-8 JSON objects of at most {MAX_BODY_BYTES} bytes. An integer field takes a JSON integer"
            " written without a fraction or exponent: 100.0 and 1e2 are refused (400), although JSON Schema's"
            ' "type": "integer" counts them as integers. Rules between fields (sums, unique line ids) are in'
            " each schema's description; where JSON Schema can express one (if/then), it does.",
        },
        "paths": paths,
        "components": {
            "schemas": _schemas(),
            "parameters": {
                name: {"name": name, "in": "query", "required": False, **spec}
                for name, spec in QUERY_PARAMETERS.items()
            },
            "responses": {
                name: {
                    "description": _REASONS[status],
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                }
                for status, name in _ERROR_RESPONSES.items()
            },
            "securitySchemes": SECURITY_SCHEMES,
        },
    }


def _tag(path: str) -> str:
    parts = [p for p in path.split("/") if p and not p.startswith("{")]
    if parts[0] == "shops" and len(parts) > 1:
        return {"products": "settings"}.get(parts[1], parts[1])
    return parts[0]


def render(document: Mapping[str, Any]) -> str:
    """The document as docs/openapi.json holds it."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def load_app(app_file: Path) -> Any:
    """The Chalice app of ``functions/app.py``, imported by file path (it is the Lambda handler module)."""
    folder = str(app_file.resolve().parent)
    if folder not in sys.path:  # app.py imports its Blueprints as ``routes`` (the Lambda's code root)
        sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location("app", app_file)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(app_file)
    module = importlib.util.module_from_spec(spec)
    sys.modules["app"] = module
    spec.loader.exec_module(module)
    return module.app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fenxiao.api.openapi", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--app", type=Path, default=Path("functions/app.py"), help="the Chalice app module")
    args = parser.parse_args(argv)
    try:
        document = build(load_app(args.app).routes)
    except MissingOperation as exc:
        print(f"openapi: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(render(document))
    return 0


if __name__ == "__main__":
    sys.exit(main())
