"""ShopsTable (shop_id): shops and their encrypted secrets; AllShops(kind, shop_id) lists shops for jobs.

ConfigTable (config_key, effective_at): immutable configuration versions, newest <= t; signed-write marks;
the append-only history of trust changes (``TRUST#{shop}#{document}``); job leases (``JOB#{job}``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pynamodb.attributes import (
    BinaryAttribute,
    JSONAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
)
from pynamodb.exceptions import TransactWriteError
from pynamodb.indexes import GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from fenxiao.adapters.dynamo import TableMeta, transaction_cancelled, written
from fenxiao.adapters.tables import bind
from fenxiao.timefmt import key

SHOP_KIND = "shop"  # the AllShops index's one partition
MARK = "MARK"  # the sort key of a signed-write mark


class AllShopsIndex(GlobalSecondaryIndex["ShopModel"]):
    class Meta:
        index_name = "AllShops"
        projection = KeysOnlyProjection()

    kind = UnicodeAttribute(hash_key=True)
    shop_id = UnicodeAttribute(range_key=True)


class PlatformKeyMap(MapAttribute[str, Any]):
    serial = UnicodeAttribute()  # as configured (shown back)
    pem = UnicodeAttribute()  # as configured: a PEM public key or certificate
    # The serial and PEM public key the entry was read as when stored (a certificate's taken out of it): a
    # notification is verified without parsing X.509. Absent from entries stored before they were kept.
    key_serial = UnicodeAttribute(null=True)
    key_pem = UnicodeAttribute(null=True)


@dataclass(frozen=True)
class PlatformKeyRecord:
    """One configured platform key as stored: the entry as given, and the serial and PEM public key it was
    read as (``key_serial``, ``key_pem``)."""

    serial: str
    pem: str
    key_serial: str | None = None
    key_pem: str | None = None


class ShopModel(Model):
    class Meta(TableMeta):
        pass

    shop_id = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute(default=SHOP_KIND)
    name = UnicodeAttribute()
    api_secret_ct = BinaryAttribute(legacy_encoding=False)
    # After a rotation the previous secret stays valid until ``api_secret_prev_until`` (UTC key).
    api_secret_prev_ct = BinaryAttribute(legacy_encoding=False, null=True)
    api_secret_prev_until = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    # WeChat Pay: non-secret fields in clear, secrets KMS-encrypted (``*_ct``).
    wx_mchid = UnicodeAttribute(null=True)
    wx_appid = UnicodeAttribute(null=True)
    wx_merchant_serial = UnicodeAttribute(null=True)
    wx_platform_keys = ListAttribute(of=PlatformKeyMap, null=True)
    wx_apiv3_key_ct = BinaryAttribute(legacy_encoding=False, null=True)
    wx_merchant_key_ct = BinaryAttribute(legacy_encoding=False, null=True)
    wx_updated_at = UnicodeAttribute(null=True)
    # sha256 of the merchant key's public half (not secret): a re-sent key is told from a new one without
    # decrypting the stored one.
    wx_merchant_key_fp = UnicodeAttribute(null=True)
    # When an already configured mchid, appid or merchant key last changed: new withdrawals wait 24 h after.
    wx_merchant_changed_at = UnicodeAttribute(null=True)
    extra = JSONAttribute(null=True)

    all_shops = AllShopsIndex()


class ConfigVersionModel(Model):
    """One accepted PUT of a configuration document; immutable."""

    class Meta(TableMeta):
        pass

    config_key = UnicodeAttribute(hash_key=True)
    effective_at = UnicodeAttribute(range_key=True)
    doc = JSONAttribute(null=True)  # None: deleted (product rates back to the shop defaults)
    head_at = UnicodeAttribute(null=True)  # on the HEAD item only: the effective_at of the newest version


class TrustChangeModel(Model):
    """One accepted change of a trust document (WeChat Pay settings, the mini-program appsecret): which of
    its fields changed, never their values. Lives in ConfigTable under ``TRUST#{shop}#{document}``, sorted by
    time; written once, never changed (no configuration key can start with ``TRUST#``: ids have no ``#``)."""

    class Meta(TableMeta):
        pass

    config_key = UnicodeAttribute(hash_key=True)
    effective_at = UnicodeAttribute(range_key=True)
    fields = UnicodeSetAttribute()


class SignedWriteMarkModel(Model):
    """The X-Timestamp of the newest accepted signed write to one last-writer-wins resource (a settings
    document, a product's rates, a member's distributor status or inviter), so that an older signed request
    replayed within the signature window cannot undo a newer change (see fenxiao.api.ordering). Lives in
    ConfigTable under ``SIGNED#{shop}#{path}``, which no configuration key can be (ids have no ``#``)."""

    class Meta(TableMeta):
        pass

    config_key = UnicodeAttribute(hash_key=True)
    effective_at = UnicodeAttribute(range_key=True, default=MARK)
    signed_at = NumberAttribute()
    expires_at = NumberAttribute()  # TTL: a mark matters only while its request's signature is fresh
    bodies = UnicodeSetAttribute(null=True)  # hashes of the requests applied in the mark's second
    last = UnicodeAttribute(null=True)  # hash of the request applied last (the one in force)


# ---------------------------------------------------------------- ShopsTable


def get_shop(shop_id: str) -> ShopModel | None:
    try:
        return ShopModel.get(shop_id)
    except ShopModel.DoesNotExist:
        return None


def put_new_shop(shop: ShopModel) -> bool:
    """Store a shop whose id is not taken yet; False (nothing written) when it is."""
    return written(lambda: shop.save(condition=ShopModel.shop_id.does_not_exist()))


def replace_api_secret(shop: ShopModel, ciphertext: bytes, previous_until: str) -> None:
    """The new secret becomes current and the current one stays accepted until ``previous_until`` (a key);
    only if no other rotation replaced the secret ``shop`` was read with (else UpdateError)."""
    shop.update(
        actions=[
            ShopModel.api_secret_ct.set(ciphertext),
            ShopModel.api_secret_prev_ct.set(shop.api_secret_ct),
            ShopModel.api_secret_prev_until.set(previous_until),
        ],
        condition=ShopModel.api_secret_ct == shop.api_secret_ct,
    )


def set_wechatpay(
    shop: ShopModel,
    *,
    mchid: str,
    appid: str,
    merchant_serial: str,
    platform_keys: list[PlatformKeyRecord],
    apiv3_ct: bytes,
    merchant_ct: bytes | None,
    merchant_fp: str | None,
    updated_at: str,
    changed: list[str],
    merchant_changed: bool,
) -> bool:
    """Replace the shop's WeChat Pay fields (no ``merchant_ct``: none) and,
    in the same transaction, append the trust change naming the ``changed`` fields (none: no entry). Only
    while the shop's WeChat Pay fields are still as ``shop`` was read (False, nothing written, otherwise), so
    two PUTs at once cannot both compare with the same old document."""
    actions: list[Any] = [
        ShopModel.wx_mchid.set(mchid),
        ShopModel.wx_appid.set(appid),
        ShopModel.wx_merchant_serial.set(merchant_serial),
        ShopModel.wx_platform_keys.set(
            [
                PlatformKeyMap(serial=k.serial, pem=k.pem, key_serial=k.key_serial, key_pem=k.key_pem)
                for k in platform_keys
            ]
        ),
        ShopModel.wx_apiv3_key_ct.set(apiv3_ct),
        ShopModel.wx_merchant_key_ct.set(merchant_ct)
        if merchant_ct
        else ShopModel.wx_merchant_key_ct.remove(),
        ShopModel.wx_merchant_key_fp.set(merchant_fp)
        if merchant_fp
        else ShopModel.wx_merchant_key_fp.remove(),
        ShopModel.wx_updated_at.set(updated_at),
    ]
    if merchant_changed:
        actions.append(ShopModel.wx_merchant_changed_at.set(updated_at))
    unchanged = (
        ShopModel.wx_updated_at.does_not_exist()
        if shop.wx_updated_at is None
        else ShopModel.wx_updated_at == shop.wx_updated_at
    )
    try:
        with TransactWrite(connection=ShopModel._get_connection().connection) as tx:
            tx.update(shop, actions=actions, condition=unchanged)
            if changed:
                add_trust_change(tx, shop.shop_id, WECHATPAY, updated_at, changed)
    except TransactWriteError as exc:
        if not transaction_cancelled(exc):
            raise
        return False
    shop.refresh(consistent_read=True)
    return True


# ---------------------------------------------------------------- ConfigTable: trust changes

WECHATPAY = "wechatpay"
MINIPROGRAM = "miniprogram"
TRUST_DOCUMENTS = (WECHATPAY, MINIPROGRAM)


def trust_key(shop_id: str, document: str) -> str:
    return f"TRUST#{shop_id}#{document}"


def add_trust_change(tx: TransactWrite, shop_id: str, document: str, at: str, fields: list[str]) -> None:
    """Append one trust change of ``document`` (one of TRUST_DOCUMENTS) to the transaction that makes it:
    written once, never replaced (``at`` must be after the document's previous change)."""
    entry = TrustChangeModel(trust_key(shop_id, document), at, fields=set(fields))
    tx.save(entry, condition=TrustChangeModel.effective_at.does_not_exist())


def trust_scope(shop_id: str, document: str) -> dict[str, str]:
    """What the last key of a history page of this shop's ``document`` holds (a cursor is checked against it)."""
    return {"config_key": trust_key(shop_id, document)}


def trust_page(
    shop_id: str, document: str, start: dict[str, Any] | None, limit: int
) -> tuple[list[TrustChangeModel], dict[str, Any] | None]:
    """One page of the document's trust changes, newest first, and the key to go on from (None: the end)."""
    result = TrustChangeModel.query(
        trust_key(shop_id, document), scan_index_forward=False, limit=limit, last_evaluated_key=start
    )
    return list(result), result.last_evaluated_key


def shop_ids(after: str | None = None, *, inclusive: bool = False, limit: int) -> list[str]:
    """One page of the AllShops index (a query, not a scan): up to ``limit`` shop ids in order, those after
    ``after`` (or from it, when ``inclusive``), or from the first shop when ``after`` is None."""
    condition = None
    if after:
        condition = ShopModel.shop_id >= after if inclusive else ShopModel.shop_id > after
    return [s.shop_id for s in ShopModel.all_shops.query(SHOP_KIND, condition, limit=limit)]


def next_shop_id(after: str | None) -> str | None:
    """The shop after ``after`` (the first when None), None after the last: the step of a walk over every
    shop (the audit, the summary's rebuild and recount)."""
    return next(iter(shop_ids(after, limit=1)), None)


# ---------------------------------------------------------------- ConfigTable: configuration versions

DISTRIBUTION = "distribution"
MEMBERSHIP = "membership"
RATES = "rates"
HEAD = "HEAD"  # sorts after every "20..." version key, so version queries never see it


def config_key(shop_id: str, kind: str, product_id: str | None = None) -> str:
    """``{shop}#distribution``, ``{shop}#membership`` or ``{shop}#rates#{product}`` (ids have no ``#``)."""
    return f"{shop_id}#{RATES}#{product_id}" if product_id else f"{shop_id}#{kind}"


def version_at(ckey: str, at: datetime) -> tuple[str, Any] | None:
    """(effective_at, doc) of the newest version at or before ``at``: one Query, Limit 1; None if none."""
    for item in ConfigVersionModel.query(
        ckey, ConfigVersionModel.effective_at <= key(at), scan_index_forward=False, limit=1
    ):
        return item.effective_at, item.doc
    return None


def docs_at(ckeys: list[str], at: datetime) -> dict[str, Any]:
    """The documents of several keys as they stood at ``at`` (None: no version), in one BatchGetItem in the
    common case.

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


def newest_version(ckey: str) -> tuple[str, Any] | None:
    """(effective_at, doc) of the newest version, read consistently from the HEAD item; None if none."""
    try:
        head = ConfigVersionModel.get(ckey, HEAD, consistent_read=True)
    except ConfigVersionModel.DoesNotExist:
        return None
    return None if head.head_at is None else (head.head_at, head.doc)


def write_version(
    ckey: str,
    effective_at: str,
    doc: Any,
    replaces: str | None,
    trust: tuple[str, str, list[str]] | None = None,
) -> bool:
    """Store a version and make it the HEAD, in one transaction, on the condition that the newest version
    is still ``replaces`` (None: there was none). False (nothing written) when another write came first.
    ``trust``: (shop_id, document, fields) of a trust change the version makes, appended at its time."""
    unchanged = (
        ConfigVersionModel.head_at.does_not_exist()
        if replaces is None
        else ConfigVersionModel.head_at == replaces
    )
    try:
        with TransactWrite(connection=ConfigVersionModel._get_connection().connection) as tx:
            tx.save(
                ConfigVersionModel(ckey, effective_at, doc=doc),
                condition=ConfigVersionModel.effective_at.does_not_exist(),
            )
            tx.save(ConfigVersionModel(ckey, HEAD, doc=doc, head_at=effective_at), condition=unchanged)
            if trust is not None:
                add_trust_change(tx, trust[0], trust[1], effective_at, trust[2])
    except TransactWriteError as exc:
        if not transaction_cancelled(exc):
            raise
        return False
    return True


# ---------------------------------------------------------------- ConfigTable: signed-write marks


def signed_write_key(shop_id: str, path: str) -> str:
    return f"SIGNED#{shop_id}#{path}"


@dataclass(frozen=True)
class SignedWriteMark:
    signed_at: int
    expires_at: int
    bodies: frozenset[str]  # hashes of the requests applied in the second ``signed_at``
    last: str | None  # hash of the request applied last


def signed_write_mark(shop_id: str, path: str) -> SignedWriteMark | None:
    """The newest accepted signed write to ``path``, read consistently."""
    try:
        mark = SignedWriteMarkModel.get(signed_write_key(shop_id, path), MARK, consistent_read=True)
    except SignedWriteMarkModel.DoesNotExist:
        return None
    return SignedWriteMark(int(mark.signed_at), int(mark.expires_at), frozenset(mark.bodies or ()), mark.last)


def advance_signed_write_mark(
    shop_id: str, path: str, signed_at: int, request_hash: str, expires_at: int, void_above: int
) -> bool:
    """Set the mark to ``signed_at`` with ``request_hash`` as its only applied request if it is strictly newer
    than the stored one, or the stored one is above ``void_above`` (no longer counts); False (nothing written)
    otherwise."""
    mark = SignedWriteMarkModel(
        signed_write_key(shop_id, path),
        MARK,
        signed_at=signed_at,
        expires_at=expires_at,
        bodies={request_hash},
        last=request_hash,
    )
    newer = SignedWriteMarkModel.signed_at.does_not_exist() | (SignedWriteMarkModel.signed_at < signed_at)
    return written(lambda: mark.save(condition=newer | (SignedWriteMarkModel.signed_at > void_above)))


def distribution_versions(shop_id: str, after_key: str | None, at_key: str) -> list[tuple[str, Any]]:
    """``(effective_at, document)`` of the shop's distribution versions in (``after_key``, ``at_key``]
    (all up to ``at_key`` when ``after_key`` is None), oldest first: one consistent Query."""
    condition = (
        ConfigVersionModel.effective_at <= at_key
        if after_key is None
        else ConfigVersionModel.effective_at.between(after_key, at_key)
    )
    items = ConfigVersionModel.query(config_key(shop_id, DISTRIBUTION), condition, consistent_read=True)
    return [
        (item.effective_at, item.doc) for item in items if after_key is None or item.effective_at > after_key
    ]


def add_to_signed_write_mark(shop_id: str, path: str, signed_at: int, request_hash: str) -> bool:
    """Add ``request_hash`` to the requests applied in the mark's second and make it the last one, if the mark
    is still at ``signed_at``; False (nothing written) otherwise."""
    mark = SignedWriteMarkModel(signed_write_key(shop_id, path), MARK)
    return written(
        lambda: mark.update(
            actions=[
                SignedWriteMarkModel.bodies.add({request_hash}),
                SignedWriteMarkModel.last.set(request_hash),
            ],
            condition=SignedWriteMarkModel.signed_at == signed_at,
        )
    )


# ---------------------------------------------------------------- job leases (ConfigTable)

LEASE = "LEASE"


class JobLeaseModel(Model):
    """Which chain of a job's pages may run its next page (service/jobs.py runs one chain at a time). Lives in
    ConfigTable under ``JOB#{job}``, which no configuration key can be (ids have no ``#``)."""

    class Meta(TableMeta):
        pass

    config_key = UnicodeAttribute(hash_key=True)
    effective_at = UnicodeAttribute(range_key=True, default=LEASE)
    holder = UnicodeAttribute()
    expires_at = NumberAttribute()  # unix seconds; also the table's TTL, which removes a lease long given up


def job_lease_key(job: str) -> str:
    return f"JOB#{job}"


def take_job_lease(job: str, holder: str, now: float, seconds: float, *, force: bool = False) -> bool:
    """Hold ``job``'s lease as ``holder`` until ``now + seconds`` when it is free, expired or ``holder``'s
    already (``force``: whoever holds it). False, nothing written, when another holder's lease still runs."""
    lease = JobLeaseModel(job_lease_key(job), LEASE, holder=holder, expires_at=int(now + seconds))
    if force:
        lease.save()
        return True
    free = (
        JobLeaseModel.holder.does_not_exist()
        | (JobLeaseModel.holder == holder)
        | (JobLeaseModel.expires_at < int(now))
    )
    return written(lambda: lease.save(condition=free))


def drop_job_lease(job: str, holder: str) -> None:
    """Give ``job``'s lease up if ``holder`` still holds it (a chain that lost it leaves the new holder's)."""
    lease = JobLeaseModel(job_lease_key(job), LEASE)
    written(lambda: lease.delete(condition=JobLeaseModel.holder == holder))


# Last, after every subclass: the tables this module's models are stored in.
bind(ShopModel, "shops_table")
bind(ConfigVersionModel, "config_table")
bind(SignedWriteMarkModel, "config_table")
bind(TrustChangeModel, "config_table")
bind(JobLeaseModel, "config_table")
