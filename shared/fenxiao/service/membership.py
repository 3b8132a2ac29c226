"""Membership (SPEC §6, 会员等级体系): growth events and levels.

A member's growth is the sum of its growth ledger entries; ``MemberModel.growth`` is that sum kept in the
same transaction as every entry (the audit job re-adds them). Each event that may happen once has a
business key, which is the ledger entry's key, written with ``attribute_not_exists``:

- ``GROWTH#REVIEW#{review_id}``  an approved review, once per review id;
- ``GROWTH#SIGNIN#{YYYY-MM-DD}`` a sign-in, once per Asia/Shanghai day of the request's time;
- ``GROWTH#PROFILE``             completing the profile, once;
- ``GROWTH#ORDER#{order}#{n}``   an order's growth and its corrections (written by service/reconcile.py).

A repeat fails that condition and is answered "not applied": no read-then-write, so two requests at once
apply exactly once. Levels are never stored: ``level_view`` derives them from the growth and the level
table in force at the time asked, so a new level table re-levels every member on its next read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fenxiao.adapters import members as members_table
from fenxiao.adapters.members import MemberModel
from fenxiao.adapters.shops import DISTRIBUTION, MEMBERSHIP, config_key, docs_at
from fenxiao.adapters.unit_of_work import UnitOfWork, WriteConflict
from fenxiao.domain.errors import Conflict, InvalidInput, NotFound
from fenxiao.domain.growth import Level, level_for
from fenxiao.domain.ids import is_id
from fenxiao.domain.ledger import Movement
from fenxiao.domain.money import BP_SCALE
from fenxiao.observability import count
from fenxiao.schemas.rules import DistributionRules, MembershipSettings
from fenxiao.service import settings
from fenxiao.timefmt import SHANGHAI


@dataclass(frozen=True)
class GrowthEvent:
    """One growth event resolved to its once-only business key."""

    type: str  # review | signin | profile
    ref: str | None  # the review id, the sign-in day (YYYY-MM-DD, Asia/Shanghai), None for the profile
    entry_key: str
    kind: str  # the ledger entry's kind: growth_review | growth_signin | growth_profile


def resolve_event(event_type: str, ref: str | None, signed_at: datetime) -> GrowthEvent:
    """The business key of an event. ``ref`` names the review (required, a mall id); it is ignored for a
    sign-in (the day is the Asia/Shanghai day the request was signed on, SPEC §10: a replay after midnight
    earns nothing) and for the profile (once per member)."""
    if event_type == "review":
        if ref is None:
            raise InvalidInput(
                "ref: field required for a review (the review id)", code="missing_field", field="ref"
            )
        if not is_id(ref):
            raise InvalidInput(
                "ref: a review id is 1-64 characters of A-Z a-z 0-9 _ . : -",
                code="invalid_field",
                field="ref",
            )
        return GrowthEvent("review", ref, members_table.growth_review_key(ref), "growth_review")
    if event_type == "signin":
        day = signed_at.astimezone(SHANGHAI).date().isoformat()
        return GrowthEvent("signin", day, members_table.growth_signin_key(day), "growth_signin")
    if event_type == "profile":
        return GrowthEvent("profile", None, members_table.GROWTH_PROFILE_KEY, "growth_profile")
    raise InvalidInput("type: must be review, signin or profile", code="invalid_field", field="type")


def _amount(event_type: str, shop_id: str, now: datetime) -> tuple[int, str]:
    """The event's growth, and the eligibility mode in force (a member the event creates under mode none is
    counted a distributor): both settings in one BatchGetItem."""
    membership_key, distribution_key = config_key(shop_id, MEMBERSHIP), config_key(shop_id, DISTRIBUTION)
    docs = docs_at([membership_key, distribution_key], now)
    membership = MembershipSettings.model_validate(docs[membership_key] or {})
    mode = DistributionRules.of(docs[distribution_key]).eligibility.mode
    amounts = {
        "review": membership.review_growth,
        "signin": membership.signin_growth,
        "profile": membership.profile_growth,
    }
    return int(amounts[event_type]), mode


def record_growth_event(
    shop_id: str,
    member_id: str,
    event_type: str,
    ref: str | None,
    now: datetime,
    signed_at: datetime | None = None,
) -> dict[str, Any]:
    """Apply a growth event once. The amount is the shop's setting in force at ``now``; a sign-in counts on
    the day of ``signed_at`` (the request's X-Timestamp; ``now`` when not signed). A repeat changes nothing
    and answers ``applied: false``. An amount of 0 still records the event (so it stays once-only if the
    shop raises the amount later) and makes the member exist."""
    event = resolve_event(event_type, ref, now if signed_at is None else signed_at)
    amount, mode = _amount(event.type, shop_id, now)
    applied = _apply(shop_id, member_id, event, amount, now, mode)
    count("growth_event_applied" if applied else "growth_event_repeated", kind=event.type)
    growth = _stored_growth(shop_id, member_id)
    return {
        "member_id": member_id,
        "type": event.type,
        "ref": event.ref,
        "applied": applied,
        "added": amount if applied else 0,
        "growth": growth,
        **level_view(shop_id, growth, now),
    }


def _apply(shop_id: str, member_id: str, event: GrowthEvent, amount: int, now: datetime, mode: str) -> bool:
    """Write the entry and the member's growth in one transaction (busy items are retried by the unit of
    work). False when the entry already exists."""
    uow = UnitOfWork(now)
    uow.eligibility(shop_id, mode)
    uow.move(Movement(shop_id, member_id, event.entry_key, event.kind, ref=event.ref, growth=amount))
    if amount == 0:
        # No delta to apply: a no-op update still makes the member exist (init_member_actions).
        uow.member(shop_id, member_id, actions=[MemberModel.growth.set(MemberModel.growth | 0)])
    try:
        uow.commit()
        return True
    except WriteConflict as exc:
        if f"ledger:{event.entry_key}" in exc.failed():
            return False
        raise Conflict(
            "the member changed concurrently; retry the request", code="concurrent_change"
        ) from None


def _stored_growth(shop_id: str, member_id: str) -> int:
    member = members_table.load_meta(shop_id, member_id)
    if member is None:
        raise NotFound(f"member {member_id} is not known to this shop", code="member_not_found")
    return int(member.growth or 0)


# ---------------------------------------------------------------- levels


def levels_at(shop_id: str, at: datetime) -> list[Level]:
    """The shop's level table in force at ``at`` (empty: no levels)."""
    return [
        Level(level=lv.level, name=lv.name, growth_required=lv.growth_required, discount_bp=lv.discount_bp)
        for lv in settings.membership_at(shop_id, at).levels
    ]


def level_view(shop_id: str, growth: int, at: datetime) -> dict[str, Any]:
    """``{"level", "level_name", "discount_bp"}`` for ``growth`` under the level table in force at ``at``:
    the highest level whose ``growth_required`` is at most ``growth``; below every level, or with no levels
    defined, ``level`` and ``level_name`` are None and ``discount_bp`` is 10000 (full price)."""
    reached = level_for(growth, levels_at(shop_id, at))
    if reached is None:
        return {"level": None, "level_name": None, "discount_bp": BP_SCALE}
    return {"level": reached.level, "level_name": reached.name, "discount_bp": reached.discount_bp}
