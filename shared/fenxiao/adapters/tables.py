"""Binds every table model to the table names of the environment (once per container, from bootstrap)."""

from __future__ import annotations

from pynamodb.models import Model

from fenxiao.adapters.leaderboard import BoardItem
from fenxiao.adapters.ledger import LedgerEntryModel
from fenxiao.adapters.members import MemberItem
from fenxiao.adapters.notifications import NotificationModel
from fenxiao.adapters.orders import OrderItem
from fenxiao.adapters.shops import (
    ConfigVersionModel,
    JobLeaseModel,
    ShopModel,
    SignedWriteMarkModel,
    TrustChangeModel,
)
from fenxiao.adapters.summary import SummaryShardModel
from fenxiao.adapters.wechat_tokens import WechatTokenModel
from fenxiao.adapters.withdrawals import PayoutBillModel, WithdrawalModel
from fenxiao.config import Settings

TABLES: dict[type[Model], str] = {
    ShopModel: "shops_table",
    WechatTokenModel: "shops_table",
    ConfigVersionModel: "config_table",
    SignedWriteMarkModel: "config_table",
    TrustChangeModel: "config_table",
    JobLeaseModel: "config_table",
    MemberItem: "members_table",
    OrderItem: "orders_table",
    LedgerEntryModel: "ledger_table",
    SummaryShardModel: "ledger_table",
    WithdrawalModel: "withdrawals_table",
    PayoutBillModel: "withdrawals_table",
    BoardItem: "leaderboard_table",
    NotificationModel: "notifications_table",
}


def bind_tables(settings: Settings) -> None:
    """Point every model at the tables named in ``settings`` (called once per container by bootstrap)."""
    from fenxiao.adapters.aws import share_loader_with_pynamodb

    share_loader_with_pynamodb()
    for model, field in TABLES.items():
        table_name = getattr(settings, field)
        for cls in [model, *_subclasses(model)]:
            cls.Meta.table_name = table_name
            cls.Meta.region = settings.region
            cls._connection = None


def _subclasses(model: type[Model]) -> list[type[Model]]:
    out: list[type[Model]] = []
    for sub in model.__subclasses__():
        out.append(sub)
        out.extend(_subclasses(sub))
    return out
