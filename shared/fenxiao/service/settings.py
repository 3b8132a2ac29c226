"""Shop configuration, versioned: every accepted PUT writes a new immutable version with its time.

"The configuration as it stood at t" is one query: the newest version of that key whose ``effective_at``
is at or before t. A change applies to every payment whose success_time is after the PUT was stored.

A PUT takes a whole document or a part of one: fields it leaves out keep their value in the newest version,
and the merged document is validated as a whole before anything is stored. The versions' keys and storage
are in fenxiao.adapters.shops (ConfigTable).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar, overload

from pydantic import BaseModel, ValidationError

from fenxiao.adapters.shops import (
    DISTRIBUTION,
    MEMBERSHIP,
    MINIPROGRAM,
    RATES,
    TRUST_DOCUMENTS,
    WECHATPAY,
    PlatformKeyRecord,
    ShopModel,
    config_key,
    docs_at,
    newest_version,
    set_wechatpay,
    trust_page,
    trust_scope,
    write_version,
)
from fenxiao.bootstrap import Container, container
from fenxiao.domain.errors import Conflict, InvalidInput, NotFound, RuleViolation
from fenxiao.observability import count, logger
from fenxiao.schemas.common import from_validation_error
from fenxiao.schemas.rules import DistributionRules, MembershipSettings, ProductRates
from fenxiao.service.shops import APIV3_PURPOSE, MERCHANT_KEY_PURPOSE, load_shop
from fenxiao.timefmt import from_key, key, rfc3339

if TYPE_CHECKING:
    from fenxiao.schemas.settings import DistributionSettings, WechatPaySettings

# schemas.settings (the pages' look, posters, mini-program, WeChat Pay) is imported where a function needs it:
# the order worker reads the rules alone (schemas.rules).
M = TypeVar("M", bound=BaseModel)
D = TypeVar("D", bound=DistributionRules)


def _doc_at(ckey: str, at: datetime) -> Any:
    return docs_at([ckey], at)[ckey]


# ---------------------------------------------------------------- writing versions


STORE_ATTEMPTS = 10


def _store(
    ckey: str,
    build: Callable[[Any], Any],
    now: datetime,
    trust: Callable[[], tuple[str, str, list[str]] | None] = lambda: None,
) -> Any:
    """Write a new version built from the newest one; returns the stored document.

    ``build(newest_doc)`` makes the document to store (and validates it: nothing is written when it
    raises). The version is written at ``now``, or one microsecond after the newest version when that one
    is not before ``now`` (the clock was moved back, or another PUT got there first), so versions stay
    strictly increasing and a PUT applies to every payment after it returned. The write holds only while
    the newest version is still the one ``build`` saw: after a concurrent PUT it is retried on the new
    newest version, so no accepted change is lost. ``trust()``, asked after each ``build``, names the trust
    change that document makes (shop_id, document, fields), written in the same transaction.
    """
    newest = newest_version(ckey)
    for _ in range(STORE_ATTEMPTS):
        newest_at = newest[0] if newest is not None else None
        moment = now
        if newest_at is not None:
            moment = max(now, from_key(newest_at) + timedelta(microseconds=1))
        doc = build(newest[1] if newest is not None else None)
        if write_version(ckey, key(moment), doc, replaces=newest_at, trust=trust()):
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


@overload
def rules_at(
    shop_id: str, product_ids: list[str], at: datetime
) -> tuple[DistributionRules, MembershipSettings, dict[str, ProductRates]]: ...


@overload
def rules_at(
    shop_id: str, product_ids: list[str], at: datetime, distribution: type[D]
) -> tuple[D, MembershipSettings, dict[str, ProductRates]]: ...


def rules_at(
    shop_id: str,
    product_ids: list[str],
    at: datetime,
    distribution: type[DistributionRules] = DistributionRules,
) -> tuple[DistributionRules, MembershipSettings, dict[str, ProductRates]]:
    """Everything a payment at ``at`` is computed with, read together (one BatchGetItem usually): the
    distribution document as ``distribution`` (its rules; ``DistributionSettings``: the whole document)."""
    dist_key, member_key = config_key(shop_id, DISTRIBUTION), config_key(shop_id, MEMBERSHIP)
    rate_keys = {p: config_key(shop_id, RATES, p) for p in product_ids}
    docs = docs_at([dist_key, member_key, *rate_keys.values()], at)
    rates = {p: ProductRates.model_validate(docs[k]) for p, k in rate_keys.items() if docs[k] is not None}
    return (
        distribution.of(docs[dist_key]),
        MembershipSettings.model_validate(docs[member_key] or {}),
        rates,
    )


def distribution_at(shop_id: str, at: datetime) -> DistributionSettings:
    from fenxiao.schemas.settings import DistributionSettings

    doc = _doc_at(config_key(shop_id, DISTRIBUTION), at)
    return DistributionSettings.model_validate(doc or {})


def _patched(model: type[M], patch: dict[str, Any]) -> Callable[[Any], Any]:
    """``build`` for ``_store``: the newest document with ``patch`` merged in, validated as a whole."""

    def build(newest: Any) -> Any:
        return _validated(model, _merge(newest or {}, patch)).model_dump(mode="json")

    return build


def put_distribution(shop_id: str, body: Any, now: datetime) -> DistributionSettings:
    """Store a version; one that switches the eligibility mode to ``none`` makes every member a distributor,
    so it enqueues the shop's ``distributor-recount`` job, which counts them in the summary."""
    from fenxiao.schemas.settings import DistributionSettings

    patch = _require_object(body)
    build = _patched(DistributionSettings, patch)
    before: list[str] = []  # the mode of the version the stored one was built on (the last attempt's)

    def remembering(newest: Any) -> Any:
        before[:] = [DistributionSettings.model_validate(newest or {}).eligibility.mode]
        return build(newest)

    doc = _store(config_key(shop_id, DISTRIBUTION), remembering, now)
    stored = DistributionSettings.model_validate(doc)
    if stored.eligibility.mode == "none" and before != ["none"]:
        container().queues.send(
            "jobs",
            {"job": "distributor-recount", "now": rfc3339(now), "cursor": {"shop_id": shop_id, "only": True}},
        )
    return stored


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


