"""MembersTable (member_key, sk): META (state and balances), BIND#t (binding history), DIST#t
(distributor grants/revocations); MembersByShop(shop_id, member_id) pages a shop's members.

Here are the table's key formats, the one-query load of a member's partition (``MemberRecord``), the
MembersByShop page, the items and conditions of its once-only writes, the growth ledger keys of the
membership events, and the shop's eligibility modes over time that a distributor status is decided by.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from pynamodb.attributes import (
    BooleanAttribute,
    DiscriminatorAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
)
from pynamodb.exceptions import UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.indexes import GlobalSecondaryIndex, IncludeProjection
from pynamodb.models import Model

from fenxiao.adapters.dynamo import TableMeta, condition_failed, transaction_cancelled, written
from fenxiao.adapters.ledger import account
from fenxiao.adapters.tables import bind
from fenxiao.timefmt import key


class MembersByShopIndex(GlobalSecondaryIndex["MemberItem"]):
    class Meta:
        index_name = "MembersByShop"
        # item_type lets PynamoDB build the right model class; it never changes, so no extra index writes.
        projection = IncludeProjection(["item_type"])

    shop_id = UnicodeAttribute(hash_key=True)
    member_id = UnicodeAttribute(range_key=True)


class FansByInviterIndex(GlobalSecondaryIndex["MemberItem"]):
    """Sparse (META items of bound members): a member's current level-1 fans, by binding time."""

    class Meta:
        index_name = "FansByInviter"
        # fan_of2 too: a rebinding's fan-out rewrites only the fans whose level-2 link is not already right.
        projection = IncludeProjection(["item_type", "member_id", "fan_of2"])

    fan_of = UnicodeAttribute(hash_key=True)
    bound_at = UnicodeAttribute(range_key=True)


class FansByGrandInviterIndex(GlobalSecondaryIndex["MemberItem"]):
    """Sparse (META items whose inviter is bound): a member's current level-2 fans, by binding time."""

    class Meta:
        index_name = "FansByGrandInviter"
        projection = IncludeProjection(["item_type", "member_id"])

    fan_of2 = UnicodeAttribute(hash_key=True)
    bound_at = UnicodeAttribute(range_key=True)


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
    fan_of = UnicodeAttribute(null=True)  # "{shop}#{inviter}" (FansByInviter)
    fan_of2 = UnicodeAttribute(null=True)  # "{shop}#{inviter's inviter}" (FansByGrandInviter)

    members_by_shop = MembersByShopIndex()
    fans_by_inviter = FansByInviterIndex()
    fans_by_grand_inviter = FansByGrandInviterIndex()


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


class PayeeModel(MemberItem, discriminator="payee"):
    """sk = PAYEE#{appid}: the openid the member's withdrawals of this appid are paid to (SPEC §10), pinned by
    the first withdrawal and moved only by the shop's approval of a withdrawal to another openid."""

    openid = UnicodeAttribute()
    pinned_at = UnicodeAttribute()
    withdrawal_id = UnicodeAttribute()  # the withdrawal that pinned it


# ---------------------------------------------------------------- keys


def member_key(shop_id: str, member_id: str) -> str:
    """The member's partition: the same string as its ledger account."""
    return account(shop_id, member_id)


def binding_sk(bound_at: str) -> str:
    return f"BIND#{bound_at}"


def distributor_sk(at: str) -> str:
    return f"DIST#{at}"


def payee_sk(appid: str) -> str:
    return f"PAYEE#{appid}"


# The growth ledger entries of the membership events (LedgerTable, in the member's account): each may
# happen once, so its key is its business key.
GROWTH_PREFIX = "GROWTH#"
GROWTH_PROFILE_KEY = f"{GROWTH_PREFIX}PROFILE"


def growth_review_key(review_id: str) -> str:
    return f"{GROWTH_PREFIX}REVIEW#{review_id}"


def growth_signin_key(day: str) -> str:
    """``day``: the sign-in's Asia/Shanghai date, YYYY-MM-DD."""
    return f"{GROWTH_PREFIX}SIGNIN#{day}"


# ---------------------------------------------------------------- the member's partition


