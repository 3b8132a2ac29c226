"""Members: bindings to inviters, distributor status, fan counters and the member view.

A member's partition (MembersTable, ``{shop}#{member}``) holds its META item (current state, balances,
counters), every binding it ever had (``BIND#{t}``, replaced ones included) and every grant or revocation of
distributor status (``DIST#{t}``). One Query of the partition answers "who was the inviter at t" and
"was this member a distributor at t", which is what a payment at t is attributed by. Distributor status at
t is the latest of the grants/revocations and the moments mode ``none`` made the member one (once a
distributor, always one, unless the shop revokes it); when the member's own items do not settle it, the
shop's eligibility modes up to t are read too (``eligibility_modes`` below).

Fan counters (``fans_level1``, ``fans_level2``) are maintained at binding time in the same transaction as
the binding, never counted by a query.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fenxiao import clock
from fenxiao.adapters import members as members_table
from fenxiao.adapters import shops as shops_table
from fenxiao.adapters.dynamo import version_is
from fenxiao.adapters.members import MemberModel, MemberRecord, load_member
from fenxiao.adapters.unit_of_work import UnitOfWork, WriteConflict
from fenxiao.bootstrap import Container, container
from fenxiao.domain.eligibility import ModesSeen, distributor_at
from fenxiao.domain.errors import Conflict, NotFound, RuleViolation
from fenxiao.schemas.rules import DistributionRules
from fenxiao.service import settings
from fenxiao.service.membership import level_view
from fenxiao.timefmt import from_key, key, rfc3339_from_key

MAX_CHAIN = 60  # the longest inviter chain walked for the cycle check (each step is one read)


# ---------------------------------------------------------------- binding


@dataclass(frozen=True)
class BindResult:
    created: bool
    replaced: str | None  # the previous inviter, when this binding replaced one
    bound_at: datetime


BIND_ATTEMPTS = 4  # reads that a concurrent binding made stale are read again this many times


class _StaleRead(Exception):
    """A condition of the binding's transaction failed: what was read changed; read again."""


def bind(c: Container, shop_id: str, member_id: str, inviter_id: str, now: datetime) -> BindResult:
    """Bind ``member_id`` to ``inviter_id`` (SPEC §2). Idempotent for the same pair.

    Everything the transaction's fan-counter deltas were computed from is guarded in it (see ``_bind_once``);
    when a concurrent binding changed any of it, the whole decision is read and made again. The binding
    message (leaderboard scoring) is sent after the commit, and again on every same-pair repeat, so a send
    lost to a failure between the commit and the send is made good by the mall's retry (scoring is exactly
    once through its marker, whatever the number of messages).
    """
    dist = settings.distribution_at(shop_id, now)
    if not dist.enabled:
        raise RuleViolation("distribution is switched off for this shop", code="distribution_disabled")
    if member_id == inviter_id:
        raise RuleViolation("a member cannot invite themselves", code="self_binding", field="inviter_id")
    for _ in range(BIND_ATTEMPTS):
        try:
            result = _bind_once(shop_id, member_id, inviter_id, now, dist)
        except _StaleRead:
            continue
        c.queues.send(
            "binding", {"shop_id": shop_id, "member_id": member_id, "bound_at": key(result.bound_at)}
        )
        return result
    raise Conflict("the binding changed concurrently; retry the request", code="concurrent_change")


