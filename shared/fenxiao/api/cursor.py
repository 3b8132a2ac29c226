"""Opaque pagination cursors: DynamoDB's LastEvaluatedKey as url-safe base64 JSON (no padding).

The cursor only contains characters that need no percent-encoding, so it is signed as sent. A cursor is
checked against the partition it was issued for, so it cannot be replayed against another member or shop.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from fenxiao.domain.errors import InvalidInput

MAX_LIMIT = 100
DEFAULT_LIMIT = 20


def encode(last_evaluated_key: dict[str, Any] | None) -> str | None:
    if not last_evaluated_key:
        return None
    raw = json.dumps(last_evaluated_key, sort_keys=True, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str | None, *, expect: dict[str, str]) -> dict[str, Any] | None:
    """The LastEvaluatedKey in ``cursor``; its attributes named in ``expect`` must have those values."""
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode()))
        assert isinstance(key, dict)
        for name, value in expect.items():
            assert key[name] == {"S": value}
        assert all(isinstance(v, dict) and len(v) == 1 for v in key.values())
    except (ValueError, AssertionError, KeyError, TypeError):
        raise InvalidInput(
            "cursor: not a cursor this list issued", code="invalid_cursor", field="cursor"
        ) from None
    return key


def limit(value: str | None) -> int:
    if value is None:
        return DEFAULT_LIMIT
    if not value.isdigit() or not 1 <= int(value) <= MAX_LIMIT:
        raise InvalidInput(
            f"limit: must be an integer from 1 to {MAX_LIMIT}", code="invalid_field", field="limit"
        )
    return int(value)
