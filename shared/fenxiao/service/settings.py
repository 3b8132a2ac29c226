"""Shop configuration, versioned: every accepted PUT writes a new immutable version with its time.

"The configuration as it stood at t" is one query: the newest version of that key whose ``effective_at``
is at or before t. A change applies to every payment whose success_time is after the PUT was stored.

A PUT takes a whole document or a part of one: fields it leaves out keep their value in the newest version,
and the merged document is validated as a whole before anything is stored. The versions' keys and storage
are in fenxiao.adapters.shops (ConfigTable).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from fenxiao.adapters.shops import (
    DISTRIBUTION,
    MEMBERSHIP,
    RATES,
    ShopModel,
    config_key,
    docs_at,
    newest_version,
    set_wechatpay,
    write_version,
)
from fenxiao.bootstrap import Container
from fenxiao.domain.errors import Conflict, InvalidInput, NotFound, RuleViolation
from fenxiao.schemas.common import from_validation_error
from fenxiao.schemas.settings import DistributionSettings, MembershipSettings, ProductRates, WechatPaySettings
from fenxiao.timefmt import from_key, key

M = TypeVar("M", bound=BaseModel)

APIV3_PURPOSE = "wechatpay_apiv3_key"
MERCHANT_KEY_PURPOSE = "wechatpay_merchant_private_key"


def _doc_at(ckey: str, at: datetime) -> Any:
    return docs_at([ckey], at)[ckey]


# ---------------------------------------------------------------- writing versions


STORE_ATTEMPTS = 10


def _store(ckey: str, build: Callable[[Any], Any], now: datetime) -> Any:
    """Write a new version built from the newest one; returns the stored document.

    ``build(newest_doc)`` makes the document to store (and validates it: nothing is written when it
    raises). The version is written at ``now``, or one microsecond after the newest version when that one
    is not before ``now`` (the clock was moved back, or another PUT got there first), so versions stay
    strictly increasing and a PUT applies to every payment after it returned. The write holds only while
    the newest version is still the one ``build`` saw: after a concurrent PUT it is retried on the new
    newest version, so no accepted change is lost.
    """
    newest = newest_version(ckey)
    for _ in range(STORE_ATTEMPTS):
        newest_at = newest[0] if newest is not None else None
        moment = now
        if newest_at is not None:
            moment = max(now, from_key(newest_at) + timedelta(microseconds=1))
        doc = build(newest[1] if newest is not None else None)
        if write_version(ckey, key(moment), doc, replaces=newest_at):
            return doc
        newest = newest_version(ckey)
    raise Conflict(
        "the configuration is being changed by other requests at the same time; retry",
        code="concurrent_change",
    )


def _merge(current: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    out = dict(current)
    for name, value in patch.items():
        if isinstance(value, dict) and isinstance(out.get(name), dict):
            out[name] = _merge(out[name], value)
        else:
            out[name] = value
    return out


def _validated(model: type[M], doc: dict[str, Any]) -> M:
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        raise from_validation_error(exc) from None


def _require_object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object", code="invalid_body", field="body")
    return body


# ---------------------------------------------------------------- distribution


def rules_at(
    shop_id: str, product_ids: list[str], at: datetime
) -> tuple[DistributionSettings, MembershipSettings, dict[str, ProductRates]]:
    """Everything a payment at ``at`` is computed with, read together (one BatchGetItem usually)."""
    dist_key, member_key = config_key(shop_id, DISTRIBUTION), config_key(shop_id, MEMBERSHIP)
    rate_keys = {p: config_key(shop_id, RATES, p) for p in product_ids}
    docs = docs_at([dist_key, member_key, *rate_keys.values()], at)
    rates = {p: ProductRates.model_validate(docs[k]) for p, k in rate_keys.items() if docs[k] is not None}
    return (
        DistributionSettings.model_validate(docs[dist_key] or {}),
        MembershipSettings.model_validate(docs[member_key] or {}),
        rates,
    )


def distribution_at(shop_id: str, at: datetime) -> DistributionSettings:
    doc = _doc_at(config_key(shop_id, DISTRIBUTION), at)
    return DistributionSettings.model_validate(doc or {})


def _patched(model: type[M], patch: dict[str, Any]) -> Callable[[Any], Any]:
    """``build`` for ``_store``: the newest document with ``patch`` merged in, validated as a whole."""

    def build(newest: Any) -> Any:
        return _validated(model, _merge(newest or {}, patch)).model_dump(mode="json")

    return build


def put_distribution(shop_id: str, body: Any, now: datetime) -> DistributionSettings:
    patch = _require_object(body)
    doc = _store(config_key(shop_id, DISTRIBUTION), _patched(DistributionSettings, patch), now)
    return DistributionSettings.model_validate(doc)


# ---------------------------------------------------------------- product rates


def put_product_rates(shop_id: str, product_id: str, body: Any, now: datetime) -> ProductRates:
    rates = _validated(ProductRates, _require_object(body))
    _store(config_key(shop_id, RATES, product_id), lambda _newest: rates.model_dump(mode="json"), now)
    return rates


def delete_product_rates(shop_id: str, product_id: str, now: datetime) -> None:
    def build(newest: Any) -> None:
        if newest is None:
            raise NotFound(f"product {product_id} has no rates of its own", code="rates_not_found")

    _store(config_key(shop_id, RATES, product_id), build, now)


# ---------------------------------------------------------------- membership


def membership_at(shop_id: str, at: datetime) -> MembershipSettings:
    doc = _doc_at(config_key(shop_id, MEMBERSHIP), at)
    return MembershipSettings.model_validate(doc or {})


def put_membership(shop_id: str, body: Any, now: datetime) -> MembershipSettings:
    patch = _require_object(body)
    doc = _store(config_key(shop_id, MEMBERSHIP), _patched(MembershipSettings, patch), now)
    return MembershipSettings.model_validate(doc)


# ---------------------------------------------------------------- WeChat Pay (current only, secrets encrypted)


def put_wechatpay(c: Container, shop: ShopModel, body: Any, now: datetime) -> WechatPayState:
    """Store the shop's WeChat Pay configuration. Secrets are KMS-encrypted and never returned; a secret
    left out of the body keeps its stored value (so non-secret fields can change without re-sending)."""
    settings = _validated(WechatPaySettings, _require_object(body))
    _check_keys(settings)
    apiv3_ct = shop.wx_apiv3_key_ct
    merchant_ct = shop.wx_merchant_key_ct
    if settings.apiv3_key is not None:
        apiv3_ct = c.secrets.encrypt(settings.apiv3_key.encode(), shop_id=shop.shop_id, purpose=APIV3_PURPOSE)
    if settings.merchant_private_key_pem is not None:
        merchant_ct = c.secrets.encrypt(
            settings.merchant_private_key_pem.encode(), shop_id=shop.shop_id, purpose=MERCHANT_KEY_PURPOSE
        )
    if apiv3_ct is None:
        raise InvalidInput("apiv3_key: field required", code="missing_field", field="apiv3_key")
    set_wechatpay(
        shop,
        mchid=settings.mchid,
        appid=settings.appid,
        merchant_serial=settings.merchant_serial,
        platform_keys=[(k.serial, k.pem) for k in settings.platform_public_keys],
        apiv3_ct=apiv3_ct,
        merchant_ct=merchant_ct,
        updated_at=key(now),
    )
    c.notify_keys.forget(shop.shop_id)  # this container verifies with the new keys at once
    view = wechatpay_view(shop)
    assert view is not None  # just stored with its mchid
    return view


def _check_keys(settings: WechatPaySettings) -> None:
    from fenxiao.adapters.wechatpay_crypto import load_platform_key, load_private_key

    for i, platform in enumerate(settings.platform_public_keys):
        try:
            load_platform_key(platform.serial, platform.pem)
        except ValueError as exc:
            field = f"platform_public_keys[{i}].pem"
            raise InvalidInput(f"{field}: {exc}", code="invalid_field", field=field) from None
    if settings.merchant_private_key_pem is not None:
        try:
            load_private_key(settings.merchant_private_key_pem)
        except ValueError as exc:
            field = "merchant_private_key_pem"
            raise InvalidInput(f"{field}: {exc}", code="invalid_field", field=field) from None


@dataclass(frozen=True)
class WechatPayState:
    """What may be shown of a shop's WeChat Pay configuration: the non-secret fields, which secrets are set."""

    mchid: str
    appid: str | None
    merchant_serial: str | None
    platform_public_keys: list[tuple[str, str]]  # (serial, pem)
    apiv3_key_set: bool
    merchant_private_key_set: bool
    updated_at: datetime | None


