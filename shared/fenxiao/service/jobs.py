"""The job runner and its table of jobs. Scheduled jobs: started by a timer, by ``POST /admin/jobs/{job}``, or by their own continuation message.

A job runs in bounded pages. A continuation message runs page after page while its Lambda invocation has
time left, and enqueues the rest on the jobs queue only when time runs short; a timer runs one page and
enqueues the rest; the operator API goes on page after page within the request's time budget and reports
whether work remains.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fenxiao import clock
from fenxiao.bootstrap import container
from fenxiao.domain.errors import InvalidInput, NotFound, RuleViolation
from fenxiao.observability import logger
from fenxiao.timefmt import parse_rfc3339, rfc3339


@dataclass
class Page:
    """What one page of a job did, and where the next page starts (None: the job is done)."""

    processed: int = 0
    details: dict[str, Any] = field(default_factory=dict)
    cursor: dict[str, Any] | None = None


JobFn = Callable[[datetime, dict[str, Any] | None], Page]


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
    while True:
        page = _timed(name, job, now, cursor)
        pages += 1
        processed += page.processed
        details = _merge_details(details, page.details)
        cursor = page.cursor
        if cursor is None or time.monotonic() - started > OPERATOR_TIME_BUDGET_SECONDS:
            break
    if cursor is not None:
        container().queues.send("jobs", {"job": name, "now": rfc3339(now), "cursor": cursor})
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
    page = _timed(name, job, now, None)
    if page.cursor is not None:
        container().queues.send("jobs", {"job": name, "now": rfc3339(now), "cursor": page.cursor})
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
    pages, longest = 0, 0.0
    while True:
        started = time.monotonic()
        page = _timed(name, job, now, cursor)
        pages += 1
        longest = max(longest, time.monotonic() - started)
        cursor = page.cursor
        if cursor is None or not _time_for_another(context, longest):
            break
    if cursor is not None:
        container().queues.send("jobs", {"job": name, "now": message.get("now"), "cursor": cursor})
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