# A change of one of these, once configured, holds every new withdrawal for review this long (SPEC §10).
MERCHANT_CHANGE_HOLD = timedelta(hours=24)
MERCHANT_FIELDS = ("mchid", "appid", "merchant_serial", "merchant_private_key_pem")


def put_wechatpay(c: Container, shop: ShopModel, body: Any, now: datetime) -> WechatPayState:
    """Store the shop's WeChat Pay configuration. Secrets are KMS-encrypted and never returned; a secret
    left out of the body keeps its stored value (so non-secret fields can change without re-sending).

    Every accepted change is a trust change (SPEC §10): the names of the fields that changed are appended to
    the shop's history, logged as a warning and counted (``TrustSettingsChanged``); a change of an already
    configured mchid, appid or merchant key (its serial or the key itself) starts the 24 h review hold."""
    from fenxiao.schemas.settings import WechatPaySettings

    settings = _validated(WechatPaySettings, _require_object(body))
    records = _checked_keys(settings)
    for _ in range(STORE_ATTEMPTS):
        apiv3_ct = shop.wx_apiv3_key_ct
        merchant_ct = shop.wx_merchant_key_ct
        merchant_fp = shop.wx_merchant_key_fp
        if settings.apiv3_key is not None:
            apiv3_ct = c.secrets.encrypt(
                settings.apiv3_key.encode(), shop_id=shop.shop_id, purpose=APIV3_PURPOSE
            )
        if settings.merchant_private_key_pem is not None:
            merchant_ct = c.secrets.encrypt(
                settings.merchant_private_key_pem.encode(), shop_id=shop.shop_id, purpose=MERCHANT_KEY_PURPOSE
            )
            merchant_fp = merchant_key_fingerprint(settings.merchant_private_key_pem)
        if apiv3_ct is None:
            raise InvalidInput("apiv3_key: field required", code="missing_field", field="apiv3_key")
        changed = wechatpay_changes(shop, settings, merchant_fp)
        merchant_changed = any(name in changed and _was_set(shop, name) for name in MERCHANT_FIELDS)
        stored = set_wechatpay(
            shop,
            mchid=settings.mchid,
            appid=settings.appid,
            merchant_serial=settings.merchant_serial,
            platform_keys=records,
            apiv3_ct=apiv3_ct,
            merchant_ct=merchant_ct,
            merchant_fp=merchant_fp,
            updated_at=key(max(now, _after(shop.wx_updated_at))),
            changed=changed,
            merchant_changed=merchant_changed,
        )
        if stored:
            break
        shop = load_shop(shop.shop_id)  # changed meanwhile: compare with what is stored now
    else:
        raise Conflict(
            "the configuration is being changed by other requests at the same time; retry",
            code="concurrent_change",
        )
    if changed:
        _trust_changed(shop.shop_id, WECHATPAY, changed, merchant_changed)
    c.notify_keys.forget(shop.shop_id)  # this container verifies with the new keys at once
    view = wechatpay_view(shop)
    assert view is not None  # just stored with its mchid
    return view


def _after(stamp: str | None) -> datetime:
    """A moment strictly after ``stamp`` (history entries are keyed by time and never overwritten)."""
    if stamp is None:
        return datetime.min.replace(tzinfo=UTC)
    return from_key(stamp) + timedelta(microseconds=1)


