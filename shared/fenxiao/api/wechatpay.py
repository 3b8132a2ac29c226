"""The WeChat Pay notification endpoint's HTTP side: WeChat Pay's own answer shapes, not the Shop API's.

204 with no body on success; 401 ``{"code": "FAIL", "message"}`` for anything unverifiable; 400 for a
verified body we cannot read; 500 for a failure on our side, so that WeChat Pay retries. Also the
operator's page of the notifications recorded without effect (``recorded``).
"""

from __future__ import annotations

from typing import Any

from fenxiao import clock
from fenxiao.api import cursor
from fenxiao.api.http import MAX_BODY_BYTES, response
from fenxiao.bootstrap import container
from fenxiao.observability import count, logger


def notify(request: Any, shop_id: str) -> Any:
    from fenxiao.service.notifications import NotifyMalformed, NotifyRejected
    from fenxiao.service.notify_handlers import accept

    log = logger()
    log.append_keys(shop_id=shop_id)
    raw = request.raw_body or b""
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    if len(raw) > MAX_BODY_BYTES:
        return response(400, {"code": "FAIL", "message": "body too large"})
    headers = {k.lower(): v for k, v in (request.headers or {}).items()}
    try:
        event_type = accept(container(), shop_id, headers, bytes(raw), clock.now())
    except NotifyRejected as exc:
        log.info("notification rejected", extra={"reason": str(exc)})
        return response(401, {"code": "FAIL", "message": "signature or resource verification failed"})
    except NotifyMalformed as exc:
        # Verified but not a notification at all (no envelope, a resource that is no object): nothing to
        # record it by. Unusable facts of a known type are recorded by the service and answered 204.
        count("NotificationsUnreadable")
        log.warning("notification unreadable", extra={"reason": str(exc)})
        return response(400, {"code": "FAIL", "message": str(exc)})
    except Exception:
        log.exception("notification failed on our side; WeChat Pay will retry")
        return response(500, {"code": "FAIL", "message": "temporary failure, retry later"})
    log.info("notification accepted", extra={"event_type": event_type})
    return response(204)


def recorded(shop_id: str, raw_cursor: str | None, limit: int) -> dict[str, Any]:
    """One page of the shop's notifications recorded without effect, with the cursor to the next."""
    from fenxiao.service import notifications

    scope = notifications.recorded_scope(shop_id)
    start = cursor.decode(raw_cursor, expect=scope, keys=cursor.RECORDED_NOTIFICATIONS_KEY)
    page = notifications.recorded(shop_id, start, limit)
    return {"shop_id": page.shop_id, "entries": page.entries, "next_cursor": cursor.encode(page.last_key)}
