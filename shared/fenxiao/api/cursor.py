"""Opaque pagination cursors: DynamoDB's LastEvaluatedKey as url-safe base64 JSON (no padding).

The cursor only contains characters that need no percent-encoding, so it is signed as sent. A cursor is
checked against the partition it was issued for, so it cannot be replayed against another member or shop.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from typing import Any

from fenxiao.domain.errors import InvalidInput

MAX_LIMIT = 100
DEFAULT_LIMIT = 20


def encode(last_evaluated_key: dict[str, Any] | None) -> str | None:
    if not last_evaluated_key:
        return None
    raw = json.dumps(last_evaluated_key, sort_keys=True, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# The attributes (name: DynamoDB type) of each list's LastEvaluatedKey: its table's key and its index's.
# A cursor must hold exactly these, each of its type: anything else would reach DynamoDB as the query's start.
COMMISSIONS_KEY = {"order_key": "S", "sk": "S", "beneficiary": "S", "paid_sort": "S"}
REVIEW_QUEUE_KEY = {"withdrawal_key": "S", "review_queue": "S", "created_at": "S"}
RECORDED_NOTIFICATIONS_KEY = {"shop_id": "S", "sk": "S"}
TRUST_HISTORY_KEY = {"config_key": "S", "effective_at": "S"}
FANS_KEY = {"member_key": "S", "sk": "S", "fan_of": "S", "bound_at": "S"}
LEVEL2_FANS_KEY = {"member_key": "S", "sk": "S", "fan_of2": "S", "bound_at": "S"}
MEMBER_WITHDRAWALS_KEY = {"withdrawal_key": "S", "member_ref": "S", "created_at": "S"}
LEDGER_KEY = {"account": "S", "entry_key": "S", "at": "S"}

MAX_CURSOR_CHARS = 4096
_CURSOR = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_CURSOR_CHARS}}}")  # url-safe base64 without padding
_NUMBER = re.compile(r"-?[0-9]{1,38}(\.[0-9]{1,38})?")
_LIMIT = re.compile(r"[0-9]{1,3}")  # ASCII digits: str.isdigit() also takes "²", which int() refuses


def _invalid() -> InvalidInput:
    return InvalidInput("cursor: not a cursor this list issued", code="invalid_cursor", field="cursor")


def _typed(value: Any, kind: str) -> bool:
    """``value`` is one DynamoDB attribute value of type ``kind`` (S, N or B)."""
    if kind not in ("S", "N", "B") or not (
        isinstance(value, dict) and list(value) == [kind] and isinstance(value[kind], str)
    ):
        return False
    return kind != "N" or bool(_NUMBER.fullmatch(value[kind]))


def decode(
    cursor: str | None, *, expect: Mapping[str, str], keys: Mapping[str, str]
) -> dict[str, Any] | None:
    """The LastEvaluatedKey in ``cursor`` (None: no cursor, the first page). It holds exactly the attributes
    of ``keys`` (name: DynamoDB type), each of its type, and those named in ``expect`` have those values."""
    if cursor is None:
        return None
    if not _CURSOR.fullmatch(cursor):  # empty, over 4096 characters, or not base64url
        raise _invalid()
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, RecursionError):  # not base64 or JSON (UnicodeDecodeError is a ValueError)
        raise _invalid() from None
    if not isinstance(key, dict):
        raise _invalid()
    if set(key) != set(keys) or not all(_typed(key[n], t) for n, t in keys.items()):
        raise _invalid()
    if any(key.get(name) != {"S": value} for name, value in expect.items()):
        raise _invalid()
    return key


def limit(value: str | None) -> int:
    if value is None:
        return DEFAULT_LIMIT
    if not _LIMIT.fullmatch(value) or not 1 <= int(value) <= MAX_LIMIT:
        raise InvalidInput(
            f"limit: must be an integer from 1 to {MAX_LIMIT}", code="invalid_field", field="limit"
        )
    return int(value)
