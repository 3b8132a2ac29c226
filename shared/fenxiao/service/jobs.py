"""The job runner and its table of jobs. Scheduled jobs: started by a timer, by ``POST /admin/jobs/{job}``, or by their own continuation message.

A job runs in bounded pages. A continuation message runs page after page while its Lambda invocation has
time left, and enqueues the rest on the jobs queue only when time runs short; a timer runs one page and
enqueues the rest; the operator API goes on page after page within the request's time budget and reports
whether work remains.

A settlement chain (its first page and every continuation) runs alone: before each page it renews the job's
lease (ConfigTable ``JOB#settlement``, ``LEASE_SECONDS``). A timer finding another chain's lease runs
nothing: that chain releases what is due, and whatever becomes due later is the next timer's. An operator's
run takes the lease over; the chain it replaces stops at its next page (its work is not lost: released
commissions leave the due index, so the new chain starts from the first shard and finds only what is left).
So the 5-minute timer no longer races an operator's run or a long chain over the same pages. A duplicate
continuation message carries the same chain and still runs (its writes are conditional), as does a message
from before the lease (no chain).
"""

from __future__ import annotations

import importlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from fenxiao import clock
from fenxiao.bootstrap import container
from fenxiao.domain.errors import InvalidInput, NotFound, RuleViolation
from fenxiao.observability import logger
from fenxiao.timefmt import parse_rfc3339, rfc3339

if TYPE_CHECKING:
    from fenxiao.adapters.members import MembersPage


@dataclass
class Page:
    """What one page of a job did, and where the next page starts (None: the job is done)."""

    processed: int = 0
    details: dict[str, Any] = field(default_factory=dict)
    cursor: dict[str, Any] | None = None


JobFn = Callable[[datetime, dict[str, Any] | None], Page]


def next_in_shop(shop_id: str, page: MembersPage, sums: dict[str, Any]) -> dict[str, Any] | None:
    """A job walking every shop's members, carrying ``sums``: the cursor of this shop's next page, or None
    when this page was the shop's last (the caller closes the shop, then goes on with ``next_shop``)."""
    if page.more and page.member_ids:
        return {"shop_id": shop_id, "member_id": page.member_ids[-1], "sums": sums}
    return None


def next_shop(shop_id: str) -> dict[str, Any] | None:
    """The cursor that starts the shop after ``shop_id``, or None: every shop is walked."""
    from fenxiao.adapters.shops import next_shop_id

    following = next_shop_id(shop_id)
    return {"shop_id": following} if following else None


def _timed(name: str, job: JobFn, now: datetime, cursor: dict[str, Any] | None) -> Page:
    """Run one page and record its duration and items processed (metrics JobPageDuration, JobItemsProcessed)."""
    from fenxiao.observability import count, duration

    started = time.monotonic()
    page = job(now, cursor)
    duration("JobPageDuration", (time.monotonic() - started) * 1000, job=name)
    count("JobItemsProcessed", page.processed, job=name)
    return page


# Every job, by name: (module, page function). Imported on first run, not at cold start.
JOBS: dict[str, tuple[str, str]] = {
    "audit": ("fenxiao.service.audit", "run_page"),
    "settlement": ("fenxiao.service.settlement", "run_page"),
    "payout-check": ("fenxiao.service.payouts", "check_page"),
    "leaderboard-rollover": ("fenxiao.service.leaderboard", "rollover_page"),
    "summary-rebuild": ("fenxiao.service.summary", "rebuild_page"),
    "distributor-recount": ("fenxiao.service.summary", "recount_page"),
}

OPERATOR_TIME_BUDGET_SECONDS = 20.0
LEASED = frozenset({"settlement"})  # the jobs whose chains run one at a time
LEASE_SECONDS = 120.0  # a chain that stops renewing (a crash) holds its job this long at most


def _new_chain(name: str) -> str | None:
    return uuid.uuid4().hex if name in LEASED else None


def _may_run(name: str, chain: str | None, *, take_over: bool = False) -> bool:
    """Whether ``chain`` may run ``name``'s next page: it holds the job's lease for LEASE_SECONDS more
    (``take_over``: from whichever chain held it). Unleased jobs and chainless messages always may."""
    if chain is None:
        return True
    from fenxiao.adapters.shops import take_job_lease

    # Real time, not fenxiao.clock: a clock override must not make a lease last a day or end at once.
    return take_job_lease(name, chain, time.time(), LEASE_SECONDS, force=take_over)


def _done(name: str, chain: str | None) -> None:
    """The chain ran the job to its end: the next timer need not wait for the lease to expire."""
    if chain is not None:
        from fenxiao.adapters.shops import drop_job_lease

        drop_job_lease(name, chain)