@dataclass
class MemberRecord:
    """A member's partition, read at once."""

    shop_id: str
    member_id: str
    meta: MemberModel | None
    bindings: list[BindingModel]  # oldest first
    changes: list[DistributorChangeModel]  # oldest first

    def inviter_at(self, at: datetime) -> str | None:
        """The inviter of the binding in force at ``at`` (the newest binding made at or before it)."""
        binding = self.binding_at(at)
        return binding.inviter_id if binding is not None else None

    def binding_at(self, at: datetime) -> BindingModel | None:
        at_key = key(at)
        current = None
        for binding in self.bindings:
            if binding.bound_at <= at_key:
                current = binding
        return current

    def explicit_status_at(self, at: datetime) -> bool | None:
        """The newest grant/revocation at or before ``at``; None when there is none."""
        at_key = key(at)
        status = None
        for change in self.changes:
            if change.at <= at_key:
                status = change.active
        return status

    def came_into_being(self) -> str | None:
        """When the member was first referenced (the earliest of its items), None when never."""
        known = [self.meta.created_at] if self.meta is not None and self.meta.created_at else []
        known += [b.bound_at for b in self.bindings[:1]] + [c.at for c in self.changes[:1]]
        return min(known) if known else None


def load_member(shop_id: str, member_id: str, consistent: bool = True) -> MemberRecord:
    """The member's partition: one Query."""
    meta = None
    bindings: list[BindingModel] = []
    changes: list[DistributorChangeModel] = []
    for item in MemberItem.query(member_key(shop_id, member_id), consistent_read=consistent):
        if isinstance(item, MemberModel):
            meta = item
        elif isinstance(item, BindingModel):
            bindings.append(item)
        elif isinstance(item, DistributorChangeModel):
            changes.append(item)
    bindings.sort(key=lambda b: b.bound_at)
    changes.sort(key=lambda c: c.at)
    return MemberRecord(shop_id, member_id, meta, bindings, changes)


def load_meta(shop_id: str, member_id: str) -> MemberModel | None:
    """The member's META item (a consistent GetItem); None when the member is not known to the shop."""
    try:
        return MemberModel.get(member_key(shop_id, member_id), MemberModel.SK, consistent_read=True)
    except MemberModel.DoesNotExist:
        return None


def load_binding(shop_id: str, member_id: str, bound_at: str) -> BindingModel | None:
    """The member's binding made at ``bound_at`` (a consistent GetItem), None when there is none."""
    try:
        item = BindingModel.get(member_key(shop_id, member_id), binding_sk(bound_at), consistent_read=True)
    except BindingModel.DoesNotExist:
        return None
    return item if isinstance(item, BindingModel) else None


@dataclass(frozen=True)
class MembersPage:
    member_ids: list[str]
    more: bool  # the index holds more members after the last of ``member_ids``


def members_page(shop_id: str, after: str | None, limit: int) -> MembersPage:
    """Up to ``limit`` of the shop's members in member id order, after the member ``after`` (MembersByShop)."""
    query_args: dict[str, Any] = {"limit": limit}
    if after:
        query_args["last_evaluated_key"] = {
            "shop_id": {"S": shop_id},
            "member_id": {"S": after},
            "member_key": {"S": member_key(shop_id, after)},
            "sk": {"S": MemberModel.SK},
        }
    result = MemberModel.members_by_shop.query(shop_id, **query_args)
    member_ids = [str(getattr(item, "member_id", "")) for item in result]
    return MembersPage(member_ids, bool(result.last_evaluated_key))


# ---------------------------------------------------------------- fans (FansByInviter, FansByGrandInviter)


def fans_scope(shop_id: str, member_id: str, level: int) -> dict[str, str]:
    """What the last key of a page of the member's fans at ``level`` holds (a cursor is checked against it)."""
    return {"fan_of" if level == 1 else "fan_of2": member_key(shop_id, member_id)}


@dataclass(frozen=True)
class Fan:
    member_id: str
    bound_at: str
    fan_of2: str | None  # projected by FansByInviter only


def fans_page(
    shop_id: str, member_id: str, level: int, start: dict[str, Any] | None, limit: int
) -> tuple[list[Fan], dict[str, Any] | None]:
    """One page of the member's current fans at ``level`` (1 or 2), newest binding first, and the key to go
    on from (None: the end). One Query of one index."""
    index = MemberModel.fans_by_inviter if level == 1 else MemberModel.fans_by_grand_inviter
    result = index.query(
        member_key(shop_id, member_id), scan_index_forward=False, limit=limit, last_evaluated_key=start
    )
    fans = [
        Fan(
            str(getattr(item, "member_id", "")),
            str(getattr(item, "bound_at", "")),
            getattr(item, "fan_of2", None),
        )
        for item in result
    ]
    return fans, result.last_evaluated_key


