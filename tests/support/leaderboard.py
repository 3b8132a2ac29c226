"""Leaderboard test helpers: bind through the API, consume the binding queue by hand, read boards.

The binding queue is not consumed automatically under chalice.test: ``drain_bindings`` reads the messages
``bind()`` sent (moto SQS) and hands each to the consumer, as the BindingWorkerFunction would.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from fenxiao import clock
from fenxiao.adapters.leaderboard import BoardScoreModel, counter_key
from fenxiao.domain.leaderboard import SCORE_SCALE, score_for
from fenxiao.entry.consumers import handle_binding_message
from fenxiao.service.leaderboard import rollover_page
from fenxiao.timefmt import key
from tests.support.app import Answer, ShopCaller
from tests.support.stack import take_messages


def bind(shop: ShopCaller, member: str, inviter: str, at: datetime | None = None, status: int = 201) -> Any:
    """Bind ``member`` to ``inviter`` (at ``at`` when given: the clock is set there first)."""
    if at is not None:
        clock.set_now(at)
    answer = shop.post(shop.path(f"/members/{member}/inviter"), {"inviter_id": inviter})
    assert answer.status == status, answer
    return answer.body


def binding_messages() -> list[dict[str, Any]]:
    """Take every message waiting on the binding queue (moto), oldest first."""
    return take_messages(os.environ["FENXIAO_BINDING_EVENTS_QUEUE_URL"])


def drain_bindings(times: int = 1) -> int:
    """Run the binding consumer on every waiting message, each ``times`` times; returns the messages."""
    messages = binding_messages()
    for message in messages:
        for _ in range(times):
            handle_binding_message(message)
    return len(messages)


def board(shop: ShopCaller, name: str, period: str | None = None) -> Answer:
    query = f"?period={period}" if period is not None else ""
    return shop.get(shop.path(f"/leaderboards/{name}{query}"))


def standings(shop: ShopCaller, name: str, period: str | None = None) -> list[tuple[str, int]]:
    """``[(member_id, fans), ...]`` in rank order; asserts ranks are 1..n."""
    answer = board(shop, name, period)
    assert answer.status == 200, answer
    entries = answer.body["entries"]
    assert [e["rank"] for e in entries] == list(range(1, len(entries) + 1))
    return [(e["member_id"], e["fans"]) for e in entries]


def write_counters(
    shop_id: str, board_name: str, period: str, counts: dict[str, tuple[int, datetime]]
) -> None:
    """Write counters straight into the table (batch writes), as many bindings would have left them."""
    with BoardScoreModel.batch_write() as batch:
        for member_id, (fans, reached) in counts.items():
            batch.save(
                BoardScoreModel(
                    counter_key(shop_id, board_name, period, member_id),
                    member_id,
                    member_id=member_id,
                    fans=fans,
                    fans_scaled=fans * SCORE_SCALE,
                    score=score_for(fans, reached),
                    reached_at=key(reached),
                )
            )


def run_rollover(now: datetime) -> dict[str, int]:
    """The rollover job to its end; the periods archived and shops rolled over all its pages."""
    cursor = None
    total = {"periods_archived": 0, "shops_rolled": 0}
    while True:
        page = rollover_page(now, cursor)
        for k in total:
            total[k] += page.details[k]
        cursor = page.cursor
        if cursor is None:
            return total
