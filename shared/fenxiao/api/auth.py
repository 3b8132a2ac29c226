"""Authentication of the operator (bearer token) and of a shop's backend (HMAC-SHA256 request signature).

Shop signature (SPEC §7): ``X-Signature = hex(HMAC-SHA256(api_secret, "{timestamp}\\n{METHOD}\\n{path?query}\\n{body}"))``.

The path is the one the mall requested. Behind API Gateway the function sees the resource path without the
stage (``/shops/...``) and, in the request context, the path with it (``/Prod/shops/...``); behind a custom
domain the mall's path carries the mapping's base path (``FENXIAO_API_BASE_PATH``). Each of these forms is
accepted, so the mall signs exactly what it sends. The query string is rebuilt from its parameters in the
order received, each name and value percent-encoded per RFC 3986 (only ``A-Z a-z 0-9 - _ . ~`` unescaped).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping, Sequence
from urllib.parse import quote

from fenxiao.domain.errors import Unauthorized

MAX_SKEW_SECONDS = 300
TIMESTAMP = re.compile(r"[0-9]{1,12}")  # SPEC §10; [0-9], not \d, which matches every script's digits


def canonical_query(pairs: Iterable[tuple[str, str]]) -> str:
    return "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in pairs)


def signing_string(timestamp: str, method: str, path_with_query: str, body: bytes) -> bytes:
    return f"{timestamp}\n{method.upper()}\n{path_with_query}\n".encode() + body


def sign(secret: str, timestamp: str, method: str, path_with_query: str, body: bytes) -> str:
    """What a mall backend computes (also used by the demo and the tests)."""
    message = signing_string(timestamp, method, path_with_query, body)
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def check_timestamp(timestamp: str | None, now_unix: float) -> None:
    if not timestamp:
        raise Unauthorized("X-Timestamp header is missing", code="missing_signature")
    # Exactly ASCII digits: int() would also take a sign, underscores, spaces and other scripts' digits.
    if not TIMESTAMP.fullmatch(timestamp):
        raise Unauthorized("X-Timestamp must be unix seconds (1-12 digits 0-9)", code="bad_timestamp")
    if abs(now_unix - int(timestamp)) > MAX_SKEW_SECONDS:
        raise Unauthorized("X-Timestamp is more than 300 s away from now", code="stale_timestamp")


def verify_shop_signature(
    secret: str,
    headers: Mapping[str, str],
    method: str,
    candidate_paths: Sequence[str],
    query: str,
    body: bytes,
    now_unix: float,
) -> None:
    """Raise ``Unauthorized`` unless ``X-Signature`` signs this request under ``secret``."""
    timestamp = headers.get("x-timestamp")
    check_timestamp(timestamp, now_unix)
    given = (headers.get("x-signature") or "").strip().lower()
    if not given:
        raise Unauthorized("X-Signature header is missing", code="missing_signature")
    assert timestamp is not None
    ok = False
    for path in candidate_paths:
        target = f"{path}?{query}" if query else path
        expected = sign(secret, timestamp, method, target, body)
        # Every candidate is compared in constant time; the loop length does not depend on the secret.
        # As bytes: compare_digest refuses str with non-ASCII characters, and a header may carry any.
        ok |= hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))
    if not ok:
        raise Unauthorized("X-Signature does not match the request", code="bad_signature")


def verify_operator(headers: Mapping[str, str], token: str) -> None:
    value = headers.get("authorization") or ""
    scheme, _, given = value.partition(" ")
    if scheme.lower() != "bearer" or not given:
        raise Unauthorized("Authorization: Bearer <operator token> is required", code="missing_token")
    if not hmac.compare_digest(given.strip().encode("utf-8", "replace"), token.encode()):
        raise Unauthorized("the operator token is not valid", code="bad_token")
