"""ShopsTable (shop_id): shops and their encrypted secrets; AllShops(kind, shop_id) lists shops for jobs.

ConfigTable (config_key, effective_at): immutable configuration versions, newest <= t; signed-write marks.
"""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import (
    BinaryAttribute,
    JSONAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
)
from pynamodb.indexes import GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from fenxiao.adapters.dynamo import TableMeta


class AllShopsIndex(GlobalSecondaryIndex["ShopModel"]):
    class Meta:
        index_name = "AllShops"
        projection = KeysOnlyProjection()

    kind = UnicodeAttribute(hash_key=True)
    shop_id = UnicodeAttribute(range_key=True)


class PlatformKeyMap(MapAttribute[str, Any]):
    serial = UnicodeAttribute()
    pem = UnicodeAttribute()


class ShopModel(Model):
    class Meta(TableMeta):
        pass

    shop_id = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute(default="shop")
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


class SignedWriteMarkModel(Model):
    """The X-Timestamp of the newest accepted signed write to one last-writer-wins resource (a settings
    document, a product's rates, a member's distributor status or inviter), so that an older signed request
    replayed within the signature window cannot undo a newer change (see fenxiao.api.ordering). Lives in
    ConfigTable under ``SIGNED#{shop}#{path}``, which no configuration key can be (ids have no ``#``)."""

    class Meta(TableMeta):
        pass

    config_key = UnicodeAttribute(hash_key=True)
    effective_at = UnicodeAttribute(range_key=True, default="MARK")
    signed_at = NumberAttribute()
    expires_at = NumberAttribute()  # TTL: a mark matters only while its request's signature is fresh
