"""The scheduled jobs, registered by name for ``fenxiao.entry.jobs_entry`` (imported lazily)."""

from __future__ import annotations

from fenxiao.entry.jobs_entry import register

register("audit", lambda: __import__("fenxiao.service.audit", fromlist=["run_page"]).run_page)
register("settlement", lambda: __import__("fenxiao.service.settlement", fromlist=["run_page"]).run_page)
register("payout-check", lambda: __import__("fenxiao.service.payouts", fromlist=["check_page"]).check_page)
register(
    "leaderboard-rollover",
    lambda: __import__("fenxiao.service.leaderboard", fromlist=["rollover_page"]).rollover_page,
)
