"""MembersTable (member_key, sk): META (state and balances), BIND#t (binding history), DIST#t
(distributor grants/revocations); MembersByShop(shop_id, member_id) pages a shop's members."""

from __future__ import annotations

from typing import ClassVar

from pynamodb.attributes import (
    BooleanAttribute,
    DiscriminatorAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
)
from pynamodb.indexes import GlobalSecondaryIndex, IncludeProjection
from pynamodb.models import Model

from fenxiao.adapters.dynamo import TableMeta


class MembersByShopIndex(GlobalSecondaryIndex["MemberItem"]):
    class Meta:
        index_name = "MembersByShop"
        # item_type lets PynamoDB build the right model class; it never changes, so no extra index writes.
        projection = IncludeProjection(["item_type"])

    shop_id = UnicodeAttribute(hash_key=True)
    member_id = UnicodeAttribute(range_key=True)


class MemberItem(Model):
    """Base of the items of one member's partition; ``item_type`` tells them apart."""

    class Meta(TableMeta):
        pass

    member_key = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    item_type = DiscriminatorAttribute()


class MemberModel(MemberItem, discriminator="member"):
    """sk = META: the member's current state, balances and counters."""

    SK: ClassVar[str] = "META"

    shop_id = UnicodeAttribute(null=True)
    member_id = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute(null=True)
    inviter_id = UnicodeAttribute(null=True)
    bound_at = UnicodeAttribute(null=True)
    binding_version = NumberAttribute(default=0)
    is_distributor = BooleanAttribute(default=False)
    distributor_since = UnicodeAttribute(null=True)
    frozen_fen = NumberAttribute(default=0)
    available_fen = NumberAttribute(default=0)
    withdrawing_fen = NumberAttribute(default=0)
    withdrawn_fen = NumberAttribute(default=0)
    growth = NumberAttribute(default=0)
    fans_level1 = NumberAttribute(default=0)
    fans_level2 = NumberAttribute(default=0)
    paid_orders = NumberAttribute(default=0)
    paid_total_fen = NumberAttribute(default=0)
    last_paid_at = UnicodeAttribute(null=True)
    bought_products = UnicodeSetAttribute(null=True)

    members_by_shop = MembersByShopIndex()


class BindingModel(MemberItem, discriminator="binding"):
    """sk = BIND#{bound_at}: one binding of the member to an inviter; replaced ones stay."""

    inviter_id = UnicodeAttribute()
    bound_at = UnicodeAttribute()
    replaced_at = UnicodeAttribute(null=True)
    scored = BooleanAttribute(default=False)


class DistributorChangeModel(MemberItem, discriminator="distributor"):
    """sk = DIST#{at}: the member became (active) or stopped being a distributor at ``at``."""

    active = BooleanAttribute()
    at = UnicodeAttribute()
    cause = UnicodeAttribute()  # "shop", "eligibility:<order_id>", "default"


class MarkerModel(MemberItem, discriminator="marker"):
    """sk = a business key that may happen once (e.g. GROWTH#SIGNIN#2026-11-25)."""

    at = UnicodeAttribute()
