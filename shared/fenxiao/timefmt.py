"""Time formats. Stored keys use fixed-width UTC (sorts as text); answers use RFC 3339 in Asia/Shanghai."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def key(moment: datetime) -> str:
    """Fixed-width UTC with microseconds, e.g. ``2026-11-25T09:30:00.000000Z``: text order is time order."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def from_key(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def rfc3339(moment: datetime | None) -> str | None:
    """For answers: Asia/Shanghai with its offset, e.g. ``2026-11-25T17:30:00+08:00``."""
    if moment is None:
        return None
    local = moment.astimezone(SHANGHAI)
    return local.isoformat(timespec="microseconds" if local.microsecond else "seconds")


def rfc3339_from_key(text: str | None) -> str | None:
    return rfc3339(from_key(text)) if text else None


def parse_rfc3339(text: str) -> datetime:
    """Parse an RFC 3339 timestamp; an offset is required."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError("an RFC 3339 timestamp with an offset is required")
    return moment
