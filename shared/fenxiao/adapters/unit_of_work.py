"""One DynamoDB transaction across the tables: the ledger and the balances derived from it, with the
business items of one use case.

Every change of money (or growth) is a ``Movement``: a ledger entry with a unique business key (written
with ``attribute_not_exists``, so it happens once) and the same deltas applied to the member's META item.
A ``UnitOfWork`` gathers the movements and any other writes of one use case and commits them as one
TransactWriteItems: they all happen, or none does. Balances can never go negative: every bucket a
transaction lowers carries the condition ``bucket >= amount``.

Buckets: ``frozen_fen``, ``available_fen``, ``withdrawing_fen``, ``withdrawn_fen`` (money, fen) and
``growth`` (membership growth value). The audit job re-adds every member's entries and compares.
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

from fenxiao.adapters.ledger import LedgerEntryModel, account
from fenxiao.adapters.members import MemberModel
from fenxiao.domain.ledger import Movement
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


class UnitOfWork:
    """Collects the writes of one use case; ``commit()`` applies them in one transaction."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self._members: dict[tuple[str, str], _MemberChange] = {}
        self._ops: list[tuple[str, str, Any, dict[str, Any]]] = []  # (label, op, model, kwargs)
        self._entries: list[tuple[str, LedgerEntryModel]] = []

    # ------------------------------------------------------------ building

    def move(self, movement: Movement) -> None:
        change = self._member(movement.shop_id, movement.member_id)
        change.moved = True
        for bucket, delta in movement.deltas().items():
            change.deltas[bucket] += delta
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
        return len(self._members) + len(self._ops) + len(self._entries)

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
        for attempt in range(BUSY_ATTEMPTS):
            try:
                self._commit_once()
                return
            except WriteConflict as exc:
                if not exc.busy() or attempt == BUSY_ATTEMPTS - 1:
                    raise
                time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))

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
                    if not change.actions and not any(change.deltas.values()) and not change.moved:
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
        except TransactWriteError as exc:
            reasons = [r.code if r is not None else None for r in (exc.cancellation_reasons or [])]
            if reasons:
                raise WriteConflict(reasons, labels) from exc
            raise

    def _member_update(
        self, shop_id: str, member_id: str, change: _MemberChange
    ) -> tuple[list[Any], Condition | None]:
        actions = init_member_actions(shop_id, member_id, self.now)
        condition: Condition | None = None
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