def fan_links(shop_id: str, inviter_id: str, grand_inviter_id: str | None) -> list[Any]:
    """The actions that list a member who binds to ``inviter_id`` among its fans (and its inviter's)."""
    actions = [MemberModel.fan_of.set(member_key(shop_id, inviter_id))]
    if grand_inviter_id:
        actions.append(MemberModel.fan_of2.set(member_key(shop_id, grand_inviter_id)))
    else:
        actions.append(MemberModel.fan_of2.remove())
    return actions


def relink_fan(shop_id: str, fan_id: str, inviter_id: str, grand_inviter_id: str | None) -> bool:
    """Point the level-2 link of ``fan_id`` at ``grand_inviter_id`` while it is still a fan of
    ``inviter_id``; False (nothing written) when it no longer is."""
    link = (
        MemberModel.fan_of2.set(member_key(shop_id, grand_inviter_id))
        if grand_inviter_id
        else MemberModel.fan_of2.remove()
    )
    try:
        MemberModel(member_key(shop_id, fan_id), MemberModel.SK).update(
            actions=[link], condition=MemberModel.fan_of == member_key(shop_id, inviter_id)
        )
    except UpdateError as exc:
        if not condition_failed(exc):
            raise
        return False
    return True


# ---------------------------------------------------------------- once-only writes (for a unit of work)


def new_binding(
    shop_id: str, member_id: str, inviter_id: str, bound_at: str
) -> tuple[BindingModel, Condition]:
    """A binding item and its condition: written once."""
    item = BindingModel(
        member_key(shop_id, member_id), binding_sk(bound_at), inviter_id=inviter_id, bound_at=bound_at
    )
    return item, BindingModel.sk.does_not_exist()


def binding_replaced(
    shop_id: str, member_id: str, binding: BindingModel, replaced_at: str
) -> tuple[BindingModel, list[Any], Condition]:
    """The update marking ``binding`` replaced at ``replaced_at``, once."""
    item = BindingModel(member_key(shop_id, member_id), binding.sk)
    return item, [BindingModel.replaced_at.set(replaced_at)], BindingModel.replaced_at.does_not_exist()


def new_distributor_change(
    shop_id: str, member_id: str, active: bool, at: str, cause: str
) -> tuple[DistributorChangeModel, Condition]:
    """A grant (``active``) or revocation item and its condition: written once."""
    item = DistributorChangeModel(
        member_key(shop_id, member_id), distributor_sk(at), active=active, at=at, cause=cause
    )
    return item, DistributorChangeModel.sk.does_not_exist()


def load_payee(shop_id: str, member_id: str, appid: str) -> PayeeModel | None:
    """The openid pinned for the member's withdrawals of ``appid`` (a consistent GetItem), None before any."""
    try:
        item = PayeeModel.get(member_key(shop_id, member_id), payee_sk(appid), consistent_read=True)
    except PayeeModel.DoesNotExist:
        return None
    return item if isinstance(item, PayeeModel) else None


def payee_pin(
    shop_id: str, member_id: str, appid: str, openid: str, pinned_at: str, withdrawal_id: str
) -> PayeeModel:
    """The pin item naming ``openid`` (saved by a unit of work with ``payee_unchanged``)."""
    return PayeeModel(
        member_key(shop_id, member_id),
        payee_sk(appid),
        openid=openid,
        pinned_at=pinned_at,
        withdrawal_id=withdrawal_id,
    )


def payee_kept(seen: PayeeModel) -> list[Any]:
    """Update actions that change nothing of the pin (it is only checked, inside the transaction)."""
    return [PayeeModel.openid.set(seen.openid)]


def payee_unchanged(seen: PayeeModel | None) -> Condition:
    """The pin is still as it was read: absent, or naming the same openid (a concurrent pin fails it)."""
    if seen is None:
        return PayeeModel.sk.does_not_exist()
    return PayeeModel.openid == seen.openid


# ---------------------------------------------------------------- scenes and code claims (SPEC §9)


