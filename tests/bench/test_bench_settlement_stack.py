"""Settlement of a big backlog on the local stack: one run with 10 000 due commissions, started by
``POST /admin/jobs/settlement`` and carried on by its own continuation messages through the stack's
JobsQueue poller, until every commission is released. Figures: wall time, pages, releases per second.

    .venv/bin/python -m pytest -p no:xdist -q -s -m bench tests/bench/test_bench_settlement_stack.py
(FENXIAO_BENCH_SETTLEMENT_DUE=2000 for a quicker run.)

The stack runs in this process (``fenxiao_local.stack.LocalStack``: moto server, HTTP API, pollers, timers,
exactly what ``fenxiao local up`` starts), so the 10 000 commissions, their ``commission_frozen`` ledger
entries and the members' frozen balances are seeded straight into its moto with PynamoDB batch writes
(the HTTP path would take hours); the run itself is the real one, on the engine the stack always runs
(infra/fenxiao_local/fast_moto.py, no test-only switch). It is moto's time, not DynamoDB's: what carries
over to AWS is the shape (pages of at most 100 released in transactions of up to 32, a continuation that goes
on in its Lambda invocation while time is left and enqueues only when it runs short).

Measured (2 shared cores): before batching, 10 000 due in 200 pages of 50, one transaction per commission and
one JobsQueue message per page: 266.5 s (37.5 releases/s, load average 0.5 at the start, 7 at the end). After
(issue 16): 153.3 s (65.2 releases/s, load average 1.7 at the start, 4.4 at the end), audit clean, 9 pages in
the operator request's 20 s budget, 110 pages and 2 continuation messages in all (the timer's chain included);
165.9 s (60.3 releases/s) at a load average of 8-10; another run 203.4 s (49.2 releases/s, load average 8.4, 108
pages, 2 continuation messages): moving the clock a day forward also fires the stack's 5-minute settlement
timer, whose chain raced the operator's over the same pages (436 skipped); every release is conditional, so
each commission is released once and the losing batch skips what changed.

Settlement lease and update shape checks (settle17): the timer's chain now leaves the run to the operator's
(one chain at a time), so the pages are 100, not 110-119, with no skips. Counted with the stack's own moto
calls (2 000 due): Query 2 912 -> 2 108, TransactWriteItems 485 -> 91. Figures with load averages, before
and after interleaved: docs/local-stack.md ("Settlement of 10 000 due commissions").
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fenxiao.service import settlement
from fenxiao.service.jobs import Page
from fenxiao.timefmt import key

pytestmark = pytest.mark.bench

DUE = int(os.environ.get("FENXIAO_BENCH_SETTLEMENT_DUE", "10000"))
MEMBERS = 10
AMOUNT = 100
TOKEN = "bench-operator-token-0123456789abcdefghij"
SHOP = "bench"


@pytest.fixture
def local_stack() -> Iterator[Any]:
    from fenxiao import bootstrap, clock
    from fenxiao_local.stack import LocalStack, StackOptions

    saved = dict(os.environ)
    stack = LocalStack(
        StackOptions(port=0, operator_token=TOKEN, allow_clock_override=True, log_level="WARNING"),
        progress=lambda line: None,
    ).start()
    try:
        yield stack
    finally:
        stack.stop()
        os.environ.clear()
        os.environ.update(saved)
        bootstrap.reset()
        clock.reset()


def _seed(due_at: datetime) -> float:
    """DUE frozen commissions, due at ``due_at``, spread over MEMBERS members, each with its ledger entry;
    the members' frozen balances equal to what their entries add up to (so the audit agrees)."""
    from fenxiao.adapters.ledger import LedgerEntryModel, account
    from fenxiao.adapters.members import MemberModel
    from fenxiao.adapters.orders import CommissionLineMap, CommissionModel, due_shard, order_key

    started = time.monotonic()
    paid = due_at - timedelta(days=7)
    with CommissionModel.batch_write() as commissions, LedgerEntryModel.batch_write() as ledger:
        for i in range(DUE):
            order_id, member_id = f"o{i:05d}", f"m{i % MEMBERS}"
            commissions.save(
                CommissionModel(
                    order_key(SHOP, order_id),
                    f"COMM#level1#{member_id}",
                    shop_id=SHOP,
                    order_id=order_id,
                    tier="level1",
                    member_id=member_id,
                    lines=[CommissionLineMap(line_id="l1", paid_fen=AMOUNT * 10, rate_bp=1000)],
                    original_fen=AMOUNT,
                    amount_fen=AMOUNT,
                    status="frozen",
                    basis="payment",
                    freeze_days=7,
                    paid_at=key(paid),
                    effective_at=key(due_at),
                    due_shard=due_shard(order_id, "level1", member_id),
                    due_at=key(due_at),
                    version=0,
                    beneficiary=account(SHOP, member_id),
                    paid_sort=f"{key(paid)}#{order_id}#level1",
                )
            )
            ledger.save(
                LedgerEntryModel(
                    account(SHOP, member_id),
                    f"COMM#{order_id}#level1#{member_id}#FROZEN",
                    kind="commission_frozen",
                    ref=order_id,
                    frozen_fen=AMOUNT,
                    at=key(paid),
                )
            )
    for m in range(MEMBERS):
        share = len(range(m, DUE, MEMBERS)) * AMOUNT
        MemberModel(
            account(SHOP, f"m{m}"),
            MemberModel.SK,
            shop_id=SHOP,
            member_id=f"m{m}",
            created_at=key(paid),
            frozen_fen=share,
        ).save()
    return time.monotonic() - started