def _bind_once(
    shop_id: str, member_id: str, inviter_id: str, now: datetime, dist: DistributionRules
) -> BindResult:
    """One read-decide-write round of ``bind``; raises ``_StaleRead`` when a guard failed.

    Guards (conditions in the one transaction): the member's ``binding_version`` and ``fans_level1`` (its
    level-1 fans move as level-2 fans), the ``binding_version`` of every member on the new inviter's chain
    (cycle check, grand-inviter) and of the old inviter (whose inviter loses a level-2 fan).
    """
    member = load_member(shop_id, member_id)
    newest = member.bindings[-1] if member.bindings else None
    if newest is not None and newest.bound_at > key(now):
        # A concurrent request (its clock later than ours) bound the member after we started.
        if newest.inviter_id == inviter_id:
            return BindResult(created=False, replaced=None, bound_at=from_key(newest.bound_at))
        raise Conflict("the binding changed concurrently; retry the request", code="concurrent_change")
    current = member.inviter_at(now)  # the newest binding: the fan counters' current state
    if current == inviter_id:
        binding = member.binding_at(now)
        assert binding is not None
        return BindResult(created=False, replaced=None, bound_at=from_key(binding.bound_at))
    inviter = load_member(shop_id, inviter_id)
    if not is_distributor_at(inviter, now, dist.eligibility.mode):
        raise RuleViolation(
            f"{inviter_id} is not a distributor of this shop", code="not_a_distributor", field="inviter_id"
        )
    if current is not None:
        binding = member.binding_at(now)
        assert binding is not None
        mode = dist.binding.mode
        if mode == "permanent":
            raise Conflict(f"{member_id} is already bound to another inviter", code="already_bound")
        if mode == "protection":
            protected_until = from_key(binding.bound_at) + timedelta(days=dist.binding.protection_days)
            if now < protected_until:
                raise Conflict(
                    f"{member_id} is protected for its current inviter until {rfc3339_from_key(key(protected_until))}",
                    code="binding_protected",
                )
    uow = UnitOfWork(now)
    uow.eligibility(shop_id, dist.eligibility.mode)
    uow.known(shop_id, member_id, member.meta is not None)
    chain = _check_no_cycle(shop_id, member_id, inviter, uow)
    grand_inviter = chain[1] if len(chain) > 1 else None
    member_fans = int(member.meta.fans_level1 or 0) if member.meta else 0
    version = int(member.meta.binding_version or 0) if member.meta else 0
    bound_at = key(now)

    binding, once = members_table.new_binding(shop_id, member_id, inviter_id, bound_at)
    uow.save("binding", binding, condition=once)
    uow.member(
        shop_id,
        member_id,
        actions=[
            MemberModel.inviter_id.set(inviter_id),
            MemberModel.bound_at.set(bound_at),
            MemberModel.binding_version.set(version + 1),
            *members_table.fan_links(shop_id, inviter_id, grand_inviter),
        ],
        # The member's level-1 fans are counted into its old and new inviters' level 2: guard the count.
        condition=version_is(MemberModel.binding_version, version)
        & version_is(MemberModel.fans_level1, member_fans),
    )
    # One (level1, level2) delta per member, summed: a member reached twice (the old and the new inviter
    # share their inviter, or the new inviter is the old one's inviter) gets one ADD per counter, as
    # DynamoDB requires of one update expression.
    deltas: dict[str, list[int]] = {}

    def fan(who: str, level1: int = 0, level2: int = 0) -> None:
        delta = deltas.setdefault(who, [0, 0])
        delta[0] += level1
        delta[1] += level2

    fan(inviter_id, level1=1, level2=member_fans)
    if grand_inviter:
        fan(grand_inviter, level2=1)
    if current is not None:
        old = member.binding_at(now)
        assert old is not None
        uow.update("replaced", *members_table.binding_replaced(shop_id, member_id, old, bound_at))
        fan(current, level1=-1, level2=-member_fans)
        old_inviter = load_member(shop_id, current)
        old_meta = old_inviter.meta
        uow.known(shop_id, current, old_meta is not None)
        old_version = int(old_meta.binding_version or 0) if old_meta else 0
        # Its current inviter (the counters' state, whatever the binding times) loses a level-2 fan:
        # guard that it is still the one.
        uow.member(shop_id, current, condition=version_is(MemberModel.binding_version, old_version))
        old_parent = old_meta.inviter_id if old_meta else None
        if old_parent:
            fan(old_parent, level2=-1)
    for who, (level1, level2) in deltas.items():
        _fans(uow, shop_id, who, level1=level1, level2=level2)
    try:
        uow.commit()
    except WriteConflict as exc:
        if exc.failed():
            raise _StaleRead from exc
        if exc.busy():  # still busy after the unit of work's own retries
            raise Conflict(
                "the binding changed concurrently; retry the request", code="concurrent_change"
            ) from None
        raise
    return BindResult(created=True, replaced=current, bound_at=now)


def _fans(uow: UnitOfWork, shop_id: str, member_id: str, level1: int = 0, level2: int = 0) -> None:
    actions = []
    if level1:
        actions.append(MemberModel.fans_level1.add(level1))
    if level2:
        actions.append(MemberModel.fans_level2.add(level2))
    if actions:
        uow.member(shop_id, member_id, actions=actions)


