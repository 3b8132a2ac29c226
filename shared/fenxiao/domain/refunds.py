"""Which order lines a set of refunds takes money back from (SPEC §3, refund during the freeze).

Each line's refunded amount is derived from the whole set of refunds at once, never refund by refund,
so the answer depends only on which refunds there are, not on the order in which they arrived.

How one refund is read (decision D-refund-split, docs/decisions-domain.md):

* a refund without a split adds its ``amount_fen`` to the *unsplit pool*;
* a refund with a split sends the split's amounts to the named lines, but never more money than
  WeChat Pay actually refunded (``amount_fen`` is the money fact, the split only says where it went):

  - split sum == ``amount_fen``: the split as registered;
  - split sum < ``amount_fen``: the split as registered, and the difference joins the unsplit pool
    (as if the refund were a split refund of the split sum plus an unsplit refund of the rest);
  - split sum > ``amount_fen``: the split is scaled down to ``amount_fen`` in proportion to its
    amounts (largest remainder, ties to the earlier line in the order's ``lines``).

Then, per line, the split amounts of all refunds are summed and capped at the line's ``paid_fen``; what a
split names beyond a line (or for a line the order does not have) is carried to no other line: it counts
as shipping. The unsplit pool is spread over what the splits left of each line, in proportion to those
amounts, by largest remainder (ties to the earlier line), never more than a line has left; whatever is
beyond all lines is shipping.

Largest remainder has the Alabama paradox (decision D-refund-monotone): adding refunds can lower a line's
refunded amount by one fen (never more), so a recomputed commission may rise by a rounding fen.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from fenxiao.domain.errors import InvalidInput, RuleViolation


@dataclass(frozen=True)
class OrderLine:
    """One line of an order as the mall registered it; ``paid_fen`` is what the buyer paid for it."""

    line_id: str
    product_id: str
    quantity: int
    paid_fen: int


@dataclass(frozen=True)
class Refund:
    """A refund WeChat Pay reported (``REFUND.SUCCESS``), with the mall's line split if it registered one.

    ``split`` maps ``line_id`` to the fen the mall says this refund takes back from that line.
    """

    out_refund_no: str
    amount_fen: int
    success_time: datetime
    split: Mapping[str, int] | None


@dataclass(frozen=True)
class RefundAllocation:
    """Where a set of refunds took the money back from: ``per_line`` (every line of the order, 0 included)
    plus ``shipping_fen``; together they add up to the refunds' total ``amount_fen``."""

    per_line: dict[str, int]
    shipping_fen: int

    @property
    def refunded_fen(self) -> int:
        return sum(self.per_line.values()) + self.shipping_fen


