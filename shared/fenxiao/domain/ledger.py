"""The append-only ledger's unit: a ``Movement`` is one ledger entry with a unique business key and the same
deltas applied to the member's balances (see ``fenxiao.adapters.unit_of_work``, which writes both at once).

Buckets: ``frozen_fen``, ``available_fen``, ``withdrawing_fen``, ``withdrawn_fen`` (money, fen) and
``growth`` (membership growth value). The audit job re-adds every member's entries and compares.
"""

from __future__ import annotations

from dataclasses import dataclass

BUCKETS = ("frozen_fen", "available_fen", "withdrawing_fen", "withdrawn_fen", "growth")


@dataclass(frozen=True)
class Movement:
    """One ledger entry and its effect on one member's buckets."""

    shop_id: str
    member_id: str
    entry_key: str
    kind: str
    ref: str | None = None
    frozen_fen: int = 0
    available_fen: int = 0
    withdrawing_fen: int = 0
    withdrawn_fen: int = 0
    growth: int = 0

    def deltas(self) -> dict[str, int]:
        return {b: getattr(self, b) for b in BUCKETS if getattr(self, b)}
