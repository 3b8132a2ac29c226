"""EventBridge rules, locally: each ``Type: Schedule`` event of the template fires its function when due.

Time is read only through ``fenxiao.clock.now()``, so a clock override moves the timers too. When the clock
jumps forward past one or more due times a timer fires once (then waits for its next time after the new
now), not once per missed slot; when it jumps backward, each timer recomputes its next time from there.
The invocation is asynchronous, as EventBridge's is: a slow job does not hold the other timers.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fenxiao import clock
from fenxiao_local import schedule
from fenxiao_local.datastack import run_in_wide_frame
from fenxiao_local.runtime import Handler, context_for
from fenxiao_local.template import ScheduleSource

log = logging.getLogger("fenxiao_local.timers")

TICK_SECONDS = 0.2


@dataclass
class Timer:
    source: ScheduleSource
    schedule: schedule.Schedule
    handler: Handler
    next_due: datetime
    fired: int = 0


class Timers(threading.Thread):
    def __init__(
        self,
        sources: list[tuple[ScheduleSource, Handler]],
        *,
        region: str,
        stack_name: str,
        tick_seconds: float = TICK_SECONDS,
    ) -> None:
        super().__init__(name="timers", daemon=True)
        now = clock.now()
        self.timers: list[Timer] = []
        for source, handler in sources:
            parsed = schedule.parse(source.expression)
            if isinstance(parsed, schedule.Rate):
                parsed = parsed.anchored(now)  # EventBridge counts a rate from the rule's creation
            self.timers.append(Timer(source, parsed, handler, parsed.next_after(now)))
        self.region = region
        self.stack_name = stack_name
        self.tick_seconds = tick_seconds
        self._last_seen = now
        self._stop_event = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="timer-run")

    def stop(self) -> None:
        self._stop_event.set()

    def join(self, timeout: float | None = None) -> None:
        super().join(timeout)
        self._pool.shutdown(wait=True, cancel_futures=True)

    def run(self) -> None:
        while not self._stop_event.wait(self.tick_seconds):
            self.tick()

    def tick(self) -> list[Timer]:
        """Fire what is due at ``clock.now()``; returns the timers fired."""
        now = clock.now()
        went_back = now < self._last_seen
        self._last_seen = now
        fired = []
        for timer in self.timers:
            if went_back:
                timer.next_due = timer.schedule.next_after(now)
                continue
            if now >= timer.next_due:
                timer.fired += 1
                timer.next_due = timer.schedule.next_after(now)
                fired.append(timer)
                self._pool.submit(run_in_wide_frame, self._fire, timer, now)  # datastack.py
        return fired

    def _fire(self, timer: Timer, now: datetime) -> Any:
        source = timer.source
        log.info(
            "timer %s (%s) fires %s at %s",
            source.event_name,
            source.expression,
            source.function.handler,
            now.isoformat(timespec="seconds"),
        )
        try:
            result = timer.handler(source.input, context_for(source.function, self.stack_name, self.region))
        except Exception as exc:
            log.warning(
                "timer %s: %s raised %s: %s",
                source.event_name,
                source.function.handler,
                type(exc).__name__,
                exc,
            )
            return None
        log.debug("timer %s: %s answered %r", source.event_name, source.function.handler, result)
        return result