class ScenePointerModel(MemberItem, discriminator="scene"):
    """sk = SCENE#{purpose} in the member's partition: the member's scene for that purpose, forever."""

    scene = UnicodeAttribute()


class SceneLookupModel(MemberItem, discriminator="scene_lookup"):
    """member_key = {shop}#SCENE#{scene}, sk = SCENE: whose scene it is. It has no ``shop_id``, so the
    MembersByShop index never sees it; member ids hold no ``#``, so the key meets no member partition."""

    SK: ClassVar[str] = "SCENE"

    member_id = UnicodeAttribute()
    purpose = UnicodeAttribute()


class CodeClaimModel(MemberItem, discriminator="code_claim"):
    """sk = CODE#{purpose}#{hash} in the member's partition: one request's claim to fetch (or render) the
    image of that hash until ``claimed_until`` (unix s); the image itself is the S3 object of the hash."""

    claimed_until = NumberAttribute()


def scene_pointer_sk(purpose: str) -> str:
    return f"SCENE#{purpose}"


def scene_lookup_key(shop_id: str, scene: str) -> str:
    return f"{shop_id}#SCENE#{scene}"


def scene_of(shop_id: str, member_id: str, purpose: str) -> str | None:
    """The member's scene for ``purpose`` (a consistent GetItem), None before the first request."""
    try:
        item = ScenePointerModel.get(
            member_key(shop_id, member_id), scene_pointer_sk(purpose), consistent_read=True
        )
    except ScenePointerModel.DoesNotExist:
        return None
    return str(item.scene) if isinstance(item, ScenePointerModel) else None


def scene_owner(shop_id: str, scene: str) -> tuple[str, str] | None:
    """(member_id, purpose) of ``scene``; None when the shop has no such scene."""
    try:
        item = SceneLookupModel.get(scene_lookup_key(shop_id, scene), SceneLookupModel.SK)
    except SceneLookupModel.DoesNotExist:
        return None
    return (str(item.member_id), str(item.purpose)) if isinstance(item, SceneLookupModel) else None


def create_scene(shop_id: str, member_id: str, purpose: str, scene: str) -> bool:
    """The pointer and the lookup of a new scene in one transaction, each only if absent; False (nothing
    written) when the member got a scene for ``purpose`` first, or ``scene`` is taken."""
    from pynamodb.exceptions import TransactWriteError
    from pynamodb.transactions import TransactWrite

    pointer = ScenePointerModel(member_key(shop_id, member_id), scene_pointer_sk(purpose), scene=scene)
    lookup = SceneLookupModel(
        scene_lookup_key(shop_id, scene), SceneLookupModel.SK, member_id=member_id, purpose=purpose
    )
    try:
        with TransactWrite(connection=MemberItem._get_connection().connection) as tx:
            tx.save(pointer, condition=MemberItem.sk.does_not_exist())
            tx.save(lookup, condition=MemberItem.sk.does_not_exist())
    except TransactWriteError as exc:
        if not transaction_cancelled(exc):
            raise
        return False
    return True


def claim_code(shop_id: str, member_id: str, sk: str, now_unix: float, seconds: float) -> bool:
    """Claim the making of the image ``sk`` for ``seconds``, unless another claim still stands."""
    item = CodeClaimModel(member_key(shop_id, member_id), sk, claimed_until=now_unix + seconds)
    return written(
        lambda: item.save(
            condition=MemberItem.sk.does_not_exist() | (CodeClaimModel.claimed_until < now_unix)
        )
    )


def release_code_claim(shop_id: str, member_id: str, sk: str) -> None:
    """Drop a claim once its image is stored or its making failed (the next request then tries at once)."""
    CodeClaimModel(member_key(shop_id, member_id), sk).delete()


# ---------------------------------------------------------------- a page of members at once (summary rebuild)


def load_metas(shop_id: str, member_ids: list[str]) -> list[MemberModel]:
    """The META items of up to 100 members (one consistent BatchGetItem); unknown ones are left out."""
    keys = [(member_key(shop_id, m), MemberModel.SK) for m in member_ids]
    return [
        item for item in MemberModel.batch_get(keys, consistent_read=True) if isinstance(item, MemberModel)
    ]


# ---------------------------------------------------------------- the shop's eligibility modes over time


# Last, after every subclass: the tables this module's models are stored in.
bind(MemberItem, "members_table")
