"""Money is an ``int`` number of fen, rates an ``int`` number of basis points (SPEC §1).

The one rounding rule for commissions lives here; nothing else divides money by a rate.
"""

from __future__ import annotations

BP_SCALE = 10000
"""Basis points in a whole: 10000 bp = 100 %."""


def commission_fen(paid_fen: int, rate_bp: int) -> int:
    """Commission earned on ``paid_fen`` at ``rate_bp``: ``floor(paid_fen * rate_bp / 10000)``.

    Rounding rule: always down (floor), in exact integer arithmetic, so a commission never exceeds
    the rate applied to what was paid. Callers pass non-negative amounts; a negative amount or rate is a
    programming error and raises ``ValueError``.
    """
    if paid_fen < 0 or rate_bp < 0:
        raise ValueError(f"paid_fen and rate_bp must be non-negative, got {paid_fen} and {rate_bp}")
    return paid_fen * rate_bp // BP_SCALE
