"""Which use case applies each WeChat Pay notification: one explicit table, event type -> handler.

service.notifications verifies, decrypts and records; service.payouts applies transfer bills (and records
through service.notifications). This module knows both, so neither needs to know the other's handlers;
an event type not in the table is recorded for the operator and acknowledged. service.payouts is imported
by the first transfer bill only: a payment's cold start does not load the payout code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Final

from fenxiao.adapters.shops import ShopModel
from fenxiao.bootstrap import Container
from fenxiao.observability import count
from fenxiao.service import notifications

Handler = Callable[[Container, ShopModel, dict[str, Any], dict[str, Any], datetime], None]


def _on_bill_finished(
    c: Container, shop: ShopModel, data: dict[str, Any], envelope: dict[str, Any], now: datetime
) -> None:
    from fenxiao.service import payouts

    payouts.on_bill_finished(c, shop, data, envelope, now)


HANDLERS: Final[Mapping[str, Handler]] = {
    "TRANSACTION.SUCCESS": notifications.on_transaction_success,
    "REFUND.SUCCESS": notifications.on_refund_success,
    notifications.EVENT_BILL_FINISHED: _on_bill_finished,
}


def accept(c: Container, shop_id: str, headers: Mapping[str, str], body: bytes, now: datetime) -> str:
    """Verify and apply one notification; returns its event type. Raises notifications.NotifyRejected /
    NotifyMalformed."""
    notification = notifications.verify(c, shop_id, headers, body, now)
    handler = HANDLERS.get(notification.event_type)
    if handler is None:
        notifications.record(shop_id, notification.envelope, "recorded", now)
    else:
        handler(c, notification.shop, notification.data, notification.envelope, now)
    count("NotificationsAccepted", event_type=notification.event_type)
    return notification.event_type
