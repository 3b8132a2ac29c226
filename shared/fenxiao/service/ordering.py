"""Which signed write to a last-writer-wins resource was accepted last (the rule is in fenxiao.api.ordering).

The mark is the ``X-Timestamp`` of the newest accepted write to one resource path, with the hashes of the
requests applied in that second and the one applied last. It counts only while a request signed at it could
still verify: a mark more than the signature window ahead of our clock (only a clock moved back, as the local
stack's override can) or past its time to live is ignored, and overwritten.
"""

from __future__ import annotations

from fenxiao.adapters.shops import (
    SignedWriteMark,
    add_to_signed_write_mark,
    advance_signed_write_mark,
    signed_write_mark,
)

MARK_TTL_SECONDS = 3600  # far beyond the signature window, so the mark outlives every replayable request


def newest_signed_write(
    shop_id: str, path: str, now_unix: float, window_seconds: int
) -> SignedWriteMark | None:
    """The newest accepted write to ``path`` that still counts; None when none does."""
    mark = signed_write_mark(shop_id, path)
    if mark is None:
        return None
    if mark.signed_at > now_unix + window_seconds or mark.expires_at < now_unix:
        return None
    return mark


def record_signed_write(
    shop_id: str, path: str, signed_at: int, request_hash: str, now_unix: float, window_seconds: int
) -> None:
    """Remember that a write to ``path`` signed at ``signed_at`` was accepted. The mark only moves forward; in
    its own second it collects the applied requests' hashes (a small set, reset when the second advances)."""
    if advance_signed_write_mark(
        shop_id,
        path,
        signed_at,
        request_hash,
        expires_at=int(now_unix) + MARK_TTL_SECONDS,
        void_above=int(now_unix) + window_seconds,
    ):
        return
    # Not newer: the same second (a write signed earlier was refused by the check, or raced a newer one,
    # which this conditional update leaves alone).
    add_to_signed_write_mark(shop_id, path, signed_at, request_hash)
