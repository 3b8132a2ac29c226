"""NotificationsTable (shop_id, sk): notifications recorded without effect (90-day TTL)."""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import (
    JSONAttribute,
    NumberAttribute,
    UnicodeAttribute,
)
from pynamodb.exceptions import PutError
from pynamodb.models import Model

from fenxiao.adapters.dynamo import TableMeta, condition_failed
from fenxiao.adapters.tables import bind


class NotificationModel(Model):
    class Meta(TableMeta):
        pass

    shop_id = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(
        range_key=True
    )  # NOTIF#{notification id}: one record per notification, redeliveries included
    event_type = UnicodeAttribute()
    outcome = UnicodeAttribute()  # recorded | not_applied:<reason>
    summary = JSONAttribute(null=True)
    received_at = UnicodeAttribute()
    expires_at = NumberAttribute(null=True)


def record_key(notification_id: str) -> str:
    return f"NOTIF#{notification_id}"


def notification_id(record: NotificationModel) -> str:
    return record.sk.removeprefix("NOTIF#")


def save_once(
    shop_id: str,
    notification_id: str,
    *,
    event_type: str,
    outcome: str,
    summary: Any,
    received_at: str,
    expires_at: int,
) -> None:
    """Write the notification's record only if it has none (a redelivery keeps the first record and its
    received_at)."""
    try:
        NotificationModel(
            shop_id,
            record_key(notification_id),
            event_type=event_type,
            outcome=outcome,
            summary=summary,
            received_at=received_at,
            expires_at=expires_at,
        ).save(condition=NotificationModel.sk.does_not_exist())
    except PutError as exc:
        if not condition_failed(exc):
            raise


def page_scope(shop_id: str) -> dict[str, str]:
    """What the last key of a page of this shop's records holds (a cursor is checked against it)."""
    return {"shop_id": shop_id}


def page(
    shop_id: str, start: dict[str, Any] | None, limit: int
) -> tuple[list[NotificationModel], dict[str, Any] | None]:
    """One page of the shop's records in descending notification id order, and the key to go on from."""
    result = NotificationModel.query(shop_id, limit=limit, last_evaluated_key=start, scan_index_forward=False)
    return list(result), result.last_evaluated_key


# Last, after every subclass: the tables this module's models are stored in.
bind(NotificationModel, "notifications_table")