def _continue(name: str, now: str | None, cursor: dict[str, Any], chain: str | None) -> None:
    message: dict[str, Any] = {"job": name, "now": now, "cursor": cursor}
    if chain is not None:
        message["chain"] = chain
    container().queues.send("jobs", message)


def job_function(name: str) -> JobFn:
    target = JOBS.get(name)
    if target is None:
        raise NotFound(f"no job named {name!r} (known: {', '.join(sorted(JOBS))})", code="job_not_found")
    module, function = target
    page: JobFn = getattr(importlib.import_module(module), function)
    return page


def run_now(name: str, now_text: str | None) -> dict[str, Any]:
    """``POST /admin/jobs/{job}``: optionally set the clock, then run the job's pages within a time budget."""
    job = job_function(name)
    if now_text is not None:
        if not container().settings.allow_clock_override:
            raise RuleViolation("this stack does not allow a clock override", code="clock_override_disabled")
        try:
            clock.set_now(parse_rfc3339(now_text))
        except ValueError as exc:
            raise InvalidInput(f"now: {exc}", code="invalid_field", field="now") from None
    started = time.monotonic()
    now = clock.now()
    pages, processed = 0, 0
    details: dict[str, Any] = {}
    cursor: dict[str, Any] | None = None
    chain = _new_chain(name)
    running = _may_run(name, chain, take_over=True)
    while running:
        page = _timed(name, job, now, cursor)
        pages += 1
        processed += page.processed
        details = _merge_details(details, page.details)
        cursor = page.cursor
        if cursor is None or time.monotonic() - started > OPERATOR_TIME_BUDGET_SECONDS:
            break
        running = _may_run(name, chain)
    if cursor is None:
        _done(name, chain)
    elif running:
        _continue(name, rfc3339(now), cursor, chain)
    else:
        logger().info("job run taken over by a newer run", extra={"job": name, "pages": pages})
    logger().info("job run", extra={"job": name, "pages": pages, "processed": processed})
    return {
        "job": name,
        "now": rfc3339(now),
        "pages": pages,
        "processed": processed,
        "done": cursor is None,
        **details,
    }


def _merge_details(acc: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    out = dict(acc)
    for k, v in new.items():
        if isinstance(v, int) and isinstance(out.get(k), int):
            out[k] += v
        elif isinstance(v, list) and isinstance(out.get(k), list):
            out[k] = out[k] + v
        else:
            out[k] = v
    return out


def on_timer(event: dict[str, Any]) -> dict[str, Any]:
    """A scheduled event: run one page now and leave the rest to continuation messages."""
    name = str(event.get("job", ""))
    job = job_function(name)
    now = clock.now()
    chain = _new_chain(name)
    if not _may_run(name, chain):
        logger().info("timer job left to the chain that runs it", extra={"job": name})
        return {"job": name, "processed": 0, "more": False}
    page = _timed(name, job, now, None)
    if page.cursor is None:
        _done(name, chain)
    else:
        _continue(name, rfc3339(now), page.cursor, chain)
    logger().info(
        "timer job page", extra={"job": name, "processed": page.processed, "more": page.cursor is not None}
    )
    return {"job": name, "processed": page.processed, "more": page.cursor is not None}


def handle_job_message(message: dict[str, Any], context: Any = None) -> None:
    """A continuation page, then further pages in this invocation while the Lambda ``context`` leaves time
    for one more (a page's round trips cost less than a JobsQueue hop); what is left is enqueued. The job's
    own writes are conditional, so a redelivered or duplicated message repeats nothing."""
    name = str(message["job"])
    job = job_function(name)
    now = parse_rfc3339(message["now"]) if message.get("now") else clock.now()
    cursor: dict[str, Any] | None = message.get("cursor")
    chain: str | None = message.get("chain")
    pages, longest = 0, 0.0
    while True:
        if not _may_run(name, chain):
            logger().info("job chain taken over by another; stopped", extra={"job": name, "pages": pages})
            return
        started = time.monotonic()
        page = _timed(name, job, now, cursor)
        pages += 1
        longest = max(longest, time.monotonic() - started)
        cursor = page.cursor
        if cursor is None or not _time_for_another(context, longest):
            break
    if cursor is None:
        _done(name, chain)
    else:
        _continue(name, message.get("now"), cursor, chain)
    if pages > 1:
        logger().info(
            "job pages in one invocation", extra={"job": name, "pages": pages, "more": cursor is not None}
        )


CONTINUE_MARGIN_SECONDS = 60.0  # of the invocation's time, left for the continuation message and slack


def _time_for_another(context: Any, longest_page: float) -> bool:
    """Whether the invocation has time for another page (twice the longest so far) and the margin; without
    a Lambda context (a direct call) one page per call."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:
        return False
    return remaining() / 1000 > CONTINUE_MARGIN_SECONDS + 2 * longest_page
