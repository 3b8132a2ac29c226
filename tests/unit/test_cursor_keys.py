"""The key shapes fenxiao.api.cursor checks cursors against are the tables' and indexes' own keys."""

from __future__ import annotations

from typing import Any

import pytest

from fenxiao.api import cursor

pytestmark = pytest.mark.unit


def _key_of(model: Any, index: Any = None) -> dict[str, str]:
    """Name: DynamoDB type of the attributes of a LastEvaluatedKey of ``model`` (queried on ``index``)."""
    attributes = model.get_attributes()
    shape = {name: attributes[name].attr_type for name in (model._hash_keyname, model._range_keyname) if name}
    for attribute in index.Meta.attributes.values() if index is not None else ():
        if attribute.is_hash_key or attribute.is_range_key:
            shape[attribute.attr_name] = attribute.attr_type
    return shape


def test_each_lists_cursor_key_is_its_table_and_index_key() -> None:
    from fenxiao.adapters.ledger import LedgerEntryModel
    from fenxiao.adapters.members import MemberModel
    from fenxiao.adapters.notifications import NotificationModel
    from fenxiao.adapters.orders import OrderItem
    from fenxiao.adapters.shops import TrustChangeModel
    from fenxiao.adapters.withdrawals import WithdrawalModel

    assert _key_of(OrderItem, OrderItem.commissions_by_member) == cursor.COMMISSIONS_KEY
    assert _key_of(WithdrawalModel, WithdrawalModel.review_queue_index) == cursor.REVIEW_QUEUE_KEY
    assert _key_of(NotificationModel) == cursor.RECORDED_NOTIFICATIONS_KEY
    assert _key_of(TrustChangeModel) == cursor.TRUST_HISTORY_KEY
    assert _key_of(MemberModel, MemberModel.fans_by_inviter) == cursor.FANS_KEY
    assert _key_of(MemberModel, MemberModel.fans_by_grand_inviter) == cursor.LEVEL2_FANS_KEY
    assert _key_of(WithdrawalModel, WithdrawalModel.withdrawals_by_member) == cursor.MEMBER_WITHDRAWALS_KEY
    assert _key_of(LedgerEntryModel, LedgerEntryModel.ledger_by_time) == cursor.LEDGER_KEY


def test_a_cursor_round_trips_and_nothing_else_decodes() -> None:
    key = {"shop_id": {"S": "shop1"}, "sk": {"S": "NOTIF#n1"}}
    issued = cursor.encode(key)
    assert issued is not None
    keys = cursor.RECORDED_NOTIFICATIONS_KEY
    assert cursor.decode(issued, expect={"shop_id": "shop1"}, keys=keys) == key
    assert cursor.decode(None, expect={}, keys=keys) is None
    for bad in ("", "=" + issued, issued + "\n", "A" * 4097):
        with pytest.raises(Exception) as raised:
            cursor.decode(bad, expect={}, keys=keys)
        assert getattr(raised.value, "field", None) == "cursor", bad
    with pytest.raises(Exception) as raised:
        cursor.decode(issued, expect={"shop_id": "shop2"}, keys=keys)
    assert getattr(raised.value, "code", None) == "invalid_cursor"