def _check_no_cycle(shop_id: str, member_id: str, inviter: MemberRecord, uow: UnitOfWork) -> list[str]:
    """Walk up from the inviter through the bindings in force; meeting the member would close a cycle.

    Each walked member's ``binding_version`` is checked again inside the transaction, so two concurrent
    bindings cannot together create a cycle. A chain longer than ``MAX_CHAIN`` above the member is refused
    (422 ``chain_too_deep``): it could not be checked for a cycle. Returns the chain above the member
    (inviter first).
    """
    chain: list[str] = []
    record: MemberRecord | None = inviter
    while record is not None:
        if record.member_id == member_id:
            raise RuleViolation(
                "this binding would create a cycle of inviters", code="binding_cycle", field="inviter_id"
            )
        if len(chain) >= MAX_CHAIN:
            raise RuleViolation(
                f"the inviter's chain of inviters is longer than {MAX_CHAIN}; it cannot be checked for a cycle",
                code="chain_too_deep",
                field="inviter_id",
            )
        chain.append(record.member_id)
        uow.known(shop_id, record.member_id, record.meta is not None)
        version = int(record.meta.binding_version or 0) if record.meta else 0
        # Merged into the member's update when it has one (the inviter's counters), else a condition check.
        uow.member(shop_id, record.member_id, condition=version_is(MemberModel.binding_version, version))
        parent = record.meta.inviter_id if record.meta else None
        record = load_member(shop_id, parent) if parent else None
    return chain


# ---------------------------------------------------------------- level-2 links of a member's fans

RELINK_PAGE = 100  # fans read per Query by the fan-out


def relink_level2_fans(shop_id: str, member_id: str) -> int:
    """After ``member_id`` (re)bound: point its level-1 fans' level-2 link (``fan_of2``) at its inviter now.

    Run by the binding consumer (after the binding's commit), so a level-2 list is eventually consistent:
    one conditional update per fan whose link is not already right (so a repeated message writes nothing),
    each only while the fan is still the member's. The inviter is read now, consistently, so messages
    handled out of order still leave the links of the newest binding. Returns the number of fans relinked.
    """
    meta = members_table.load_meta(shop_id, member_id)
    grand = meta.inviter_id if meta is not None else None
    want = members_table.member_key(shop_id, grand) if grand else None
    relinked = 0
    start: dict[str, Any] | None = None
    while True:
        fans, start = members_table.fans_page(shop_id, member_id, 1, start, RELINK_PAGE)
        for fan in fans:
            if fan.fan_of2 != want and members_table.relink_fan(shop_id, fan.member_id, member_id, grand):
                relinked += 1
        if start is None:
            return relinked


# ---------------------------------------------------------------- distributor status by the shop


def set_distributor(shop_id: str, member_id: str, active: bool, now: datetime, cause: str = "shop") -> bool:
    """Grant or revoke distributor status from ``now`` on. Returns whether anything changed."""
    member = load_member(shop_id, member_id)
    dist = settings.distribution_at(shop_id, now)
    if (
        is_distributor_at(member, now, dist.eligibility.mode) == active
        and member.explicit_status_at(now) is not None
    ):
        return False
    at = key(now)
    uow = UnitOfWork(now)
    change, once = members_table.new_distributor_change(shop_id, member_id, active, at, cause)
    uow.save("distributor", change, condition=once)
    uow.eligibility(shop_id, dist.eligibility.mode)
    uow.known(shop_id, member_id, member.meta is not None)
    # From the counted flag, which equals is_distributor_at except on a member a recount has yet to visit
    # (a switch to mode none): the counter moves by what it counted, never below it.
    uow.distributor(shop_id, member_id, counted(member), active)
    if active:
        uow.member(shop_id, member_id, actions=[MemberModel.distributor_since.set(at)])
    try:
        uow.commit()
    except WriteConflict:
        raise Conflict(
            "the member changed concurrently; retry the request", code="concurrent_change"
        ) from None
    return True


def counted(member: MemberRecord) -> bool:
    """Whether the summary's ``distributors`` counts the member (its ``is_distributor`` flag)."""
    return bool(member.meta.is_distributor) if member.meta else False


RECOUNT_ATTEMPTS = 4  # a member whose flag changed under the recount is read again this many times