def apportion(total: int, weights: Sequence[int]) -> list[int]:
    """Split ``total`` fen in proportion to ``weights`` by the largest-remainder method.

    Rounding rule: each share is first ``floor(total * weight / sum(weights))``; the fen still left over
    go one each to the shares with the largest remainders ``total * weight mod sum(weights)``, ties to
    the earlier index. Exact integer arithmetic. Requires ``0 <= total <= sum(weights)`` and
    non-negative weights; then no share exceeds its weight and the shares add up to ``total``.
    """
    if any(weight < 0 for weight in weights):
        raise ValueError("weights must be non-negative")
    weight_sum = sum(weights)
    if not 0 <= total <= weight_sum:
        raise ValueError(f"total {total} must be between 0 and the sum of the weights {weight_sum}")
    if weight_sum == 0:
        return [0 for _ in weights]
    shares = [total * weight // weight_sum for weight in weights]
    remainders = [total * weight % weight_sum for weight in weights]
    leftover = total - sum(shares)
    by_remainder = sorted(range(len(weights)), key=lambda index: (-remainders[index], index))
    for index in by_remainder[:leftover]:
        shares[index] += 1
    return shares


def refund_allocation(lines: Sequence[OrderLine], refunds: Iterable[Refund]) -> RefundAllocation:
    """Per-line refunded fen and the shipping part for a set of refunds (rules in the module docstring).

    Order-independent: any permutation of ``refunds`` gives the same answer, and several refunds without
    a split give exactly what one refund of their sum gives.
    """
    position = _positions(lines)
    paid = {line.line_id: max(line.paid_fen, 0) for line in lines}
    split_claims = dict.fromkeys(paid, 0)
    unsplit_pool = 0
    total_refunded = 0
    for refund in refunds:
        amount = max(refund.amount_fen, 0)
        total_refunded += amount
        if refund.split is None:
            unsplit_pool += amount
            continue
        claimed = _split_within_amount(refund.split, amount, position)
        for line_id, fen in claimed.items():
            if line_id in split_claims:
                split_claims[line_id] += fen
        unsplit_pool += amount - sum(claimed.values())

    per_line = {line_id: min(split_claims[line_id], paid[line_id]) for line_id in paid}
    left = [paid[line.line_id] - per_line[line.line_id] for line in lines]
    spread = apportion(min(unsplit_pool, sum(left)), left)
    for line, share in zip(lines, spread, strict=True):
        per_line[line.line_id] += share
    return RefundAllocation(per_line=per_line, shipping_fen=total_refunded - sum(per_line.values()))


def line_refunds(lines: Sequence[OrderLine], refunds: Iterable[Refund]) -> dict[str, int]:
    """``line_id`` -> refunded fen for every line of the order (see :func:`refund_allocation`)."""
    return refund_allocation(lines, refunds).per_line


def validate_lines(lines: Sequence[OrderLine], shipping_fen: int, total_fen: int) -> None:
    """An order as the mall registers it: at least one line, unique non-empty ``line_id``s, quantity at
    least 1, non-negative amounts, and ``total_fen`` = lines + shipping (SPEC §7). Raises ``InvalidInput``."""
    if not lines:
        raise InvalidInput("an order needs at least one line", field="lines")
    for index, line in enumerate(lines):
        if not line.line_id:
            raise InvalidInput("line_id must not be empty", field=f"lines[{index}].line_id")
        if not line.product_id:
            raise InvalidInput("product_id must not be empty", field=f"lines[{index}].product_id")
        if line.quantity < 1:
            raise InvalidInput("quantity must be at least 1", field=f"lines[{index}].quantity")
        if line.paid_fen < 0:
            raise InvalidInput("paid_fen must not be negative", field=f"lines[{index}].paid_fen")
    unique_line_ids([line.line_id for line in lines])
    if shipping_fen < 0:
        raise InvalidInput("shipping_fen must not be negative", field="shipping_fen")
    expected = sum(line.paid_fen for line in lines) + shipping_fen
    if total_fen != expected:
        raise InvalidInput("must equal the sum of lines' paid_fen plus shipping_fen", field="total_fen")


def unique_line_ids(line_ids: Sequence[str]) -> None:
    """An order's lines, and a refund split's, name each ``line_id`` once. Raises ``InvalidInput`` (``lines``)."""
    if len(set(line_ids)) != len(line_ids):
        raise InvalidInput("line_id values must be unique", field="lines")


def parse_split(
    lines: Sequence[OrderLine], entries: Sequence[tuple[str, int]], earlier: Iterable[Refund] = ()
) -> dict[str, int]:
    """A refund's line split as the mall registers it (``[(line_id, refund_fen), ...]``), checked against
    the order and the ``earlier`` refunds WeChat Pay reported: at least one entry, each line of the order
    named at most once, and ``0 < refund_fen <=`` what the line has left (its ``paid_fen`` less what the
    earlier refunds took from it, :func:`line_refunds`), so refunds together never exceed what was paid
    (SPEC §3). Raises ``InvalidInput`` naming the entry (``lines[1].line_id``), or ``RuleViolation``
    ``refund_exceeds_line`` for an amount beyond what its line has left."""
    if not entries:
        raise InvalidInput("a split names at least one line", field="lines")
    unique_line_ids([line_id for line_id, _ in entries])
    paid = {line.line_id: line.paid_fen for line in lines}
    refunded = line_refunds(lines, earlier)
    split: dict[str, int] = {}
    for index, (line_id, refund_fen) in enumerate(entries):
        if line_id not in paid:
            field = f"lines[{index}].line_id"
            raise InvalidInput(f"{field}: the order has no line {line_id}", code="unknown_line", field=field)
        field = f"lines[{index}].refund_fen"
        if refund_fen < 1:
            raise InvalidInput(f"{field}: must be at least 1", field=field)
        left = paid[line_id] - refunded[line_id]
        if refund_fen > left:
            raise RuleViolation(
                f"{field}: {refund_fen} exceeds what line {line_id} has left ({left})",
                code="refund_exceeds_line",
                field=field,
            )
        split[line_id] = refund_fen
    return split


def _positions(lines: Sequence[OrderLine]) -> dict[str, int]:
    position = {line.line_id: index for index, line in enumerate(lines)}
    if len(position) != len(lines):
        raise ValueError("duplicate line_id in the order's lines")
    return position


def _split_within_amount(
    split: Mapping[str, int], amount: int, position: Mapping[str, int]
) -> dict[str, int]:
    """The split of one refund, scaled down to ``amount`` if it names more (module docstring).

    Lines the order does not have sort after its own lines, by id, so that ties are deterministic.
    """
    ordered = sorted(split, key=lambda line_id: (position.get(line_id, len(position)), line_id))
    declared = [max(split[line_id], 0) for line_id in ordered]
    if sum(declared) > amount:
        declared = apportion(amount, declared)
    return dict(zip(ordered, declared, strict=True))