def _balances() -> dict[str, int]:
    from fenxiao.adapters.ledger import account
    from fenxiao.adapters.members import MemberModel

    totals = {"frozen_fen": 0, "available_fen": 0}
    for m in range(MEMBERS):
        member = MemberModel.get(account(SHOP, f"m{m}"), MemberModel.SK, consistent_read=True)
        totals["frozen_fen"] += int(member.frozen_fen or 0)
        totals["available_fen"] += int(member.available_fen or 0)
    return totals


def _still_due(now: datetime) -> int:
    from fenxiao.adapters.orders import DUE_SHARDS, CommissionModel

    return sum(
        1
        for shard in range(DUE_SHARDS)
        for _ in CommissionModel.due_commissions.query(f"DUE#{shard}", CommissionModel.due_at <= key(now))
    )


def test_settlement_of_10_000_due_on_the_local_stack(
    local_stack: Any, report: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fenxiao.adapters.queues import Queues
    from fenxiao_local.client import OperatorClient

    # Counted, not changed: the pages run and the continuation messages sent (the stack runs in this process).
    pages, continuations = [0], [0]
    run_page, send = settlement.run_page, Queues.send

    def counted_page(now: datetime, cursor: dict[str, Any] | None) -> Page:
        pages[0] += 1
        return run_page(now, cursor)

    def counted_send(self: Queues, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        continuations[0] += queue == "jobs" and message.get("job") == "settlement"
        send(self, queue, message, **kwargs)

    monkeypatch.setattr(settlement, "run_page", counted_page)
    monkeypatch.setattr(Queues, "send", counted_send)
    operator = OperatorClient(local_stack.api_url, TOKEN)
    assert operator.create_shop(SHOP, "Bench shop")[0] == 201
    due_at = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    setup = _seed(due_at)
    assert _balances() == {"frozen_fen": DUE * AMOUNT, "available_fen": 0}
    # The seed wrote items directly, as data from before the summary counters: the rebuild job counts them.
    status, rebuilt = operator.run_job("summary-rebuild")
    assert status == 200, rebuilt
    run_at = due_at + timedelta(seconds=1)

    started = time.monotonic()
    status, first = operator.run_job("settlement", run_at.isoformat())
    assert status == 200, first
    request_seconds = time.monotonic() - started
    deadline = started + 3600
    while _balances()["available_fen"] < DUE * AMOUNT:
        assert time.monotonic() < deadline, _balances()
        time.sleep(0.5)
    seconds = time.monotonic() - started

    assert _balances() == {"frozen_fen": 0, "available_fen": DUE * AMOUNT}
    assert _still_due(run_at) == 0
    status, audit = operator.run_job("audit")
    assert status == 200 and audit["differences"] == [] and audit["counter_differences"] == [], audit
    report(
        f"settlement: one run with {DUE} due on the local stack",
        {
            "due": DUE,
            "members": MEMBERS,
            "pages": pages[0],  # the timer's chain included, when it raced the run
            "pages_in_the_operator_request": first["pages"],
            "released_in_the_operator_request": first["released"],
            "skipped_or_held_in_the_operator_request": first["skipped"] + first["held"],
            "operator_request_seconds": round(request_seconds, 1),
            "continuation_messages": continuations[0],
            "run_seconds_on_moto": round(seconds, 1),
            "releases_per_second": round(DUE / seconds, 1),
            "setup_seconds": round(setup, 1),
            "moto": "the local stack's engine (infra/fenxiao_local/fast_moto.py)",
        },
    )
