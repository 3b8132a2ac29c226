"""One DynamoDB transaction across the tables: the ledger and the balances derived from it, with the
business items of one use case.

Every change of money (or growth) is a ``Movement``: a ledger entry with a unique business key (written
with ``attribute_not_exists``, so it happens once) and the same deltas applied to the member's META item.
A ``UnitOfWork`` gathers the movements and any other writes of one use case and commits them as one
TransactWriteItems: they all happen, or none does. Balances can never go negative: every bucket a
transaction lowers carries the condition ``bucket >= amount``.

Buckets: ``frozen_fen``, ``available_fen``, ``withdrawing_fen``, ``withdrawn_fen`` (money, fen) and
``growth`` (membership growth value). The audit job re-adds every member's entries and compares.

The shop summary's counters (``adapters.summary``) ride in the same transaction: the money buckets from the
movements, a member's creation from its META update (made conditional on the member being new or not), and
the other facts through ``count``; one ADD on one shard per shop per transaction.

``distributors`` counts the members whose ``is_distributor`` flag is set: the flag is the member's distributor
status as the counter counts it, moved only with the counter. A member created while mode ``none`` is in force
(``eligibility``) is created with it; a grant or revocation moves it (``distributor``); a switch to mode
``none`` is applied to existing members by the ``distributor-recount`` job (``service.members.recount``).
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from fenxiao.adapters import summary
from fenxiao.adapters.ledger import LedgerEntryModel, account
from fenxiao.adapters.members import MemberModel
from fenxiao.adapters.shops import DISTRIBUTION, config_key, docs_at
from fenxiao.domain.ledger import Movement
from fenxiao.schemas.rules import DistributionRules
from fenxiao.timefmt import key

MAX_ITEMS = 100  # DynamoDB's limit on one transaction


TRANSIENT_REASONS = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"})
BUSY_ATTEMPTS = 5  # commits cancelled only because the items were busy


class WriteConflict(Exception):
    """The transaction was cancelled: a condition failed (a concurrent or repeated change) or a conflict.

    ``reasons`` holds DynamoDB's cancellation reason code per item, in the order the items were added.
    """

    def __init__(self, reasons: list[str | None], labels: list[str]) -> None:
        super().__init__(f"transaction cancelled: {list(zip(labels, reasons, strict=False))}")
        self.reasons = reasons
        self.labels = labels

    def busy(self) -> bool:
        """Cancelled only because the items were busy (another transaction in flight on them, or
        throttling): no condition failed, so the same transaction may simply be tried again."""
        codes = {r for r in self.reasons if r not in (None, "None")}
        return bool(codes) and codes <= TRANSIENT_REASONS

    def failed(self) -> list[str]:
        """Labels of the items whose condition failed."""
        return [
            label
            for label, reason in zip(self.labels, self.reasons, strict=False)
            if reason == "ConditionalCheckFailed"
        ]


@dataclass
class _MemberChange:
    deltas: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    actions: list[Any] = field(default_factory=list)
    conditions: list[Condition] = field(default_factory=list)
    moved: bool = False  # a ledger entry of this member is in the transaction (even if its deltas net to 0)
    exists: bool | None = None  # whether its META item exists (None: not known yet; read before the commit)
    distributor: tuple[bool, bool] | None = None  # the counted flag: (as read, as set), see ``distributor``


class UnitOfWork:
    """Collects the writes of one use case; ``commit()`` applies them in one transaction."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self._members: dict[tuple[str, str], _MemberChange] = {}
        self._ops: list[tuple[str, str, Any, dict[str, Any]]] = []  # (label, op, model, kwargs)
        self._entries: list[tuple[str, LedgerEntryModel]] = []
        self._counts: dict[str, dict[str, int]] = {}  # shop -> summary counter -> delta
        self._shard_keys: dict[str, str] = {}  # shop -> the key its counter shard is chosen by
        self._modes: dict[str, str] = {}  # shop -> eligibility mode in force at ``now`` (see ``eligibility``)

    # ------------------------------------------------------------ building

    def move(self, movement: Movement) -> None:
        change = self._member(movement.shop_id, movement.member_id)
        change.moved = True
        for bucket, delta in movement.deltas().items():
            change.deltas[bucket] += delta
            if bucket in summary.MONEY:
                self.count(movement.shop_id, bucket, delta, movement.entry_key)
        entry = LedgerEntryModel(
            account(movement.shop_id, movement.member_id),
            movement.entry_key,
            kind=movement.kind,
            ref=movement.ref,
            at=key(self.now),
            **movement.deltas(),  # type: ignore[arg-type]
        )
        self._entries.append((f"ledger:{movement.entry_key}", entry))

    def member(
        self,
        shop_id: str,
        member_id: str,
        actions: list[Any] | None = None,
        condition: Condition | None = None,
    ) -> None:
        """Extra actions/conditions on a member's META item (merged into its single update)."""
        change = self._member(shop_id, member_id)
        change.actions.extend(actions or [])
        if condition is not None:
            change.conditions.append(condition)

    def known(self, shop_id: str, member_id: str, exists: bool) -> None:
        """The caller read the member: whether its META item exists (saves the read before the commit)."""
        self._member(shop_id, member_id).exists = exists

    def count(self, shop_id: str, counter: str, delta: int, key: str) -> None:
        """Change a summary counter with this transaction; ``key`` (the fact's own key) picks the shard."""
        self._counts.setdefault(shop_id, defaultdict(int))[counter] += delta
        self._shard_keys.setdefault(shop_id, key)

    def eligibility(self, shop_id: str, mode: str) -> None:
        """The shop's eligibility mode in force at ``now``, which the caller has read: a member this
        transaction creates under mode ``none`` is created a distributor (read at the commit when not given)."""
        self._modes[shop_id] = mode

    def distributor(self, shop_id: str, member_id: str, was: bool, active: bool) -> None:
        """The member's counted ``is_distributor`` flag goes from ``was`` (as read; guarded) to ``active``,
        and ``distributors`` with it. A member the transaction creates starts from what its creation counts."""
        self._member(shop_id, member_id).distributor = (was, active)

    def save(self, label: str, model: Model, condition: Condition | None = None) -> None:
        self._ops.append((label, "save", model, {"condition": condition}))

    def update(
        self, label: str, model: Model, actions: list[Any], condition: Condition | None = None
    ) -> None:
        self._ops.append((label, "update", model, {"actions": actions, "condition": condition}))

    def check(self, label: str, model: Model, condition: Condition) -> None:
        self._ops.append((label, "check", model, {"condition": condition}))

    def delete(self, label: str, model: Model, condition: Condition | None = None) -> None:
        self._ops.append((label, "delete", model, {"condition": condition}))

    def _member(self, shop_id: str, member_id: str) -> _MemberChange:
        return self._members.setdefault((shop_id, member_id), _MemberChange())

    def __len__(self) -> int:
        members = [m for m, c in self._members.items() if c.conditions or self._writes_meta(c)]
        # One counter item per shop touched is reserved, whether or not its deltas end up non-zero.
        shops = set(self._counts) | {shop for shop, _ in members}
        return len(members) + len(self._ops) + len(self._entries) + len(shops)

    @property
    def empty(self) -> bool:
        return len(self) == 0

    # ------------------------------------------------------------ committing

    def commit(self) -> None:
        """Apply everything in one transaction. A cancellation where no condition failed but the items
        were busy (DynamoDB's ``TransactionConflict``: another transaction in flight on the same member,
        e.g. a commission credited while the member binds a fan) is tried again after a short jittered
        pause; the conditions are evaluated afresh each time, so a retry can never apply twice. A failed
        condition is raised at once: it is the caller's answer."""
        if self.empty:
            return
        self._read_existence(self._unknown())
        for attempt in range(BUSY_ATTEMPTS):
            try:
                self._commit_once()
                return
            except WriteConflict as exc:
                if attempt == BUSY_ATTEMPTS - 1:
                    raise
                if self._created_meanwhile(exc):
                    continue  # a member we took for new was created concurrently: count it as existing
                if not exc.busy():
                    raise
                time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))

    def _writes_meta(self, change: _MemberChange) -> bool:
        return (
            bool(change.actions)
            or any(change.deltas.values())
            or change.moved
            or change.distributor is not None
        )

    def _flag(self, shop_id: str, change: _MemberChange) -> tuple[bool | None, int, Condition | None]:
        """The member's counted distributor flag in this attempt: the value to set (None: untouched), the
        ``distributors`` delta and the guard."""
        flag = MemberModel.is_distributor
        if change.exists is False:  # created here: guarded by the creation's own condition
            counted = change.distributor[1] if change.distributor else self._mode(shop_id) == "none"
            return (counted if counted or change.distributor else None), int(counted), None
        if change.distributor is None:
            return None, 0, None
        was, active = change.distributor
        guard = flag == True if was else (flag == False) | flag.does_not_exist()  # noqa: E712
        return active, int(active) - int(was), guard

    def _mode(self, shop_id: str) -> str:
        if shop_id not in self._modes:
            doc = docs_at([config_key(shop_id, DISTRIBUTION)], self.now)[config_key(shop_id, DISTRIBUTION)]
            self._modes[shop_id] = DistributionRules.of(doc).eligibility.mode
        return self._modes[shop_id]

    def _unknown(self) -> list[tuple[str, str]]:
        """Members whose META the transaction updates without knowing whether it exists. A member whose
        bucket it lowers exists (its ``bucket >= amount`` condition needs the item)."""
        return [
            member
            for member, change in self._members.items()
            if change.exists is None
            and self._writes_meta(change)
            and not any(d < 0 for d in change.deltas.values())
        ]

    def _read_existence(self, members: list[tuple[str, str]]) -> None:
        if not members:
            return
        keys = [(account(shop_id, member_id), MemberModel.SK) for shop_id, member_id in members]
        found = {
            item.member_key
            for item in MemberModel.batch_get(
                keys, consistent_read=True, attributes_to_get=["member_key", "sk", "item_type"]
            )
        }
        for shop_id, member_id in members:
            self._members[(shop_id, member_id)].exists = account(shop_id, member_id) in found

    def _created_meanwhile(self, exc: WriteConflict) -> bool:
        failed = set(exc.failed())
        assumed_new = [
            member
            for member, change in self._members.items()
            if change.exists is False and f"member:{member[1]}" in failed
        ]
        if not assumed_new:
            return False
        before = {member: self._members[member].exists for member in assumed_new}
        self._read_existence(assumed_new)
        return any(self._members[member].exists != before[member] for member in assumed_new)

    def _commit_once(self) -> None:
        if len(self) > MAX_ITEMS:
            raise ValueError(f"a transaction holds at most {MAX_ITEMS} items, this one {len(self)}")
        labels: list[str] = []
        try:
            with TransactWrite(connection=_connection()) as tx:
                for label, op, model, kwargs in self._ops:
                    labels.append(label)
                    if op == "save":
                        tx.save(model, condition=kwargs["condition"])
                    elif op == "update":
                        tx.update(model, actions=kwargs["actions"], condition=kwargs["condition"])
                    elif op == "check":
                        tx.condition_check(
                            type(model),
                            model.get_hash_key(),
                            _range_key(model),
                            condition=kwargs["condition"],
                        )
                    else:
                        tx.delete(model, condition=kwargs["condition"])
                for label, entry in self._entries:
                    labels.append(label)
                    tx.save(entry, condition=LedgerEntryModel.entry_key.does_not_exist())
                for (shop_id, member_id), change in self._members.items():
                    labels.append(f"member:{member_id}")
                    target = MemberModel(account(shop_id, member_id), MemberModel.SK)
                    if not self._writes_meta(change):
                        # Only conditions: a check, which writes nothing (no condition at all: nothing to do).
                        condition = _all(change.conditions)
                        if condition is None:
                            labels.pop()
                        else:
                            tx.condition_check(
                                MemberModel, target.member_key, MemberModel.SK, condition=condition
                            )
                        continue
                    actions, condition = self._member_update(shop_id, member_id, change)
                    tx.update(
                        MemberModel(account(shop_id, member_id), MemberModel.SK),
                        actions=actions,
                        condition=condition,
                    )
                for shop_id, deltas in self._counter_deltas().items():
                    labels.append(f"summary:{shop_id}")
                    shard = summary.shard_for(self._shard_keys[shop_id])
                    tx.update(*summary.counter_update(shop_id, shard, deltas))
        except TransactWriteError as exc:
            reasons = [r.code if r is not None else None for r in (exc.cancellation_reasons or [])]
            if reasons:
                raise WriteConflict(reasons, labels) from exc
            raise

    def _counter_deltas(self) -> dict[str, dict[str, int]]:
        """Per shop, the non-zero counter deltas of this attempt (members: the META items it creates)."""
        out: dict[str, dict[str, int]] = {}
        for shop_id, counts in self._counts.items():
            out[shop_id] = {name: delta for name, delta in counts.items() if delta}
        for (shop_id, member_id), change in self._members.items():
            if not self._writes_meta(change):
                continue
            deltas = out.setdefault(shop_id, {})
            if change.exists is False:
                deltas["members"] = deltas.get("members", 0) + 1
            distributors = self._flag(shop_id, change)[1]
            if distributors:
                deltas["distributors"] = deltas.get("distributors", 0) + distributors
            self._shard_keys.setdefault(shop_id, member_id)
        return {shop_id: deltas for shop_id, deltas in out.items() if deltas}

    def _member_update(
        self, shop_id: str, member_id: str, change: _MemberChange
    ) -> tuple[list[Any], Condition | None]:
        actions = init_member_actions(shop_id, member_id, self.now)
        # Counted as new: a concurrent creation fails the transaction and is read again (commit).
        condition: Condition | None = (
            MemberModel.created_at.does_not_exist() if change.exists is False else None
        )
        for bucket, delta in change.deltas.items():
            if delta == 0:
                continue
            attr = getattr(MemberModel, bucket)
            actions.append(attr.add(delta))
            if delta < 0:
                # Never below zero, whatever the concurrency: the transaction fails instead.
                c = attr >= -delta
                condition = c if condition is None else condition & c
        actions.extend(change.actions)
        value, _, guard = self._flag(shop_id, change)
        if value is not None:
            actions.append(MemberModel.is_distributor.set(value))
        if guard is not None:
            condition = guard if condition is None else condition & guard
        for c in change.conditions:
            condition = c if condition is None else condition & c
        return actions, condition


def init_member_actions(shop_id: str, member_id: str, now: datetime) -> list[Any]:
    """Actions that make a member's META item exist (members come into being when first referenced)."""
    return [
        MemberModel.item_type.set(MemberModel.item_type | MemberModel),
        MemberModel.shop_id.set(MemberModel.shop_id | shop_id),
        MemberModel.member_id.set(MemberModel.member_id | member_id),
        MemberModel.created_at.set(MemberModel.created_at | key(now)),
    ]


def _all(conditions: list[Condition]) -> Condition | None:
    combined: Condition | None = None
    for c in conditions:
        combined = c if combined is None else combined & c
    return combined


def _range_key(model: Model) -> Any:
    return model.get_range_key() if hasattr(model, "get_range_key") else None


def _connection() -> Connection:
    # The models' own connection (rebuilt by bind_tables), so transactions reuse its botocore client.
    # PynamoDB exposes no public accessor for a model's connection: this is the one private reach.
    conn: Connection = MemberModel._get_connection().connection
    return conn