def merchant_key_fingerprint(pem: str) -> str:
    """sha256 of the merchant key's public half (DER): names the key without revealing it."""
    from cryptography.hazmat.primitives import serialization

    from fenxiao.adapters.wechatpay_crypto import load_private_key

    public = (
        load_private_key(pem)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return hashlib.sha256(public).hexdigest()


def wechatpay_changes(shop: ShopModel, new: WechatPaySettings, merchant_fp: str | None) -> list[str]:
    """The names of the fields ``new`` changes in the stored configuration. The APIv3 key is stored only
    encrypted (KMS ciphertexts differ every time, and the API does not decrypt it to compare): sent is
    changed. The merchant key is compared by its public fingerprint (a key stored before fingerprints were
    kept and sent again counts as changed)."""
    changed = []
    if new.mchid != shop.wx_mchid:
        changed.append("mchid")
    if new.appid != shop.wx_appid:
        changed.append("appid")
    if new.merchant_serial != shop.wx_merchant_serial:
        changed.append("merchant_serial")
    stored_keys = [(k.serial, k.pem) for k in shop.wx_platform_keys or []]
    if [(k.serial, k.pem) for k in new.platform_public_keys] != stored_keys:
        changed.append("platform_public_keys")
    if new.apiv3_key is not None:
        changed.append("apiv3_key")
    sent_key = new.merchant_private_key_pem is not None
    if sent_key and (shop.wx_merchant_key_fp is None or merchant_fp != shop.wx_merchant_key_fp):
        changed.append("merchant_private_key_pem")
    return changed


def _was_set(shop: ShopModel, name: str) -> bool:
    stored = {
        "mchid": shop.wx_mchid,
        "appid": shop.wx_appid,
        "merchant_serial": shop.wx_merchant_serial,
        "merchant_private_key_pem": shop.wx_merchant_key_ct,
    }
    return stored[name] is not None


def _trust_changed(shop_id: str, document: str, fields: list[str], merchant_changed: bool) -> None:
    logger().warning(
        "trust settings changed",
        extra={
            "shop_id": shop_id,
            "document": document,
            "fields": fields,
            "merchant_changed": merchant_changed,
        },
    )
    count("TrustSettingsChanged", document=document)


def merchant_changed_recently(shop: ShopModel, now: datetime) -> bool:
    """Within 24 h after a change of the shop's already configured mchid, appid or merchant key."""
    at = shop.wx_merchant_changed_at
    return at is not None and now < from_key(at) + MERCHANT_CHANGE_HOLD


@dataclass(frozen=True)
class TrustHistoryPage:
    entries: list[tuple[datetime, list[str]]]  # (at, fields), newest first
    last_key: dict[str, Any] | None


def trust_history_scope(shop_id: str, document: str) -> dict[str, str]:
    """What a cursor of the document's history must name; ``document`` must be one that is recorded."""
    if document not in TRUST_DOCUMENTS:
        raise InvalidInput(
            f"document: one of {', '.join(TRUST_DOCUMENTS)}", code="invalid_field", field="document"
        )
    return trust_scope(shop_id, document)


def _in_order(fields: set[str]) -> list[str]:
    from fenxiao.schemas.settings import WechatPaySettings

    known = [*WechatPaySettings.model_fields]
    return sorted(fields, key=lambda f: (known.index(f) if f in known else len(known), f))


def trust_history(shop_id: str, document: str, start: dict[str, Any] | None, limit: int) -> TrustHistoryPage:
    found, last_key = trust_page(shop_id, document, start, limit)
    return TrustHistoryPage([(from_key(e.effective_at), _in_order(e.fields)) for e in found], last_key)


def _checked_keys(settings: WechatPaySettings) -> list[PlatformKeyRecord]:
    """Checks every key and returns the platform keys as they are stored: each with the serial and PEM public
    key it was read as (a certificate's taken out of it), which the notification path reads instead."""
    from fenxiao.adapters.wechatpay_crypto import load_platform_key, load_private_key, public_key_pem

    records = []
    for i, platform in enumerate(settings.platform_public_keys):
        try:
            loaded = load_platform_key(platform.serial, platform.pem)
        except ValueError as exc:
            field = f"platform_public_keys[{i}].pem"
            raise InvalidInput(f"{field}: {exc}", code="invalid_field", field=field) from None
        records.append(
            PlatformKeyRecord(platform.serial, platform.pem, loaded.serial, public_key_pem(loaded))
        )
    if settings.merchant_private_key_pem is not None:
        try:
            load_private_key(settings.merchant_private_key_pem)
        except ValueError as exc:
            field = "merchant_private_key_pem"
            raise InvalidInput(f"{field}: {exc}", code="invalid_field", field=field) from None
    return records


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


# ---------------------------------------------------------------- mini-program (SPEC §9; versioned, appsecret encrypted)

MINIPROGRAM_APPSECRET_PURPOSE = "miniprogram_appsecret"
_APPSECRET_CT = "appsecret_ct"  # the stored document's ciphertext field (base64): never shown


@dataclass(frozen=True)
class MiniProgramView:
    """What may be shown of a shop's mini-program settings (never the appsecret), and for the PUT that stored
    them whether the appsecret changed: ``appsecret_changed`` is where a trust change of the appsecret is
    detected (SPEC §10 keeps a history of them, written with the version)."""

    configured: bool
    appid: str | None
    env_version: str
    pages: dict[str, str]
    appsecret_set: bool
    appsecret_changed: bool = False


def _miniprogram_view(doc: Any, appsecret_changed: bool = False) -> MiniProgramView:
    if not doc:
        from fenxiao.schemas.settings import MiniProgramPages

        defaults = MiniProgramPages().model_dump(mode="json")
        return MiniProgramView(False, None, "release", defaults, False)
    return MiniProgramView(
        True,
        doc["appid"],
        doc["env_version"],
        dict(doc["pages"]),
        bool(doc.get(_APPSECRET_CT)),
        appsecret_changed,
    )


def miniprogram_view(shop_id: str, at: datetime) -> MiniProgramView:
    return _miniprogram_view(_doc_at(config_key(shop_id, MINIPROGRAM), at))


def put_miniprogram(c: Container, shop_id: str, body: Any, now: datetime) -> MiniProgramView:
    """Store a new version: fields left out keep their value, the appsecret included (a PUT without it keeps
    the stored one); the first configuration needs the appid and the appsecret. The appsecret is encrypted
    once and compared with the stored one (decrypted) only when the body carries one."""
    patch = _require_object(body)
    secret = patch.get("appsecret")
    changed = [False]

    def build(newest: Any) -> Any:
        stored = dict(newest or {})
        stored_ct = stored.pop(_APPSECRET_CT, None)
        from fenxiao.schemas.settings import MiniProgramSettings

        settings = _validated(MiniProgramSettings, _merge(stored, patch))
        doc = settings.model_dump(mode="json", exclude={"appsecret"})
        if settings.appsecret is None:
            if stored_ct is None:
                raise InvalidInput("appsecret: field required", code="missing_field", field="appsecret")
            doc[_APPSECRET_CT] = stored_ct
            changed[0] = False
            return doc
        doc[_APPSECRET_CT] = new_ct
        changed[0] = stored_ct is None or _appsecret(c, shop_id, stored_ct) != settings.appsecret
        return doc

    new_ct = ""
    if isinstance(secret, str):
        # Encrypted before the first attempt (a bad value fails validation in build and is never stored).
        new_ct = base64.b64encode(
            c.secrets.encrypt(secret.encode(), shop_id=shop_id, purpose=MINIPROGRAM_APPSECRET_PURPOSE)
        ).decode()

    def trust() -> tuple[str, str, list[str]] | None:
        return (shop_id, MINIPROGRAM, ["appsecret"]) if changed[0] else None

    doc = _store(config_key(shop_id, MINIPROGRAM), build, now, trust)
    if changed[0]:
        _trust_changed(shop_id, MINIPROGRAM, ["appsecret"], merchant_changed=False)
    return _miniprogram_view(doc, changed[0])


def _appsecret(c: Container, shop_id: str, ciphertext: str) -> str:
    return c.secrets.decrypt(
        base64.b64decode(ciphertext), shop_id=shop_id, purpose=MINIPROGRAM_APPSECRET_PURPOSE
    ).decode()


@dataclass(frozen=True)
class MiniProgramAccess:
    """A configured mini-program as the code requests need it; ``appsecret()`` decrypts only when called."""

    appid: str
    env_version: str
    pages: dict[str, str]
    appsecret: Callable[[], str]


def miniprogram_access(c: Container, shop_id: str, at: datetime) -> MiniProgramAccess:
    """The shop's mini-program in force, or 422 ``miniprogram_not_configured``."""
    doc = _doc_at(config_key(shop_id, MINIPROGRAM), at)
    if not doc or not doc.get(_APPSECRET_CT):
        raise RuleViolation(
            "the shop has no mini-program settings (PUT settings/miniprogram)",
            code="miniprogram_not_configured",
        )
    ciphertext = doc[_APPSECRET_CT]
    return MiniProgramAccess(
        doc["appid"], doc["env_version"], dict(doc["pages"]), lambda: _appsecret(c, shop_id, ciphertext)
    )
