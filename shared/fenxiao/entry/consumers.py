"""Queue consumers: each message is a nudge naming what changed; the handler re-reads stored state."""

from __future__ import annotations

from typing import Any

from fenxiao import clock
from fenxiao.bootstrap import container


def handle_order_message(message: dict[str, Any], converged: set[tuple[str, str]] | None = None) -> None:
    """{"shop_id", "order_id"}: converge the order with its facts (service.reconcile).

    ``converged``: the orders this batch already converged. A nudge was sent after its fact was stored and
    before the batch was received, so a run after the receive covers every nudge of the batch for that
    order: a duplicate nudge in the same batch is answered without reading again (a failed run is not
    remembered, so its duplicate runs as before)."""
    from fenxiao.service.reconcile import reconcile_order

    order = (str(message["shop_id"]), str(message["order_id"]))
    if converged is not None and order in converged:
        return
    reconcile_order(container(), order[0], order[1], clock.now())
    if converged is not None:
        converged.add(order)


def handle_binding_message(message: dict[str, Any]) -> None:
    """{"shop_id", "member_id", "bound_at"}: score that binding on the fan leaderboards, once (service.leaderboard),
    and point the member's own fans' level-2 link at its new inviter (service.members)."""
    from fenxiao.service.leaderboard import score_binding
    from fenxiao.service.members import relink_level2_fans

    container()  # tables bound to their names (cold start)
    # now: when the run starts; the clock is read again after the commit to decide on archive rewrites.
    score_binding(
        str(message["shop_id"]),
        str(message["member_id"]),
        str(message["bound_at"]),
        clock.now(),
        read_clock=clock.now,
    )
    relink_level2_fans(str(message["shop_id"]), str(message["member_id"]))


def handle_payout_message(message: dict[str, Any]) -> None:
    """{"shop_id", "withdrawal_id"}: bring the withdrawal's payout closer to its final state (service.payouts)."""
    from fenxiao.service.payouts import advance

    advance(container(), str(message["shop_id"]), str(message["withdrawal_id"]), clock.now())