def recount(shop_id: str, member_id: str, now: datetime, mode: str) -> int:
    """Make the member's counted flag (and ``distributors``) agree with ``is_distributor_at`` now, ``mode``
    being the mode in force: the change applied (-1, 0, +1). Guarded on the flag as read, so a repeat or a
    concurrent grant/revocation never counts twice (the member is read again)."""
    for _ in range(RECOUNT_ATTEMPTS):
        member = load_member(shop_id, member_id)
        if member.meta is None:
            return 0
        have, want = counted(member), is_distributor_at(member, now, mode)
        if have == want:
            return 0
        uow = UnitOfWork(now)
        uow.known(shop_id, member_id, True)
        uow.distributor(shop_id, member_id, have, want)
        try:
            uow.commit()
        except WriteConflict:
            continue
        return int(want) - int(have)
    raise Conflict("the member changed concurrently; retry", code="concurrent_change")


# ---------------------------------------------------------------- the member view


def member_view(shop_id: str, member_id: str, now: datetime) -> dict[str, Any]:
    member = load_member(shop_id, member_id, consistent=False)
    if member.meta is None:
        raise NotFound(f"member {member_id} is not known to this shop", code="member_not_found")
    meta = member.meta
    dist = settings.distribution_at(shop_id, now)
    growth = int(meta.growth or 0)
    level = level_view(shop_id, growth, now)
    return {
        "member_id": member_id,
        "inviter_id": member.inviter_at(now),
        "bound_at": rfc3339_from_key(meta.bound_at),
        "is_distributor": is_distributor_at(member, now, dist.eligibility.mode),
        "growth": growth,
        **level,
        "fans": {"level1": int(meta.fans_level1 or 0), "level2": int(meta.fans_level2 or 0)},
        "balance": {
            "frozen_fen": int(meta.frozen_fen or 0),
            "available_fen": int(meta.available_fen or 0),
            "withdrawing_fen": int(meta.withdrawing_fen or 0),
            "withdrawn_fen": int(meta.withdrawn_fen or 0),
        },
    }


# ---------------------------------------------------------------- distributor status at a time

INITIAL_MODE = DistributionRules().eligibility.mode  # before the shop's first distribution settings


def is_distributor_at(member: MemberRecord, at: datetime, eligibility_mode: str) -> bool:
    """Distributor at ``at`` (SPEC §2, once one always one unless revoked; ``eligibility.distributor_at``):
    the latest of the grants/revocations and the moments mode ``none`` made the member one.

    ``eligibility_mode`` is the mode in force at ``at`` (the caller has read it): with a grant in force,
    or mode ``none`` and no grant/revocation, the answer needs no more reads. Otherwise the shop's
    eligibility modes up to ``at`` are read (one Query, see ``eligibility_modes``).
    """
    explicit = member.explicit_status_at(at)
    if explicit is True:
        return True  # a later moment by mode none could only say the same
    if explicit is None and eligibility_mode == "none":
        return True  # everyone is one now, this member included
    return distributor_at(
        key(at),
        member.came_into_being(),
        [(c.at, c.active) for c in member.changes],
        eligibility_modes(member.shop_id, at),
        INITIAL_MODE,
    )


FINAL_AFTER = timedelta(minutes=15)  # a version effective this long ago can no longer appear (see below)


def eligibility_modes(shop_id: str, at: datetime) -> list[tuple[str, str]]:
    """``(effective_at, eligibility mode)`` of the shop's distribution versions at or before ``at``, oldest
    first: one Query of ConfigTable (consistent read), or none.

    Versions are immutable and stored with their request's time, so one effective more than ``FINAL_AFTER``
    (Lambda's longest run) before the clock can no longer appear: those are kept per container
    (``Container.eligibility_modes``), and a later call queries only the versions after them (nothing at all
    when ``at`` is that old). A move of the clock override (local stack, tests) drops what was kept.
    """
    at_key = key(at)
    cache = container().eligibility_modes
    offset = clock.offset_seconds()
    seen = cache.get(shop_id, offset)
    if seen is not None and at_key <= seen.final_to:
        return [v for v in seen.versions if v[0] <= at_key]
    final_to = min(at_key, key(clock.now() - FINAL_AFTER))  # read before the Query
    known: list[tuple[str, str]] = [] if seen is None else list(seen.versions)
    after = None if seen is None else seen.final_to
    known += [(at, _mode_of(doc)) for at, doc in shops_table.distribution_versions(shop_id, after, at_key)]
    if seen is None or final_to > seen.final_to:
        cache.keep(shop_id, ModesSeen(offset, final_to, [v for v in known if v[0] <= final_to]))
    return known


def _mode_of(doc: Any) -> str:
    eligibility = doc.get("eligibility") if isinstance(doc, dict) else None
    mode = eligibility.get("mode") if isinstance(eligibility, dict) else None
    return str(mode) if mode else INITIAL_MODE
