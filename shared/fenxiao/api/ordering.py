"""Signed writes to last-writer-wins resources apply in the order they were signed.

SPEC §7's signature carries no nonce, so a request captured on the wire verifies again for 300 s. Most writes
are safe to replay: orders, refund splits, withdrawals and growth events are idempotent on their own ids. But
a PUT of a settings document or of a product's rates, a grant or revocation of distributor status and a
binding (in ``protection`` or ``last_touch`` mode) *set* state that a later request may have changed again;
replaying the older request would undo the newer one. For those resources we keep the ``X-Timestamp`` of the
newest accepted write and refuse a write signed earlier with 409 ``stale_request`` (the mall signs again and
resends if it still wants it). The same protects against the mall's own retries arriving out of order.

- Requests signed in the same second are applied in arrival order: the timestamp has one-second resolution,
  and refusing them would refuse a mall's quick consecutive changes. Except a replay: a request (method,
  query and body) already applied in that second, when another was applied after it, is refused with 409
  ``stale_request`` like an older one (``A, B, A`` in one second leaves B). The request applied last may
  come again (the mall's retry): it answers as it did, and rewrites the same state.
- The mark is written after the write succeeded (a rejected request stores nothing) and only moves forward
  (a conditional put). A replay racing the newer write to within the milliseconds between that write and its
  mark is not caught; it would need the attacker to replay at that very moment.
- A mark more than 300 s ahead of our clock cannot belong to a request that verifies now (only a clock moved
  back, as the local stack's override can): it is ignored, and so is a mark past its time to live.
"""

from __future__ import annotations

import hashlib

from fenxiao.api.auth import MAX_SKEW_SECONDS
from fenxiao.domain.errors import Conflict

# Resource paths (as routed, before the ids are filled in) whose writes set state a later write may change.
ORDERED_RESOURCES = frozenset(
    {
        "/shops/{shop_id}/settings/distribution",
        "/shops/{shop_id}/settings/membership",
        "/shops/{shop_id}/settings/wechatpay",
        "/shops/{shop_id}/settings/miniprogram",
        "/shops/{shop_id}/products/{product_id}/rates",
        "/shops/{shop_id}/members/{member_id}/distributor",
        "/shops/{shop_id}/members/{member_id}/inviter",
    }
)


def is_ordered(method: str, resource_path: str) -> bool:
    return method.upper() != "GET" and resource_path in ORDERED_RESOURCES


def request_hash(method: str, query: str, body: bytes) -> str:
    """What identifies one write among those signed in the same second (the path is the mark's own)."""
    digest = hashlib.sha256(f"{method.upper()}\n{query}\n".encode() + body)
    return digest.hexdigest()[:32]


def check(shop_id: str, path: str, signed_at: int, this_request: str, now_unix: float) -> None:
    """Raise 409 ``stale_request`` when a write to ``path`` signed later than ``signed_at`` was accepted, or
    ``this_request`` was applied in the same second and another one after it."""
    from fenxiao.service.ordering import newest_signed_write  # not at import: cold start (see api.http)

    newest = newest_signed_write(shop_id, path, now_unix, MAX_SKEW_SECONDS)
    if newest is None:
        return
    if newest.signed_at > signed_at:
        raise Conflict(
            f"a change to {path} signed later (X-Timestamp {newest.signed_at}) was already applied; this "
            f"request (X-Timestamp {signed_at}) would undo it. Sign it again to apply it now",
            code="stale_request",
            field="X-Timestamp",
        )
    if newest.signed_at == signed_at and this_request in newest.bodies and newest.last != this_request:
        raise Conflict(
            f"this request to {path} was already applied (X-Timestamp {signed_at}) and another change after "
            "it; applying it again would undo that change. Sign it again to apply it now",
            code="stale_request",
            field="X-Timestamp",
        )


def record(shop_id: str, path: str, signed_at: int, this_request: str, now_unix: float) -> None:
    """Remember that a write to ``path`` signed at ``signed_at`` was accepted (the mark only moves forward)."""
    from fenxiao.service.ordering import record_signed_write

    record_signed_write(shop_id, path, signed_at, this_request, now_unix, MAX_SKEW_SECONDS)
