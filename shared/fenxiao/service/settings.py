"""Shop configuration, versioned: every accepted PUT writes a new immutable version with its time.

"The configuration as it stood at t" is one query: the newest version of that key whose ``effective_at``
is at or before t. A change applies to every payment whose success_time is after the PUT was stored.

A PUT takes a whole document or a part of one: fields it leaves out keep their value in the newest version,
and the merged document is validated as a whole before anything is stored.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from fenxiao.adapters.shops import ConfigVersionModel, PlatformKeyMap, ShopModel
from fenxiao.api.errors import from_validation_error
from fenxiao.bootstrap import Container
from fenxiao.domain.errors import Conflict, InvalidInput, NotFound, RuleViolation
from fenxiao.schemas.settings import DistributionSettings, MembershipSettings, ProductRates, WechatPaySettings
from fenxiao.timefmt import from_key, key, rfc3339_from_key

M = TypeVar("M", bound=BaseModel)

DISTRIBUTION = "distribution"
MEMBERSHIP = "membership"
APIV3_PURPOSE = "wechatpay_apiv3_key"
MERCHANT_KEY_PURPOSE = "wechatpay_merchant_private_key"


def config_key(shop_id: str, kind: str, product_id: str | None = None) -> str:
    return f"{shop_id}#rates#{product_id}" if product_id else f"{shop_id}#{kind}"


# ---------------------------------------------------------------- reading versions


def version_at(ckey: str, at: datetime) -> tuple[str, Any] | None:
    """(effective_at, doc) of the newest version at or before ``at``; None when there is none."""
    at_key = key(at)
    for item in ConfigVersionModel.query(
        ckey, ConfigVersionModel.effective_at <= at_key, scan_index_forward=False, limit=1
    ):
        return item.effective_at, item.doc
    return None


HEAD = "HEAD"  # sorts after every "20..." version key, so version queries never see it


def docs_at(ckeys: list[str], at: datetime) -> dict[str, Any]:
    """The documents of several keys as they stood at ``at``, in one BatchGetItem in the common case.

    Each key has a HEAD item holding its newest version. When that version is at or before ``at`` it is
    the answer; only when a change came after ``at`` (a payment processed late) is the history queried.
    """
    at_key = key(at)
    heads = {item.config_key: item for item in ConfigVersionModel.batch_get([(k, HEAD) for k in set(ckeys)])}
    out: dict[str, Any] = {}
    for ckey in ckeys:
        head = heads.get(ckey)
        if head is None:
            out[ckey] = None
        elif head.head_at is not None and head.head_at <= at_key:
            out[ckey] = head.doc
        else:
            found = version_at(ckey, at)
            out[ckey] = None if found is None else found[1]
    return out


def doc_at(ckey: str, at: datetime) -> Any:
    return docs_at([ckey], at)[ckey]


# ---------------------------------------------------------------- writing versions


STORE_ATTEMPTS = 10


def _head(ckey: str) -> ConfigVersionModel | None:
    try:
        return ConfigVersionModel.get(ckey, HEAD, consistent_read=True)
    except ConfigVersionModel.DoesNotExist:
        return None


def _store(ckey: str, build: Callable[[Any], Any], now: datetime) -> Any:
    """Write a new version built from the newest one; returns the stored document.

    ``build(newest_doc)`` makes the document to store (and validates it: nothing is written when it
    raises). The version is written at ``now``, or one microsecond after the newest version when that one
    is not before ``now`` (the clock was moved back, or another PUT got there first), so versions stay
    strictly increasing and a PUT applies to every payment after it returned. The HEAD item is written on
    the condition that it still names the version ``build`` saw: a concurrent PUT makes the write cancel,
    and it is retried on the new newest version, so no accepted change is lost.
    """
    head = _head(ckey)
    for _ in range(STORE_ATTEMPTS):
        head_at = head.head_at if head is not None else None
        moment = now
        if head_at is not None:
            moment = max(now, from_key(head_at) + timedelta(microseconds=1))
        doc = build(head.doc if head is not None else None)
        effective_at = key(moment)
        unchanged = (
            ConfigVersionModel.head_at.does_not_exist()
            if head_at is None
            else ConfigVersionModel.head_at == head_at
        )
        try:
            with TransactWrite(connection=ConfigVersionModel._get_connection().connection) as tx:
                tx.save(
                    ConfigVersionModel(ckey, effective_at, doc=doc),
                    condition=ConfigVersionModel.effective_at.does_not_exist(),
                )
                tx.save(ConfigVersionModel(ckey, HEAD, doc=doc, head_at=effective_at), condition=unchanged)
            return doc
        except TransactWriteError as exc:
            if getattr(exc, "cause_response_code", None) != "TransactionCanceledException":
                raise
            head = _head(ckey)
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
    rate_keys = {p: config_key(shop_id, "rates", p) for p in product_ids}
    docs = docs_at([dist_key, member_key, *rate_keys.values()], at)
    rates = {p: ProductRates.model_validate(docs[k]) for p, k in rate_keys.items() if docs[k] is not None}
    return (
        DistributionSettings.model_validate(docs[dist_key] or {}),
        MembershipSettings.model_validate(docs[member_key] or {}),
        rates,
    )


def distribution_at(shop_id: str, at: datetime) -> DistributionSettings:
    doc = doc_at(config_key(shop_id, DISTRIBUTION), at)
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


def product_rates_at(shop_id: str, product_id: str, at: datetime) -> ProductRates | None:
    doc = doc_at(config_key(shop_id, "rates", product_id), at)
    return None if doc is None else ProductRates.model_validate(doc)


def put_product_rates(shop_id: str, product_id: str, body: Any, now: datetime) -> ProductRates:
    rates = _validated(ProductRates, _require_object(body))
    _store(config_key(shop_id, "rates", product_id), lambda _newest: rates.model_dump(mode="json"), now)
    return rates


def delete_product_rates(shop_id: str, product_id: str, now: datetime) -> None:
    def build(newest: Any) -> None:
        if newest is None:
            raise NotFound(f"product {product_id} has no rates of its own", code="rates_not_found")

    _store(config_key(shop_id, "rates", product_id), build, now)


# ---------------------------------------------------------------- membership


def membership_at(shop_id: str, at: datetime) -> MembershipSettings:
    doc = doc_at(config_key(shop_id, MEMBERSHIP), at)
    return MembershipSettings.model_validate(doc or {})


def put_membership(shop_id: str, body: Any, now: datetime) -> MembershipSettings:
    patch = _require_object(body)
    doc = _store(config_key(shop_id, MEMBERSHIP), _patched(MembershipSettings, patch), now)
    return MembershipSettings.model_validate(doc)


# ---------------------------------------------------------------- WeChat Pay (current only, secrets encrypted)


def put_wechatpay(c: Container, shop: ShopModel, body: Any, now: datetime) -> dict[str, Any]:
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
    shop.update(
        actions=[
            ShopModel.wx_mchid.set(settings.mchid),
            ShopModel.wx_appid.set(settings.appid),
            ShopModel.wx_merchant_serial.set(settings.merchant_serial),
            ShopModel.wx_platform_keys.set(
                [PlatformKeyMap(serial=k.serial, pem=k.pem) for k in settings.platform_public_keys]
            ),
            ShopModel.wx_apiv3_key_ct.set(apiv3_ct),
            ShopModel.wx_merchant_key_ct.set(merchant_ct)
            if merchant_ct
            else ShopModel.wx_merchant_key_ct.remove(),
            ShopModel.wx_updated_at.set(key(now)),
        ]
    )
    c.notify_keys.forget(shop.shop_id)  # this container verifies with the new keys at once
    return wechatpay_public(shop)


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
        except ValueError:
            field = "merchant_private_key_pem"
            raise InvalidInput(
                f"{field}: not an RSA private key in PEM", code="invalid_field", field=field
            ) from None


def wechatpay_public(shop: ShopModel) -> dict[str, Any]:
    """What GET shows: the non-secret fields and which secrets are set."""
    if not shop.wx_mchid:
        return {"configured": False}
    return {
        "configured": True,
        "mchid": shop.wx_mchid,
        "appid": shop.wx_appid,
        "merchant_serial": shop.wx_merchant_serial,
        "platform_public_keys": [{"serial": k.serial, "pem": k.pem} for k in shop.wx_platform_keys or []],
        "apiv3_key_set": shop.wx_apiv3_key_ct is not None,
        "merchant_private_key_set": shop.wx_merchant_key_ct is not None,
        "updated_at": rfc3339_from_key(shop.wx_updated_at),
    }


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
