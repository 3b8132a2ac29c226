"""The one clock every handler, rule and signature check reads.

In AWS it is the system clock. The local stack may allow an override (``ALLOW_CLOCK_OVERRIDE``):
``set_now(t)`` makes the clock read ``t`` at once and run on from it, for every thread of the process.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

_lock = threading.Lock()
_offset_seconds: float = 0.0


def now() -> datetime:
    """The current time, timezone-aware (UTC)."""
    return datetime.fromtimestamp(time.time() + _offset_seconds, tz=UTC)


def unix_now() -> float:
    return time.time() + _offset_seconds


def set_now(moment: datetime) -> None:
    """Set the clock to ``moment``; it runs on from there. Only the local stack calls this."""
    if moment.tzinfo is None:
        raise ValueError("moment must be timezone-aware")
    global _offset_seconds
    with _lock:
        _offset_seconds = moment.timestamp() - time.time()


def offset_seconds() -> float:
    return _offset_seconds


def set_offset_seconds(offset: float) -> None:
    global _offset_seconds
    with _lock:
        _offset_seconds = offset


def reset() -> None:
    set_offset_seconds(0.0)
