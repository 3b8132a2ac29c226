"""NotificationsTable (shop_id, sk): notifications recorded without effect (90-day TTL)."""

from __future__ import annotations

from pynamodb.attributes import (
    JSONAttribute,
    NumberAttribute,
    UnicodeAttribute,
)
from pynamodb.models import Model

from fenxiao.adapters.dynamo import TableMeta


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