def wechatpay_view(shop: ShopModel) -> WechatPayState | None:
    """The shop's WeChat Pay configuration as it may be shown; None when it has none."""
    if not shop.wx_mchid:
        return None
    return WechatPayState(
        mchid=shop.wx_mchid,
        appid=shop.wx_appid,
        merchant_serial=shop.wx_merchant_serial,
        platform_public_keys=[(k.serial, k.pem) for k in shop.wx_platform_keys or []],
        apiv3_key_set=shop.wx_apiv3_key_ct is not None,
        merchant_private_key_set=shop.wx_merchant_key_ct is not None,
        updated_at=from_key(shop.wx_updated_at) if shop.wx_updated_at else None,
    )


def apiv3_key(c: Container, shop: ShopModel) -> str:
    """The APIv3 key alone, decrypted: what verifying a notification needs. The API function may not decrypt
    the merchant private key (template.yaml), which only the payout worker uses."""
    if not shop.wx_mchid or shop.wx_apiv3_key_ct is None:
        raise RuleViolation("the shop has no WeChat Pay configuration", code="wechatpay_not_configured")
    return c.secrets.decrypt(shop.wx_apiv3_key_ct, shop_id=shop.shop_id, purpose=APIV3_PURPOSE).decode()


def wechatpay_secrets(c: Container, shop: ShopModel) -> tuple[str, str | None]:
    """(apiv3_key, merchant_private_key_pem) decrypted; only for signing and decrypting, never logged."""
    if not shop.wx_mchid or shop.wx_apiv3_key_ct is None:
        raise RuleViolation("the shop has no WeChat Pay configuration", code="wechatpay_not_configured")
    apiv3 = c.secrets.decrypt(shop.wx_apiv3_key_ct, shop_id=shop.shop_id, purpose=APIV3_PURPOSE).decode()
    merchant = None
    if shop.wx_merchant_key_ct is not None:
        merchant = c.secrets.decrypt(
            shop.wx_merchant_key_ct, shop_id=shop.shop_id, purpose=MERCHANT_KEY_PURPOSE
        ).decode()
    return apiv3, merchant
